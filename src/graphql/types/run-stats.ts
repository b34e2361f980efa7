import { builder } from "../builder.ts";
import { notFound } from "../errors.ts";
import { parseId } from "../parse-id.ts";
import {
  loadEtlStats,
  loadPriceMoves,
  loadSourceHealth,
  type PriceMove,
  type SourceHealthRow,
  type SourceStatsRow,
} from "../queries/run-stats.ts";
import { AssetType } from "./asset.ts";
import { SourceEnum } from "./enums.ts";
import { AnomalyType, DriftEventType } from "./etl-run.ts";

const SourceStatsType = builder.objectRef<SourceStatsRow>("SourceStats").implement({
  description: "Statistics of one source's runs (source null = whole runs).",
  fields: (t) => ({
    source: t.field({ type: SourceEnum, nullable: true, resolve: (s) => s.source }),
    runs: t.exposeInt("runs"),
    recordsProcessed: t.exposeInt("recordsProcessed"),
    recordsWritten: t.exposeInt("recordsWritten"),
    lastSuccessAt: t.field({ type: "DateTime", nullable: true, resolve: (s) => s.lastSuccessAt }),
    lastFailureAt: t.field({ type: "DateTime", nullable: true, resolve: (s) => s.lastFailureAt }),
    lastDurationMs: t.int({ nullable: true, resolve: (s) => s.lastDurationMs }),
    meanDurationMs: t.int({ nullable: true, resolve: (s) => s.meanDurationMs }),
    p95DurationMs: t.int({ nullable: true, resolve: (s) => s.p95DurationMs }),
    lastRun: t.prismaField({
      type: "EtlRun",
      nullable: true,
      resolve: (query, s, _a, ctx) =>
        s.lastRunId === null ? null : ctx.prisma.etlRun.findUnique({ ...query, where: { id: s.lastRunId } }),
    }),
  }),
});

const EtlStatsType = builder
  .objectRef<{ overall: SourceStatsRow; sources: SourceStatsRow[] }>("EtlStats")
  .implement({
    fields: (t) => ({
      overall: t.field({ type: SourceStatsType, resolve: (s) => s.overall }),
      sources: t.field({ type: [SourceStatsType], resolve: (s) => s.sources }),
    }),
  });

const SourceStatusEnum = builder.enumType("SourceStatus", {
  values: {
    UP: { description: "The last run of the source succeeded" },
    DEGRADED: { description: "The last one or two runs failed" },
    DOWN: { description: "Three or more runs in a row failed" },
    UNKNOWN: { description: "No finished run yet" },
  } as const,
});

const SourceHealthType = builder.objectRef<SourceHealthRow>("SourceHealth").implement({
  fields: (t) => ({
    source: t.field({ type: SourceEnum, resolve: (s) => s.source }),
    status: t.field({ type: SourceStatusEnum, resolve: (s) => s.status }),
    lastSuccessAt: t.field({ type: "DateTime", nullable: true, resolve: (s) => s.lastSuccessAt }),
    lastRunAt: t.field({ type: "DateTime", nullable: true, resolve: (s) => s.lastRunAt }),
    dataAgeSeconds: t.int({
      nullable: true,
      description: "Age of the newest observation from this source",
      resolve: (s) => s.dataAgeSeconds,
    }),
    consecutiveFailures: t.exposeInt("consecutiveFailures"),
    lastError: t.string({
      nullable: true,
      description: "Never contains secrets",
      resolve: (s) => s.lastError,
    }),
  }),
});

interface SourceDelta {
  source: "COINGECKO" | "COINPAPRIKA" | "CSV";
  base: { id: number } | null;
  head: { id: number } | null;
  fetched: number;
  written: number;
  unchanged: number;
  rejected: number;
}

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

interface Comparison {
  baseId: number;
  headId: number;
  sources: SourceDelta[];
  added: number[];
  removed: number[];
  /** Where the price-move comparison reads up to (each run's end); loaded only when asked for. */
  baseEnd: Date;
  headEnd: Date;
}

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
    // Two scans of market_observation: run only when the client selects this field.
    largestPriceMoves: t.field({
      type: [PriceMoveType],
      resolve: (c, _a, ctx) => loadPriceMoves(ctx.prisma, c.baseEnd, c.headEnd),
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
  etlStats: t.field({
    type: EtlStatsType,
    description: "Per source and overall: records processed, last success and failure, durations.",
    resolve: (_r, _a, ctx) => loadEtlStats(ctx.prisma),
  }),
  sourceHealth: t.field({
    type: [SourceHealthType],
    resolve: (_r, _a, ctx) => loadSourceHealth(ctx.prisma, ctx.services.enabledSources),
  }),
  compareRuns: t.field({
    type: RunComparisonType,
    args: { base: t.arg.id({ required: true }), head: t.arg.id({ required: true }) },
    resolve: async (_r, args, ctx) => {
      const ids = [parseId(args.base, "base"), parseId(args.head, "head")] as const;
      const runs = await ctx.prisma.etlRun.findMany({
        where: { id: { in: [...ids] } },
        include: { sources: true },
      });
      const base = runs.find((r) => r.id === ids[0]);
      const head = runs.find((r) => r.id === ids[1]);
      if (!base) throw notFound(`no run ${ids[0]}`);
      if (!head) throw notFound(`no run ${ids[1]}`);
      const sources = (["COINGECKO", "COINPAPRIKA", "CSV"] as const).flatMap((source) => {
        const b = base.sources.find((s) => s.source === source) ?? null;
        const h = head.sources.find((s) => s.source === source) ?? null;
        if (!b && !h) return [];
        const d = (k: "fetched" | "written" | "unchanged" | "rejected") => (h?.[k] ?? 0) - (b?.[k] ?? 0);
        return [
          {
            source,
            base: b,
            head: h,
            fetched: d("fetched"),
            written: d("written"),
            unchanged: d("unchanged"),
            rejected: d("rejected"),
          },
        ];
      });
      const added = new Set<number>();
      const removed = new Set<number>();
      for (const s of sources) {
        if (s.base?.status !== "SUCCEEDED" || s.head?.status !== "SUCCEEDED") continue;
        const b = base.sources.find((x) => x.source === s.source)!.seenAssetIds;
        const h = head.sources.find((x) => x.source === s.source)!.seenAssetIds;
        if (b.length === 0 || h.length === 0) continue;
        const bs = new Set(b);
        const hs = new Set(h);
        for (const id of hs) if (!bs.has(id)) added.add(id);
        for (const id of bs) if (!hs.has(id)) removed.add(id);
      }
      return {
        baseId: base.id,
        headId: head.id,
        sources,
        added: [...added],
        removed: [...removed],
        baseEnd: base.finishedAt ?? base.startedAt,
        headEnd: head.finishedAt ?? new Date(),
      };
    },
  }),
}));
