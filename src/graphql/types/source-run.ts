import { builder } from "../builder.ts";
import { RunStatusEnum, SourceEnum } from "./enums.ts";

export const SourceRunType = builder.prismaObject("SourceRun", {
  description: "One source within a run. fetched = written + unchanged + rejected + quarantined.",
  fields: (t) => ({
    source: t.expose("source", { type: SourceEnum }),
    status: t.expose("status", { type: RunStatusEnum }),
    fetched: t.exposeInt("fetched"),
    written: t.exposeInt("written"),
    unchanged: t.exposeInt("unchanged"),
    rejected: t.exposeInt("rejected"),
    quarantined: t.exposeInt("quarantined"),
    rejectedTruncated: t.exposeInt("rejectedTruncated", {
      description: "Rejected rows beyond ETL_REJECTED_ROWS_KEPT: counted in rejected, not stored in full",
    }),
    startedAt: t.expose("startedAt", { type: "DateTime" }),
    finishedAt: t.expose("finishedAt", { type: "DateTime", nullable: true }),
    durationMs: t.exposeInt("durationMs", { nullable: true }),
    error: t.exposeString("error", { nullable: true }),
    errorKind: t.exposeString("errorKind", { nullable: true, description: "transient, permanent or fatal" }),
    nullRates: t.expose("nullRates", {
      type: "JSON",
      nullable: true,
      description: "Share of nulls per field",
    }),
    checkpointBefore: t.expose("checkpointBefore", { type: "JSON", nullable: true }),
    checkpointAfter: t.expose("checkpointAfter", { type: "JSON", nullable: true }),
  }),
});
