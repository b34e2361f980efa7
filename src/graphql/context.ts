import type { PrismaClient } from "../db/database.ts";
import type { Logger } from "../logger/logger.ts";

/** What every resolver may use; built per request by the server. */
export interface GraphQLContext {
  prisma: PrismaClient;
  requestId: string;
  logger: Logger;
}
