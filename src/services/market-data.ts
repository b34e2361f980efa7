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

/** Values one filter list may hold: beyond it a query parameter list stops being a filter. */
export const MAX_FILTER_VALUES = 1_000;

function checkListSizes(filter: MarketDataFilter | null | undefined) {
  for (const name of ["symbols", "assetIds"] as const) {
    const values = filter?.[name];
    if (values && values.length > MAX_FILTER_VALUES)
      throw badInput(`filter.${name}`, `at most ${MAX_FILTER_VALUES} values, got ${values.length}`);
  }
}

const upperSymbols = (symbols: string[]) => symbols.map((s) => s.trim().toUpperCase());

/** symbolAssetIds on the driver, for the one-statement read: one plan suits every value. */
const SYMBOL_IDS = "SELECT id FROM asset WHERE symbol = ANY($1::text[])";

/**
 * The filter as a Prisma where. `symbolAssetIds`, the ids of the filter's symbols when the caller
 * looked them up (symbolAssetIds()), replace the relation filter on the asset's symbol.
 */
export function marketDataWhere(
  filter: MarketDataFilter | null | undefined,
  assetId?: number,
  symbolAssetIds?: number[],
): Prisma.MarketObservationWhereInput {
  checkListSizes(filter);
  const and: Prisma.MarketObservationWhereInput[] = [];
  if (assetId !== undefined) and.push({ assetId });
  if (filter?.symbols)
    and.push(
      symbolAssetIds
        ? { assetId: { in: symbolAssetIds } }
        : { asset: { symbol: { in: upperSymbols(filter.symbols) } } },
    );
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
 * The ids of the assets with these symbols. Filtering observations by them, not through the join
 * to `asset`, lets PostgreSQL plan with the asset known: it walks (asset_id, observed_at) from
 * the newest row instead of reading every row of the asset in every partition and sorting them
 * (32-56 ms per page at 10 M observations in the growth bench, 0.25 ms at 0.3 M).
 */
export async function symbolAssetIds(prisma: PrismaClient, symbols: string[]): Promise<number[]> {
  const assets = await prisma.asset.findMany({
    where: { symbol: { in: upperSymbols(symbols) } },
    select: { id: true },
  });
  return assets.map((a) => a.id);
}

/**
 * Keyset page over observations on (sort key, id): stable while runs write. New rows land before
 * the cursor of a descending walk, and rewritten rows keep their id and observedAt. `query` is
 * the caller's Prisma selection (the GraphQL fields asked for); `assetId` narrows the filter to one
 * asset (Asset.marketData).
 */
export async function marketDataPage(
  prisma: PrismaClient,
  args: ConnectionArgs & { orderBy?: MarketDataOrder | null },
  filter: MarketDataFilter | null | undefined,
  assetId: number | undefined,
  query: object,
) {
  // Checked first: a filter that is refused costs no lookup.
  let where = marketDataWhere(filter, assetId);
  const symbolIds = filter?.symbols ? await symbolAssetIds(prisma, filter.symbols) : undefined;
  if (symbolIds) where = marketDataWhere(filter, assetId, symbolIds);
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
        countObservations(prisma, filter, assetId, symbolIds, take),
      ),
  };
}

/**
 * How many observations match, reading at most `take`. Not Prisma's count({ take }): that one
 * orders by id and selects it, so every matching row's heap page is read (one page per row: a
 * run writes all assets together), 99-176 ms at 10 M observations in the growth bench; this is
 * an index-only scan of (asset_id, source, observed_at) where the filter allows one (7 ms).
 */
async function countObservations(
  prisma: PrismaClient,
  filter: MarketDataFilter | null | undefined,
  assetId: number | undefined,
  symbolIds: number[] | undefined,
  take: number,
): Promise<number> {
  const { values, param } = sqlParams();
  const conditions = marketDataConditions(filter, param, symbolIds);
  if (assetId !== undefined) conditions.push(`o.asset_id = ${param(assetId, "int")}`);
  const where = conditions.length > 0 ? ` WHERE ${conditions.join(" AND ")}` : "";
  // Only fixed SQL fragments in the text; every value is a bound parameter.
  const text = `SELECT count(*)::int AS n FROM (SELECT 1 FROM market_observation o${where} LIMIT ${param(take, "int")}) s`;
  const [row] = await prisma.$queryRawUnsafe<{ n: number }[]>(text, ...values);
  return Number(row?.n ?? 0);
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

/** Columns of the one-statement read whose values travel as text: int8 (ids, seqs) and the enum. */
const AS_TEXT = new Set<ObservationColumn>(["id", "seq", "source"]);
/**
 * Timestamp columns: read as epoch milliseconds, `date_part('epoch', …) * 1000` (float8; within
 * a microsecond of the stored millisecond, so Math.round gives it exactly), which costs the
 * database a fraction of `extract` (numeric arithmetic, ~1 us per row).
 */
export const AS_EPOCH_MS = new Set<ObservationColumn>(["observedAt", "committedAt"]);

/** What a one-statement read selects: observation columns, and the asset's when it is asked for. */
export interface PageSelect {
  columns: readonly ObservationColumn[];
  asset: readonly AssetColumn[] | null;
}

/**
 * The result columns of a one-statement read, in select order: `id` and `observedAt` first (the
 * cursor), then the other observation columns, then `asset.<column>`. Values are as both drivers
 * give them: `id`, `seq` and `source` as text, `observedAt` and `committedAt` as epoch
 * milliseconds (a float: round it), numbers as numbers.
 */
export function pageColumns(select: PageSelect): string[] {
  const wanted = new Set<ObservationColumn>(["id", "observedAt", ...select.columns]);
  return [...wanted, ...(select.asset ?? []).map((f) => `asset.${f}`)];
}

/** A one-statement read's page: its rows (arrays in pageColumns order, in page order). */
export interface RowPage {
  rows: unknown[][];
  hasNextPage: boolean;
  hasPreviousPage: boolean;
}

/**
 * Runs one parameterized read statement, rows as arrays in select order (Database.readRows);
 * `prepare`: keep it prepared, its generic plan right for any values.
 */
export type ReadRows = (text: string, values: readonly unknown[], prepare: boolean) => Promise<unknown[][]>;

/**
 * Rows a page statement fetches: the page size + 1 (to know whether more follow), rounded up to
 * one of these, written into the statement as a literal. A `LIMIT $n` makes PostgreSQL cost a
 * prepared statement's generic plan as if it returned 10 % of the table, so it re-plans every
 * execution (~0.4 ms of a page of 100 with its assets, against ~0.2 ms for the rest); a literal
 * lets the generic plan be kept. A fixed set bounds the texts (the sizes are never the client's
 * text: this table's entries are); extra rows are dropped.
 */
const FETCH_SIZES = [1, 2, 6, 11, 21, 26, 51, 101, 201, 251, 501] as const;

const fetchSize = (rows: number) => FETCH_SIZES.find((n) => n >= rows) ?? rows;

/**
 * marketDataPage in one SQL statement: the same filter, order, keyset and page rules (pageRequest,
 * toPage's page info; cursors from marketDataCursor), but only the columns asked for, the asset
 * joined in SQL, and rows as arrays straight from the driver (Database.readRows): no Prisma query
 * plan, no driver adapter, no per-row objects. The statement's text depends only on the shape of
 * the request (columns, filters present, direction), never on its values, so each shape is
 * prepared once per connection. The hot read path (src/server/fast-reads.ts) uses it; a property
 * test holds it to marketDataPage.
 */
export async function marketDataPageSql(
  readRows: ReadRows,
  args: ConnectionArgs & { orderBy?: MarketDataOrder | null },
  filter: MarketDataFilter | null | undefined,
  select: PageSelect,
): Promise<RowPage> {
  const request = pageRequest(args, 2);
  const order = MARKET_DATA_ORDERS[args.orderBy ?? "OBSERVED_AT_DESC"];
  const dir = request.backward ? flip(order.dir) : order.dir;
  marketDataWhere(filter); // the general path's checks, first: a refused filter costs no lookup
  const symbolIds = filter?.symbols
    ? (await readRows(SYMBOL_IDS, [upperSymbols(filter.symbols)], true)).map((r) => r[0] as number)
    : undefined;
  const { values, param } = sqlParams();
  const conditions = marketDataConditions(filter, param, symbolIds);
  if (request.cursor) {
    const at = order.parse(request.cursor[0]).toISOString();
    const id = cursorId(request.cursor[1]).toString();
    conditions.push(
      `(o.observed_at, o.id) ${dir === "asc" ? ">" : "<"} (${param(at, "timestamptz")}, ${param(id, "bigint")})`,
    );
  }
  const columns = pageColumns(select).map((key) => {
    if (key.startsWith("asset.")) return `a."${ASSET_COLUMNS[key.slice(6) as AssetColumn]}" AS "${key}"`;
    const field = key as ObservationColumn;
    const column = `o."${OBSERVATION_COLUMNS[field]}"`;
    if (AS_EPOCH_MS.has(field)) return `date_part('epoch', ${column}) * 1000 AS "${key}"`;
    return `${column}${AS_TEXT.has(field) ? "::text" : ""} AS "${key}"`;
  });
  const direction = dir === "asc" ? "ASC" : "DESC";
  const text = `SELECT ${columns.join(", ")} FROM market_observation o${
    select.asset ? " JOIN asset a ON a.id = o.asset_id" : ""
  }${conditions.length > 0 ? ` WHERE ${conditions.join(" AND ")}` : ""} ORDER BY o.observed_at ${direction}, o.id ${direction} LIMIT ${fetchSize(request.size + 1)}`;
  const rows = await readRows(text, values, planStable(filter));
  // toPage's rules, on rows fetched with at least size + 1 in the fetch direction.
  const hasMore = rows.length > request.size;
  if (hasMore) rows.length = request.size;
  if (request.backward) rows.reverse();
  return {
    rows,
    hasNextPage: request.backward ? request.cursor !== null : hasMore,
    hasPreviousPage: request.backward ? hasMore : request.cursor !== null,
  };
}

/**
 * Whether one generic plan is right for every value of the filter, so the statement may stay
 * prepared: no filter (the (observed_at, id) index, newest or oldest first, from the cursor) or one
 * asset (its (asset_id, observed_at) index). Symbols, several assets, sources or a time range
 * are planned per request: how many rows they match decides the plan (a rare asset or source
 * read through the (observed_at, id) index would walk the whole table).
 */
function planStable(filter: MarketDataFilter | null | undefined): boolean {
  if (!filter) return true;
  return (
    filter.symbols == null &&
    filter.sources == null &&
    filter.from == null &&
    filter.to == null &&
    (filter.assetIds == null || filter.assetIds.length === 1)
  );
}

/** Bound parameters for a statement: `param` keeps the value and returns its `$n::type`. */
function sqlParams() {
  const values: unknown[] = [];
  const param = (value: unknown, type: string) => {
    values.push(value);
    return `$${values.length}::${type}`;
  };
  return { values, param };
}

/**
 * The filter of marketDataWhere (which checks it: call it first), as SQL over `o` (the
 * observation), symbols as the ids symbolAssetIds found for them; every value a parameter. One asset id is an equality, so PostgreSQL walks that asset's
 * (asset_id, observed_at) index backwards and stops at the page's end; `= ANY` would read every
 * row of the asset and sort them.
 */
function marketDataConditions(
  filter: MarketDataFilter | null | undefined,
  param: (value: unknown, type: string) => string,
  symbolIds: number[] | undefined,
): string[] {
  const and: string[] = [];
  if (filter?.symbols) and.push(`o.asset_id = ANY(${param(symbolIds ?? [], "int[]")})`);
  const ids = parseIds(filter?.assetIds, "filter.assetIds", "an asset id");
  if (ids?.length === 1) and.push(`o.asset_id = ${param(ids[0], "int")}`);
  else if (ids) and.push(`o.asset_id = ANY(${param(ids, "int[]")})`);
  if (filter?.sources) and.push(`o.source::text = ANY(${param(filter.sources, "text[]")})`);
  if (filter?.from) and.push(`o.observed_at >= ${param(filter.from.toISOString(), "timestamptz")}`);
  if (filter?.to) and.push(`o.observed_at < ${param(filter.to.toISOString(), "timestamptz")}`);
  return and;
}

function cursorId(v: unknown): bigint {
  // keysetWhere's rule for bigint ids (a cursor this connection returned, or BAD_USER_INPUT).
  const where = keysetWhere("observedAt", "desc", [new Date(0).toISOString(), v], cursorDate, "bigint") as {
    OR: [unknown, { id: { lt: bigint } }];
  };
  return where.OR[1].id.lt;
}
