import { builder } from "../builder.ts";
import { SourceEnum } from "./enums.ts";

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
