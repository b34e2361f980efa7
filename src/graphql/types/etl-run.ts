import { builder } from "../builder.ts";
import { parseId } from "../parse-id.ts";
import { AssetType } from "./asset.ts";
import { DriftKindEnum, RunStatusEnum, RunTriggerEnum, SeverityEnum, SourceEnum } from "./enums.ts";

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

export const DriftEventType = builder.prismaObject("DriftEvent", {
  description: "A change in a source's payload schema against its baseline.",
  fields: (t) => ({
    id: t.exposeID("id"),
    source: t.expose("source", { type: SourceEnum }),
    kind: t.expose("kind", { type: DriftKindEnum }),
    path: t.exposeString("path"),
    renamedFrom: t.exposeString("renamedFrom", { nullable: true }),
    fromType: t.exposeString("fromType", { nullable: true }),
    toType: t.exposeString("toType", { nullable: true }),
    confidence: t.exposeFloat("confidence", { description: "0..1; renames are fuzzy matches" }),
    detectedAt: t.expose("detectedAt", { type: "DateTime" }),
    run: t.relation("run"),
  }),
});

export const RejectedRecordType = builder.prismaObject("RejectedRecord", {
  fields: (t) => ({
    id: t.exposeID("id"),
    source: t.expose("source", { type: SourceEnum }),
    location: t.exposeString("location", { description: '"page 2 item 17", "seeds/prices.csv:23"' }),
    reason: t.exposeString("reason"),
    raw: t.expose("raw", { type: "JSON", nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});

export const AnomalyType = builder.prismaObject("Anomaly", {
  description:
    "PRICE_DEVIATION (a source far from the consensus), DISPUTED_PRICE (the included sources disagree: once per asset and run) or COUNT_DROP (vs the previous successful run).",
  fields: (t) => ({
    id: t.exposeID("id"),
    kind: t.exposeString("kind"),
    severity: t.expose("severity", { type: SeverityEnum }),
    source: t.expose("source", { type: SourceEnum, nullable: true }),
    asset: t.relation("asset", { nullable: true, type: AssetType }),
    detail: t.expose("detail", { type: "JSON" }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});

export const QuarantinedStreamType = builder.prismaObject("QuarantinedStream", {
  description:
    "A stream held by the drift quarantine policy (a required field vanished): its payload stays in the raw archive until releaseQuarantine ingests it.",
  fields: (t) => ({
    id: t.exposeID("id"),
    source: t.expose("source", { type: SourceEnum }),
    stream: t.exposeString("stream", { description: '"coins/markets?page=1", "tickers"' }),
    records: t.exposeInt("records"),
    missingFields: t.exposeStringList("missingFields"),
    heldAt: t.expose("heldAt", { type: "DateTime" }),
    releasedAt: t.expose("releasedAt", { type: "DateTime", nullable: true }),
    releaseRun: t.prismaField({
      type: "EtlRun",
      nullable: true,
      description: "The run that ingested the held records",
      resolve: (q, h, _a, ctx) =>
        h.releaseRunId === null
          ? null
          : ctx.prisma.etlRun.findUnique({ ...q, where: { id: h.releaseRunId } }),
    }),
  }),
});

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
    rejectedRecords: t.relatedConnection("rejects", {
      cursor: "id",
      maxSize: 500,
      query: { orderBy: { id: "asc" } },
      totalCount: true,
    }),
  }),
});

builder.queryFields((t) => ({
  etlRuns: t.prismaConnection({
    type: "EtlRun",
    cursor: "id",
    maxSize: 500,
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
  etlRun: t.prismaField({
    type: "EtlRun",
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, args, ctx) =>
      ctx.prisma.etlRun.findUnique({ ...query, where: { id: parseId(args.id, "id") } }),
  }),
  driftEvents: t.prismaConnection({
    type: "DriftEvent",
    cursor: "id",
    maxSize: 500,
    description: "Schema drift events, newest first.",
    args: {
      source: t.arg({ type: SourceEnum, required: false }),
      since: t.arg({ type: "DateTime", required: false }),
    },
    resolve: (query, _root, args, ctx) =>
      ctx.prisma.driftEvent.findMany({
        ...query,
        where: { source: args.source ?? undefined, detectedAt: args.since ? { gte: args.since } : undefined },
        orderBy: { id: "desc" },
      }),
    totalCount: (_root, args, ctx) =>
      ctx.prisma.driftEvent.count({
        where: { source: args.source ?? undefined, detectedAt: args.since ? { gte: args.since } : undefined },
      }),
  }),
}));
