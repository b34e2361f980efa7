import { boundedCount } from "../../services/bounded-count.ts";
import { POTHOS_PAGE } from "../../services/pagination.ts";
import { parseId } from "../../services/parse-id.ts";
import { builder } from "../builder.ts";
import "./anomaly.ts";
import { connectionOf } from "./connection.ts";
import "./drift-event.ts";
import { RunStatusEnum, RunTriggerEnum, SourceEnum } from "./enums.ts";
import "./quarantined-stream.ts";
import { RejectedRecordConnection } from "./rejected-record.ts";
import "./source-run.ts";

export const EtlRunType = builder.prismaObject("EtlRun", {
  fields: (t) => ({
    id: t.exposeID("id"),
    status: t.expose("status", { type: RunStatusEnum }),
    trigger: t.expose("trigger", { type: RunTriggerEnum }),
    requested: t.expose("requested", { type: [SourceEnum] }),
    idempotencyKey: t.exposeString("idempotencyKey", { nullable: true }),
    startedAt: t.expose("startedAt", { type: "DateTime" }),
    finishedAt: t.expose("finishedAt", { type: "DateTime", nullable: true }),
    durationMs: t.exposeInt("durationMs", { nullable: true }),
    error: t.exposeString("error", { nullable: true }),
    stoppedAt: t.expose("stoppedAt", {
      type: "JSON",
      nullable: true,
      description: "Where a failed run stopped",
    }),
    fetched: t.exposeInt("fetched"),
    written: t.exposeInt("written"),
    unchanged: t.exposeInt("unchanged"),
    rejected: t.exposeInt("rejected"),
    sources: t.relation("sources", { query: { orderBy: { id: "asc" } } }),
    driftEvents: t.relation("driftEvents", { query: { orderBy: { id: "asc" } } }),
    anomalies: t.relation("anomalies", { query: { orderBy: [{ severity: "desc" }, { id: "asc" }] } }),
    quarantine: t.relation("quarantine", {
      description: "Streams this run held (DRIFT_POLICY_*=quarantine); release them with releaseQuarantine",
      query: { orderBy: { id: "asc" } },
    }),
    rejectedRecords: t.relatedConnection(
      "rejects",
      { cursor: "id", ...POTHOS_PAGE, query: { orderBy: { id: "asc" } }, totalCount: true },
      RejectedRecordConnection,
    ),
  }),
});

export const EtlRunConnection = connectionOf(EtlRunType, "EtlRun");

builder.queryFields((t) => ({
  etlRuns: t.prismaConnection(
    {
      type: "EtlRun",
      cursor: "id",
      ...POTHOS_PAGE,
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
      // A run every 5 minutes is ~100,000 a year: counted exactly up to 10,000, then estimated.
      totalCount: (_root, args, ctx) => {
        const where = { status: args.status ?? undefined, trigger: args.trigger ?? undefined };
        return boundedCount(ctx.prisma, "etl_run", !args.status && !args.trigger, (take) =>
          ctx.prisma.etlRun.count({ where, take }),
        ) as unknown as number;
      },
    },
    EtlRunConnection,
  ),
  etlRun: t.prismaField({
    type: "EtlRun",
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, args, ctx) =>
      ctx.prisma.etlRun.findUnique({ ...query, where: { id: parseId(args.id, "id") } }),
  }),
}));
