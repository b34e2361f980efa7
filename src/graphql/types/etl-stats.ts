import { loadEtlStats, type SourceStatsRow } from "../../services/etl-stats.ts";
import { builder } from "../builder.ts";
import { SourceEnum } from "./enums.ts";
import "./etl-run.ts";

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

builder.queryFields((t) => ({
  etlStats: t.field({
    type: EtlStatsType,
    description: "Per source and overall: records processed, last success and failure, durations.",
    resolve: (_r, _a, ctx) => loadEtlStats(ctx.prisma),
  }),
}));
