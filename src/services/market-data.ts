import type { PrismaClient } from "../db/database.ts";
import type { Prisma } from "../generated/prisma/client.ts";
import type { SourceId } from "../sources/record.ts";
import { boundedCount } from "./bounded-count.ts";
import { badInput } from "./errors.ts";
import { type ConnectionArgs, cursorDate, flip, keysetWhere, pageRequest, toPage } from "./pagination.ts";
import { parseIds } from "./parse-id.ts";

export interface MarketDataFilter {
  symbols?: string[] | null;
  assetIds?: (string | number)[] | null;
  sources?: SourceId[] | null;
  from?: Date | null;
  to?: Date | null;
}

// No seq orders: seq is a changefeed position (a rewritten row gets a new one), so a walk in seq
// order would skip or repeat rows while a run writes. Follow changes with marketUpdates(afterSeq).
export const MARKET_DATA_ORDERS = {
  OBSERVED_AT_DESC: { field: "observedAt", dir: "desc", parse: cursorDate },
  OBSERVED_AT_ASC: { field: "observedAt", dir: "asc", parse: cursorDate },
} as const;
export type MarketDataOrder = keyof typeof MARKET_DATA_ORDERS;

export function marketDataWhere(
  filter: MarketDataFilter | null | undefined,
  assetId?: number,
): Prisma.MarketObservationWhereInput {
  const and: Prisma.MarketObservationWhereInput[] = [];
  if (assetId !== undefined) and.push({ assetId });
  if (filter?.symbols)
    and.push({ asset: { symbol: { in: filter.symbols.map((s) => s.trim().toUpperCase()) } } });
  const ids = parseIds(filter?.assetIds, "filter.assetIds", "an asset id");
  if (ids) and.push({ assetId: { in: ids } });
  if (filter?.sources) and.push({ source: { in: filter.sources } });
  if (filter?.from || filter?.to) {
    if (filter.from && filter.to && filter.from >= filter.to)
      throw badInput("filter.from", "must be before filter.to");
    and.push({
      observedAt: { ...(filter.from ? { gte: filter.from } : {}), ...(filter.to ? { lt: filter.to } : {}) },
    });
  }
  return { AND: and };
}

/**
 * Keyset page over observations on (sort key, id): stable while runs write. New rows land before
 * the cursor of a descending walk, and rewritten rows keep their id and observedAt. `query` is
 * the caller's Prisma selection (the GraphQL fields asked for).
 */
export async function marketDataPage(
  prisma: PrismaClient,
  args: ConnectionArgs & { orderBy?: MarketDataOrder | null },
  where: Prisma.MarketObservationWhereInput,
  query: object,
) {
  const request = pageRequest(args, 2);
  const order = MARKET_DATA_ORDERS[args.orderBy ?? "OBSERVED_AT_DESC"];
  const dir = request.backward ? flip(order.dir) : order.dir;
  const conditions = [where];
  if (request.cursor) conditions.push(keysetWhere(order.field, dir, request.cursor, order.parse, "bigint"));
  const rows = await prisma.marketObservation.findMany({
    ...query,
    where: { AND: conditions },
    orderBy: [{ [order.field]: dir }, { id: dir }],
    take: request.size + 1,
  });
  const page = toPage(rows, request, (o) => [o[order.field], o.id]);
  const unfiltered = (where.AND as unknown[]).length === 0;
  return {
    ...page,
    totalCount: () =>
      boundedCount(prisma, "market_observation", unfiltered, (take) =>
        prisma.marketObservation.count({ where, take }),
      ),
  };
}
