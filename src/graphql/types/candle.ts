import { assetIdOf } from "../../services/assets.ts";
import { type Candle, loadCandles } from "../../services/candles.ts";
import { builder } from "../builder.ts";
import type { CandleUpdate } from "../live/candle-feed.ts";
import { SourceEnum } from "./enums.ts";

export const IntervalEnum = builder.enumType("Interval", {
  values: {
    M5: { description: "5 minutes" },
    H1: { description: "1 hour" },
    D1: { description: "1 day" },
  } as const,
});

export const CandleType = builder.objectRef<Candle>("Candle").implement({
  description:
    "One interval of price history. Buckets without observations are absent, never invented; an OHLC bar only feeds intervals at least as long as itself.",
  fields: (t) => ({
    id: t.id({
      description:
        "Asset, interval and bucket (`42:D1:2024-01-01T00:00:00.000Z`): a key for normalized client caches",
      resolve: (c) => `${c.assetId}:${c.interval}:${c.bucket.toISOString()}`,
    }),
    bucket: t.field({
      type: "DateTime",
      description: "Start of the interval (UTC)",
      resolve: (c) => c.bucket,
    }),
    open: t.exposeFloat("open"),
    high: t.exposeFloat("high"),
    low: t.exposeFloat("low"),
    close: t.exposeFloat("close"),
    volume: t.float({
      nullable: true,
      description:
        "USD volume traded in the interval: the sum of its bars' volumes; for D1 of snapshot sources, the last snapshot's 24 h volume; null when the data cannot say",
      resolve: (c) => c.volume,
    }),
    volume24hUsd: t.float({
      nullable: true,
      description: "The 24 h volume reported by the interval's last snapshot (a rolling figure)",
      resolve: (c) => c.volume24hUsd,
    }),
    sources: t.field({ type: [SourceEnum], resolve: (c) => c.sources }),
    observations: t.exposeInt("observations"),
    final: t.exposeBoolean("final", {
      description:
        "CANDLE_FINALITY_SECONDS have passed since the bucket's end: a later observation in it is a revision",
    }),
    revision: t.exposeInt("revision", {
      description:
        "How many commits changed the bucket after it became final (a CSV backfill, a lagging source); 0 if none",
    }),
  }),
});

export const CandleUpdateType = builder.objectRef<CandleUpdate>("CandleUpdate").implement({
  description: "A bucket's candle as a commit changed it, or as it became final.",
  fields: (t) => ({
    candle: t.field({ type: CandleType, resolve: (u) => u.candle }),
    final: t.exposeBoolean("final", { description: "The candle will change only by a revision" }),
    revision: t.exposeInt("revision", { description: "Raised by one for each commit into a final bucket" }),
  }),
});

const candleArgs = builder.args((t) => ({
  interval: t.field({ type: IntervalEnum, required: true }),
  from: t.field({ type: "DateTime", required: false }),
  to: t.field({ type: "DateTime", required: false }),
  sources: t.field({ type: [SourceEnum], required: false }),
  limit: t.int({ required: false, description: "Only the newest N buckets (at most 5000)" }),
}));

builder.queryFields((t) => ({
  priceHistory: t.field({
    type: [CandleType],
    description: "Candles for one asset (id or symbol).",
    args: { asset: t.arg.string({ required: true, description: "Asset id or symbol" }), ...candleArgs },
    resolve: async (_root, args, ctx) =>
      loadCandles(ctx.prisma, await assetIdOf(ctx.prisma, args.asset), args, ctx.services.candleFinality),
  }),
}));

builder.prismaObjectField("Asset", "priceHistory", (t) =>
  t.field({
    type: [CandleType],
    args: candleArgs,
    resolve: (asset, args, ctx) => loadCandles(ctx.prisma, asset.id, args, ctx.services.candleFinality),
  }),
);
