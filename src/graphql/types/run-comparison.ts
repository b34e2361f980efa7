import { badInput } from "../../services/errors.ts";
import { loadPriceMoves, type PriceMove } from "../../services/price-moves.ts";
import { type Comparison, compareRuns, type SourceDelta } from "../../services/run-comparison.ts";
import { builder } from "../builder.ts";
import { AnomalyType } from "./anomaly.ts";
import { AssetType } from "./asset.ts";
import { DriftEventType } from "./drift-event.ts";
import { SourceEnum } from "./enums.ts";
import "./etl-run.ts";

const SourceDeltaType = builder.objectRef<SourceDelta>("SourceDelta").implement({
  description: "head minus base, per count",
  fields: (t) => ({
    source: t.field({ type: SourceEnum, resolve: (d) => d.source }),
    base: t.prismaField({
      type: "SourceRun",
      nullable: true,
      resolve: (q, d, _a, ctx) =>
        d.base ? ctx.prisma.sourceRun.findUnique({ ...q, where: { id: d.base.id } }) : null,
    }),
    head: t.prismaField({
      type: "SourceRun",
      nullable: true,
      resolve: (q, d, _a, ctx) =>
        d.head ? ctx.prisma.sourceRun.findUnique({ ...q, where: { id: d.head.id } }) : null,
    }),
    fetched: t.exposeInt("fetched"),
    written: t.exposeInt("written"),
    unchanged: t.exposeInt("unchanged"),
    rejected: t.exposeInt("rejected"),
  }),
});

const PriceMoveType = builder.objectRef<PriceMove>("PriceMove").implement({
  fields: (t) => ({
    asset: t.prismaField({
      type: "Asset",
      resolve: (q, m, _a, ctx) => ctx.prisma.asset.findUniqueOrThrow({ ...q, where: { id: m.assetId } }),
    }),
    source: t.field({ type: SourceEnum, resolve: (m) => m.source }),
    fromPriceUsd: t.exposeFloat("fromPriceUsd"),
    toPriceUsd: t.exposeFloat("toPriceUsd"),
    changePct: t.exposeFloat("changePct"),
  }),
});

const RunComparisonType = builder.objectRef<Comparison>("RunComparison").implement({
  fields: (t) => ({
    base: t.prismaField({
      type: "EtlRun",
      resolve: (q, c, _a, ctx) => ctx.prisma.etlRun.findUniqueOrThrow({ ...q, where: { id: c.baseId } }),
    }),
    head: t.prismaField({
      type: "EtlRun",
      resolve: (q, c, _a, ctx) => ctx.prisma.etlRun.findUniqueOrThrow({ ...q, where: { id: c.headId } }),
    }),
    sources: t.field({ type: [SourceDeltaType], resolve: (c) => c.sources }),
    assetsAdded: t.prismaField({
      type: [AssetType],
      description: "Assets some source delivered in head but not in base (sources that succeeded in both)",
      resolve: (q, c, _a, ctx) =>
        ctx.prisma.asset.findMany({ ...q, where: { id: { in: c.added } }, orderBy: { id: "asc" } }),
    }),
    assetsRemoved: t.prismaField({
      type: [AssetType],
      description: "Assets some source delivered in base but no longer in head",
      resolve: (q, c, _a, ctx) =>
        ctx.prisma.asset.findMany({ ...q, where: { id: { in: c.removed } }, orderBy: { id: "asc" } }),
    }),
    // Reads the two runs' price aggregates (run_price), not market_observation.
    largestPriceMoves: t.field({
      type: [PriceMoveType],
      description: "Largest price changes between the runs' ends; both runs must have finished",
      resolve: (c, _a, ctx) => {
        if (c.running.length > 0) {
          throw badInput(c.running[0] === c.baseId ? "base" : "head", `run ${c.running[0]} has not finished`);
        }
        return loadPriceMoves(ctx.prisma, c.baseId, c.headId);
      },
    }),
    drift: t.prismaField({
      type: [DriftEventType],
      description: "Drift events of the runs after base up to head",
      resolve: (q, c, _a, ctx) =>
        ctx.prisma.driftEvent.findMany({
          ...q,
          where: { runId: { gt: c.baseId, lte: c.headId } },
          orderBy: { id: "asc" },
        }),
    }),
    anomalies: t.prismaField({
      type: [AnomalyType],
      description: "Anomalies of the head run, most severe first",
      resolve: (q, c, _a, ctx) =>
        ctx.prisma.anomaly.findMany({
          ...q,
          where: { runId: c.headId },
          orderBy: [{ severity: "desc" }, { id: "asc" }],
        }),
    }),
  }),
});

builder.queryFields((t) => ({
  compareRuns: t.field({
    type: RunComparisonType,
    args: { base: t.arg.id({ required: true }), head: t.arg.id({ required: true }) },
    resolve: (_r, args, ctx) => compareRuns(ctx.prisma, args),
  }),
}));
