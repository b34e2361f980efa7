import { queryFromInfo } from "@pothos/plugin-prisma";
import { MARKET_DATA_ORDERS, marketDataPage } from "../../services/market-data.ts";
import { builder } from "../builder.ts";
import { connectionOf } from "./connection.ts";
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

export const MarketObservationConnection = connectionOf(MarketObservationType, "MarketObservation");

export const MarketDataOrderEnum = builder.enumType("MarketDataOrder", {
  values: Object.keys(MARKET_DATA_ORDERS) as (keyof typeof MARKET_DATA_ORDERS)[],
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

/** The Prisma selection of the page's nodes: only the fields the query asked for. */
const nodeQuery = (ctx: object, info: Parameters<typeof queryFromInfo>[0]["info"]) =>
  queryFromInfo({ context: ctx, info, path: ["edges", "node"], typeName: "MarketObservation" });

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
        marketDataPage(ctx.prisma, args, args.filter, undefined, nodeQuery(ctx, info)),
    },
    MarketObservationConnection,
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
        marketDataPage(ctx.prisma, args, args, asset.id, nodeQuery(ctx, info)),
    },
    MarketObservationConnection,
  ),
);
