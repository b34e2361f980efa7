import type { PrismaClient } from "../db/database.ts";
import type { Prisma } from "../generated/prisma/client.ts";
import type { SourceId } from "../sources/record.ts";
import { badInput } from "./errors.ts";
import { type ConnectionArgs, pageRequest, toPage } from "./pagination.ts";
import { MAX_ID, parseId, parseIds } from "./parse-id.ts";

export interface AssetFilter {
  symbols?: string[] | null;
  ids?: (string | number)[] | null;
  search?: string | null;
}

export type AssetOrder = "RANK_ASC" | "SYMBOL_ASC" | "NAME_ASC";

// Keyset orders: rank has nulls, so it sorts on (rank ?? +∞, id) encoded in the cursor.
const ASSET_ORDERS = {
  RANK_ASC: { field: "rank", nullsLast: true },
  SYMBOL_ASC: { field: "symbol", nullsLast: false },
  NAME_ASC: { field: "name", nullsLast: false },
} as const;

/** The highest-ranked asset first: how a symbol names one asset. */
export const BY_RANK: Prisma.AssetOrderByWithRelationInput[] = [
  { rank: { sort: "asc", nulls: "last" } },
  { id: "asc" },
];

const upper = (symbols: readonly string[]) => symbols.map((s) => s.trim().toUpperCase());

function assetWhere(filter: AssetFilter | null | undefined): Prisma.AssetWhereInput {
  const where: Prisma.AssetWhereInput[] = [];
  if (filter?.symbols) where.push({ symbol: { in: upper(filter.symbols) } });
  const ids = parseIds(filter?.ids, "filter.ids", "an asset id");
  if (ids) where.push({ id: { in: ids } });
  if (filter?.search) {
    const q = filter.search.trim();
    where.push({
      OR: [
        { symbol: { startsWith: q, mode: "insensitive" } },
        { name: { startsWith: q, mode: "insensitive" } },
      ],
    });
  }
  return { AND: where };
}

/** A page of assets, filtered and ordered, with keyset cursors and a lazy total. */
export async function assetPage(
  prisma: PrismaClient,
  args: ConnectionArgs & { filter?: AssetFilter | null; orderBy?: AssetOrder | null },
) {
  const request = pageRequest(args, 2);
  const order = ASSET_ORDERS[args.orderBy ?? "RANK_ASC"];
  const dir = request.backward ? "desc" : "asc";
  const base = assetWhere(args.filter);
  const where: Prisma.AssetWhereInput[] = [base];
  if (request.cursor) where.push(assetAfter(order.field, order.nullsLast, request.cursor, dir));
  const rows = await prisma.asset.findMany({
    where: { AND: where },
    orderBy: [
      order.nullsLast
        ? { [order.field]: { sort: dir, nulls: dir === "asc" ? "last" : "first" } }
        : { [order.field]: dir },
      { id: dir },
    ],
    take: request.size + 1,
  });
  const page = toPage(rows, request, (a) => [a[order.field as "symbol"] ?? null, a.id]);
  return { ...page, totalCount: () => prisma.asset.count({ where: base }) };
}

/** The `where` of one asset by id, by symbol (the highest-ranked), or by a source and its id there. */
export function oneAsset(args: {
  id?: string | number | null;
  symbol?: string | null;
  source?: SourceId | null;
  sourceAssetId?: string | null;
}): { where: Prisma.AssetWhereInput; orderBy?: typeof BY_RANK } {
  const given = [args.id != null, args.symbol != null, args.source != null || args.sourceAssetId != null];
  if (given.filter(Boolean).length !== 1)
    throw badInput("asset", "give exactly one of id, symbol, or source + sourceAssetId");
  if (args.id != null) return { where: { id: parseIds([args.id], "id", "an asset id")![0] } };
  if (args.symbol != null) return { where: { symbol: args.symbol.trim().toUpperCase() }, orderBy: BY_RANK };
  if (args.source == null || args.sourceAssetId == null) {
    throw badInput(args.source == null ? "source" : "sourceAssetId", "source and sourceAssetId go together");
  }
  return { where: { sources: { some: { source: args.source, sourceAssetId: args.sourceAssetId } } } };
}

/** An asset named by its id or its symbol (the highest-ranked with it): its id, or BAD_USER_INPUT. */
export async function assetIdOf(prisma: PrismaClient, ref: string, argument = "asset"): Promise<number> {
  const asset = await prisma.asset.findFirst({
    ...(/^\d+$/.test(ref)
      ? { where: { id: parseId(ref, argument, "an asset id") } }
      : oneAsset({ symbol: ref })),
    select: { id: true },
  });
  if (!asset) throw badInput(argument, `no asset ${JSON.stringify(ref)}`);
  return asset.id;
}

/** Every asset with one of the symbols, and the given ids, highest-ranked first (at most 500). */
export function assetsNamed(
  prisma: PrismaClient,
  args: { symbols?: string[] | null; assetIds?: (string | number)[] | null },
) {
  if (!args.symbols && !args.assetIds) throw badInput("symbols", "give symbols or assetIds");
  const ids = parseIds(args.assetIds, "assetIds", "an asset id");
  return prisma.asset.findMany({
    where: {
      OR: [
        ...(args.symbols ? [{ symbol: { in: upper(args.symbols) } }] : []),
        ...(ids ? [{ id: { in: ids } }] : []),
      ],
    },
    select: {
      id: true,
      latestPrices: { select: { assetId: true, source: true, priceUsd: true, observedAt: true } },
    },
    orderBy: BY_RANK,
    take: 500,
  });
}

function assetAfter(
  field: "rank" | "symbol" | "name",
  nullsLast: boolean,
  cursor: readonly unknown[],
  dir: "asc" | "desc",
): Prisma.AssetWhereInput {
  const [value, rawId] = cursor;
  const id = Number(rawId);
  if (!Number.isSafeInteger(id) || Math.abs(id) > MAX_ID)
    throw badInput("after", "not a cursor returned by this connection");
  const op = dir === "asc" ? "gt" : "lt";
  if (nullsLast && value === null) {
    // Inside the null tail (asc) everything after has a null rank and a larger id; going
    // backwards from it (desc), every non-null rank comes next.
    return dir === "asc"
      ? { rank: null, id: { gt: id } }
      : { OR: [{ rank: { not: null } }, { rank: null, id: { lt: id } }] };
  }
  if (typeof value !== (field === "rank" ? "number" : "string"))
    throw badInput("after", "not a cursor returned by this connection");
  const after: Prisma.AssetWhereInput[] = [
    { [field]: { [op]: value } },
    { [field]: value, id: { [op]: id } },
  ];
  if (nullsLast && dir === "asc") after.push({ rank: null });
  return { OR: after };
}
