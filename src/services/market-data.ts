import type { PrismaClient } from "../db/database.ts";
import { Prisma } from "../generated/prisma/client.ts";
import type { SourceId } from "../sources/record.ts";
import { boundedCount } from "./bounded-count.ts";
import { badInput } from "./errors.ts";
import {
  type ConnectionArgs,
  cursorDate,
  flip,
  keysetWhere,
  type Page,
  pageRequest,
  toPage,
} from "./pagination.ts";
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

/** Values one filter list may hold: beyond it a query parameter list stops being a filter. */
export const MAX_FILTER_VALUES = 1_000;

export function marketDataWhere(
  filter: MarketDataFilter | null | undefined,
  assetId?: number,
): Prisma.MarketObservationWhereInput {
  for (const name of ["symbols", "assetIds"] as const) {
    const values = filter?.[name];
    if (values && values.length > MAX_FILTER_VALUES)
      throw badInput(`filter.${name}`, `at most ${MAX_FILTER_VALUES} values, got ${values.length}`);
  }
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

/** The observation columns a one-statement read can select, by their Prisma field names. */
export const OBSERVATION_COLUMNS = {
  id: "id",
  seq: "seq",
  source: "source",
  observedAt: "observed_at",
  committedAt: "committed_at",
  priceUsd: "price_usd",
  marketCapUsd: "market_cap_usd",
  volume24hUsd: "volume_24h_usd",
  change24hPct: "change_24h_pct",
  circulatingSupply: "circulating_supply",
  totalSupply: "total_supply",
  maxSupply: "max_supply",
  rank: "rank",
  open: "open",
  high: "high",
  low: "low",
  close: "close",
  barSeconds: "bar_seconds",
} as const;
export const ASSET_COLUMNS = { id: "id", symbol: "symbol", name: "name", rank: "rank" } as const;
export type ObservationColumn = keyof typeof OBSERVATION_COLUMNS;
export type AssetColumn = keyof typeof ASSET_COLUMNS;

/** A page row of the one-statement read: the Prisma row's field names and value types. */
export type ObservationRow = Record<string, unknown> & { asset?: Record<string, unknown> };

/**
 * marketDataPage in one SQL statement: the same filter, order, keyset and page rules (pageRequest,
 * toPage, the same cursors), but only the columns asked for, the asset joined in SQL, and rows
 * read as they come from the driver: no Prisma query plan, no per-row relation mapping. The hot
 * read path (src/server/fast-reads.ts) uses it; an equivalence test holds it to marketDataPage.
 */
export async function marketDataPageSql(
  prisma: PrismaClient,
  args: ConnectionArgs & { orderBy?: MarketDataOrder | null },
  filter: MarketDataFilter | null | undefined,
  select: { columns: readonly ObservationColumn[]; asset: readonly AssetColumn[] | null },
): Promise<Page<ObservationRow>> {
  const request = pageRequest(args, 2);
  const order = MARKET_DATA_ORDERS[args.orderBy ?? "OBSERVED_AT_DESC"];
  const dir = request.backward ? flip(order.dir) : order.dir;
  const conditions = marketDataConditions(filter);
  if (request.cursor) {
    const at = order.parse(request.cursor[0]);
    const id = cursorId(request.cursor[1]);
    conditions.push(
      dir === "asc"
        ? Prisma.sql`(o.observed_at, o.id) > (${at}, ${id})`
        : Prisma.sql`(o.observed_at, o.id) < (${at}, ${id})`,
    );
  }
  const wanted = new Set<ObservationColumn>(["id", "observedAt", ...select.columns]);
  const columns = [...wanted].map((f) => Prisma.raw(`o."${OBSERVATION_COLUMNS[f]}" AS "${f}"`));
  const assetColumns = (select.asset ?? []).map((f) => Prisma.raw(`a."${ASSET_COLUMNS[f]}" AS "asset.${f}"`));
  const direction = Prisma.raw(dir === "asc" ? "ASC" : "DESC");
  const rows = await prisma.$queryRaw<Record<string, unknown>[]>`
    SELECT ${Prisma.join([...columns, ...assetColumns])}
    FROM market_observation o ${select.asset ? Prisma.sql`JOIN asset a ON a.id = o.asset_id` : Prisma.empty}
    ${conditions.length > 0 ? Prisma.sql`WHERE ${Prisma.join(conditions, " AND ")}` : Prisma.empty}
    ORDER BY o.observed_at ${direction}, o.id ${direction}
    LIMIT ${request.size + 1}`;
  const nodes = select.asset ? rows.map(nestAsset) : (rows as ObservationRow[]);
  return toPage(nodes, request, (o) => [o.observedAt, o.id]);
}

/** The filter of marketDataWhere, as SQL over `o` (the observation) with the same checks. */
function marketDataConditions(filter: MarketDataFilter | null | undefined): Prisma.Sql[] {
  // The same validation, in the same order, as the general path: one source of the rules.
  marketDataWhere(filter);
  const and: Prisma.Sql[] = [];
  if (filter?.symbols)
    and.push(
      Prisma.sql`o.asset_id IN (SELECT id FROM asset WHERE symbol = ANY(${filter.symbols.map((s) => s.trim().toUpperCase())}::text[]))`,
    );
  const ids = parseIds(filter?.assetIds, "filter.assetIds", "an asset id");
  if (ids) and.push(Prisma.sql`o.asset_id = ANY(${ids}::int[])`);
  if (filter?.sources) and.push(Prisma.sql`o.source::text = ANY(${filter.sources}::text[])`);
  if (filter?.from) and.push(Prisma.sql`o.observed_at >= ${filter.from}`);
  if (filter?.to) and.push(Prisma.sql`o.observed_at < ${filter.to}`);
  return and;
}

function cursorId(v: unknown): bigint {
  // keysetWhere's rule for bigint ids (a cursor this connection returned, or BAD_USER_INPUT).
  const where = keysetWhere("observedAt", "desc", [new Date(0).toISOString(), v], cursorDate, "bigint") as {
    OR: [unknown, { id: { lt: bigint } }];
  };
  return where.OR[1].id.lt;
}

function nestAsset(row: Record<string, unknown>): ObservationRow {
  const node: ObservationRow = {};
  const asset: Record<string, unknown> = {};
  for (const key in row) {
    if (key.startsWith("asset.")) asset[key.slice(6)] = row[key];
    else node[key] = row[key];
  }
  node.asset = asset;
  return node;
}
