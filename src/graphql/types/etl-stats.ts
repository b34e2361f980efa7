import {
  ETL_STATS_DEFAULT_RUNS,
  ETL_STATS_MAX_RUNS,
  type EtlStats,
  loadEtlStats,
  type SourceStatsRow,
} from "../../services/etl-stats.ts";
import { builder } from "../builder.ts";
import { SourceEnum } from "./enums.ts";
import "./etl-run.ts";

const SourceStatsType = builder.objectRef<SourceStatsRow>("SourceStats").implement({
  description: "Statistics of one source's runs in etlStats' window (source null = whole runs).",
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

const EtlStatsType = builder.objectRef<EtlStats>("EtlStats").implement({
  description: "Statistics over the newest `lastRuns` finished runs (the window).",
  fields: (t) => ({
    overall: t.field({ type: SourceStatsType, resolve: (s) => s.overall }),
    sources: t.field({
      type: [SourceStatsType],
      description: "The sources that ran in the window",
      resolve: (s) => s.sources,
    }),
    lastRuns: t.exposeInt("lastRuns", { description: "The window's size as asked" }),
    since: t.field({
      type: "DateTime",
      nullable: true,
      description: "Start of the oldest run in the window; null when no run has finished",
      resolve: (s) => s.since,
    }),
  }),
});

builder.queryFields((t) => ({
  etlStats: t.field({
    type: EtlStatsType,
    description:
      "Per source and overall, over the newest `lastRuns` finished runs: records processed, last success and failure, durations.",
    args: {
      lastRuns: t.arg.int({
        required: true,
        defaultValue: ETL_STATS_DEFAULT_RUNS,
        description: `How many of the newest finished runs the statistics cover (1..${ETL_STATS_MAX_RUNS})`,
      }),
    },
    resolve: (_r, args, ctx) => loadEtlStats(ctx.prisma, args.lastRuns),
  }),
}));
