import type { PrismaClient } from "../db/database.ts";
import type { SourceId } from "../sources/record.ts";

/**
 * Forgets a source's drift baseline: the next successful run sets a new one. What the
 * resetDriftBaseline mutation and `npm run etl -- --reset-drift` both do. True when there was one.
 */
export async function resetDriftBaseline(prisma: PrismaClient, source: SourceId): Promise<boolean> {
  const deleted = await prisma.driftBaseline.deleteMany({ where: { source } });
  return deleted.count > 0;
}
