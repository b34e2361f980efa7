import { builder } from "../builder.ts";
import { RunStatusEnum, RunTriggerEnum, SourceEnum } from "./enums.ts";

export const SourceRunType = builder.prismaObject("SourceRun", {
  fields: (t) => ({
    source: t.expose("source", { type: SourceEnum }),
    status: t.expose("status", { type: RunStatusEnum }),
    fetched: t.exposeInt("fetched"),
    written: t.exposeInt("written"),
    unchanged: t.exposeInt("unchanged"),
    rejected: t.exposeInt("rejected"),
    quarantined: t.exposeInt("quarantined"),
    startedAt: t.expose("startedAt", { type: "DateTime" }),
    finishedAt: t.expose("finishedAt", { type: "DateTime", nullable: true }),
    durationMs: t.exposeInt("durationMs", { nullable: true }),
    error: t.exposeString("error", { nullable: true }),
    errorKind: t.exposeString("errorKind", { nullable: true }),
  }),
});

export const EtlRunType = builder.prismaObject("EtlRun", {
  fields: (t) => ({
    id: t.exposeID("id"),
    status: t.expose("status", { type: RunStatusEnum }),
    trigger: t.expose("trigger", { type: RunTriggerEnum }),
    startedAt: t.expose("startedAt", { type: "DateTime" }),
    finishedAt: t.expose("finishedAt", { type: "DateTime", nullable: true }),
    durationMs: t.exposeInt("durationMs", { nullable: true }),
    error: t.exposeString("error", { nullable: true }),
    fetched: t.exposeInt("fetched"),
    written: t.exposeInt("written"),
    unchanged: t.exposeInt("unchanged"),
    rejected: t.exposeInt("rejected"),
    sources: t.relation("sources", { query: { orderBy: { id: "asc" } } }),
  }),
});

builder.queryFields((t) => ({
  etlRuns: t.prismaConnection({
    type: "EtlRun",
    cursor: "id",
    description: "ETL runs, newest first.",
    args: {
      status: t.arg({ type: RunStatusEnum, required: false }),
      trigger: t.arg({ type: RunTriggerEnum, required: false }),
    },
    resolve: (query, _root, args, ctx) =>
      ctx.prisma.etlRun.findMany({
        ...query,
        where: { status: args.status ?? undefined, trigger: args.trigger ?? undefined },
        orderBy: { id: "desc" },
      }),
    totalCount: (_root, args, ctx) =>
      ctx.prisma.etlRun.count({
        where: { status: args.status ?? undefined, trigger: args.trigger ?? undefined },
      }),
  }),
}));
