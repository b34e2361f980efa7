import { queryFromInfo } from "@pothos/plugin-prisma";
import type { Prisma } from "../../generated/prisma/client.ts";
import { builder } from "../builder.ts";
import { badInput } from "../errors.ts";
import { cursorDate, flip, keysetWhere, pageRequest, toPage } from "../pagination.ts";
import { parseId } from "../parse-id.ts";
import { SourceEnum } from "./enums.ts";

export const MarketObservationType = builder.prismaObject("MarketObservation", {
  description: "One source's quote for one asset at the source's own observedAt.",
  // Columns are read only when a field asks for them (a page of 100 rows moved every column,
  // asked or not); these three are the keyset cursor's and the id's.
  select: { id: true, seq: true, observedAt: true },
  fields: (t) => ({
    // A BigInt column: graphql's ID serializer refuses bigint, so it is sent as a string.
    id: t.id({ resolve: (o) => o.id.toString() }),
    seq: t.expose("seq", {
      type: "BigInt",
      description:
        "Changefeed position: the global commit order of this row's latest write (a rewrite gets a new seq); resume subscriptions with it",
    }),
    source: t.expose("source", { type: SourceEnum }),
    observedAt: t.expose("observedAt", { type: "DateTime" }),
    committedAt: t.expose("committedAt", { type: "DateTime" }),
    priceUsd: t.exposeFloat("priceUsd"),
    marketCapUsd: t.exposeFloat("marketCapUsd", { nullable: true }),
    volume24hUsd: t.exposeFloat("volume24hUsd", { nullable: true }),
    change24hPct: t.exposeFloat("change24hPct", {
      nullable: true,
      description: "Price change over 24 h, percent",
    }),
    circulatingSupply: t.exposeFloat("circulatingSupply", { nullable: true }),
    totalSupply: t.exposeFloat("totalSupply", { nullable: true }),
    maxSupply: t.exposeFloat("maxSupply", { nullable: true }),
    rank: t.exposeInt("rank", { nullable: true }),
    open: t.exposeFloat("open", { nullable: true }),
    high: t.exposeFloat("high", { nullable: true }),
    low: t.exposeFloat("low", { nullable: true }),
    close: t.exposeFloat("close", { nullable: true }),
    barSeconds: t.exposeInt("barSeconds", {
      nullable: true,
      description: "How long an OHLC bar covers (a daily CSV row: 86400); null for a point quote",
    }),
    asset: t.relation("asset"),
    run: t.relation("run"),
  }),
});

// No seq orders: seq is a changefeed position (a rewritten row gets a new one), so a walk in seq
// order would skip or repeat rows while a run writes. Follow changes with marketUpdates(afterSeq).
export const MarketDataOrderEnum = builder.enumType("MarketDataOrder", {
  values: ["OBSERVED_AT_DESC", "OBSERVED_AT_ASC"] as const,
});

const MarketDataFilter = builder.inputType("MarketDataFilter", {
  fields: (t) => ({
    symbols: t.stringList({ required: false, description: "Every asset with one of these symbols" }),
    assetIds: t.idList({ required: false }),
    sources: t.field({ type: [SourceEnum], required: false }),
    from: t.field({ type: "DateTime", required: false, description: "observedAt ≥ from" }),
    to: t.field({ type: "DateTime", required: false, description: "observedAt < to" }),
  }),
});

const ORDERS = {
  OBSERVED_AT_DESC: { field: "observedAt", dir: "desc", parse: cursorDate },
  OBSERVED_AT_ASC: { field: "observedAt", dir: "asc", parse: cursorDate },
} as const;

type Filter = {
  symbols?: string[] | null;
  assetIds?: (string | number)[] | null;
  sources?: ("COINGECKO" | "COINPAPRIKA" | "CSV")[] | null;
  from?: Date | null;
  to?: Date | null;
};

export function marketDataWhere(
  filter: Filter | null | undefined,
  assetId?: number,
): Prisma.MarketObservationWhereInput {
  const and: Prisma.MarketObservationWhereInput[] = [];
  if (assetId !== undefined) and.push({ assetId });
  if (filter?.symbols)
    and.push({ asset: { symbol: { in: filter.symbols.map((s) => s.trim().toUpperCase()) } } });
  if (filter?.assetIds) {
    and.push({
      assetId: {
        in: filter.assetIds.map((id) => parseId(id, "filter.assetIds", "an asset id")),
      },
    });
  }
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
 * the cursor of a descending walk, and rewritten rows keep their id and observedAt.
 */
export async function marketDataPage(
  ctx: { prisma: import("../../db/database.ts").PrismaClient },
  args: {
    first?: number | null;
    last?: number | null;
    after?: string | null;
    before?: string | null;
    orderBy?: keyof typeof ORDERS | null;
  },
  where: Prisma.MarketObservationWhereInput,
  query: object,
) {
  const request = pageRequest(args, 2);
  const order = ORDERS[args.orderBy ?? "OBSERVED_AT_DESC"];
  const dir = request.backward ? flip(order.dir) : order.dir;
  const conditions = [where];
  if (request.cursor) conditions.push(keysetWhere(order.field, dir, request.cursor, order.parse, "bigint"));
  const rows = await ctx.prisma.marketObservation.findMany({
    ...query,
    where: { AND: conditions },
    orderBy: [{ [order.field]: dir }, { id: dir }],
    take: request.size + 1,
  });
  const page = toPage(rows, request, (o) => [o[order.field], o.id]);
  return { ...page, totalCount: () => ctx.prisma.marketObservation.count({ where }) };
}

const connectionFields = {
  fields: (c: { int: (o: { resolve: (conn: unknown) => Promise<number> }) => unknown }) => ({
    totalCount: c.int({ resolve: (conn) => (conn as { totalCount: () => Promise<number> }).totalCount() }),
  }),
};

builder.queryFields((t) => ({
  marketData: t.connection(
    {
      type: MarketObservationType,
      description: "The unified observations of every source: filter, order and page with stable cursors.",
      args: {
        filter: t.arg({ type: MarketDataFilter, required: false }),
        orderBy: t.arg({ type: MarketDataOrderEnum, required: false, defaultValue: "OBSERVED_AT_DESC" }),
      },
      resolve: (_root, args, ctx, info) =>
        marketDataPage(
          ctx,
          args,
          marketDataWhere(args.filter),
          queryFromInfo({ context: ctx, info, path: ["edges", "node"], typeName: "MarketObservation" }),
        ),
    },
    connectionFields as never,
  ),
}));

builder.prismaObjectField("Asset", "marketData", (t) =>
  t.connection(
    {
      type: MarketObservationType,
      description: "This asset's observations (every source unless filtered).",
      args: {
        sources: t.arg({ type: [SourceEnum], required: false }),
        from: t.arg({ type: "DateTime", required: false }),
        to: t.arg({ type: "DateTime", required: false }),
        orderBy: t.arg({ type: MarketDataOrderEnum, required: false, defaultValue: "OBSERVED_AT_DESC" }),
      },
      resolve: (asset, args, ctx, info) =>
        marketDataPage(
          ctx,
          args,
          marketDataWhere({ sources: args.sources, from: args.from, to: args.to }, asset.id),
          queryFromInfo({ context: ctx, info, path: ["edges", "node"], typeName: "MarketObservation" }),
        ),
    },
    connectionFields as never,
  ),
);
