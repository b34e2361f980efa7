import { boundedCount } from "../../services/bounded-count.ts";
import { POTHOS_PAGE } from "../../services/pagination.ts";
import { builder } from "../builder.ts";
import { connectionOf } from "./connection.ts";
import { DriftKindEnum, SourceEnum } from "./enums.ts";

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

export const DriftEventConnection = connectionOf(DriftEventType, "DriftEvent");

builder.queryFields((t) => ({
  driftEvents: t.prismaConnection(
    {
      type: "DriftEvent",
      cursor: "id",
      ...POTHOS_PAGE,
      description: "Schema drift events, newest first.",
      args: {
        source: t.arg({ type: SourceEnum, required: false }),
        since: t.arg({ type: "DateTime", required: false }),
      },
      resolve: (query, _root, args, ctx) =>
        ctx.prisma.driftEvent.findMany({
          ...query,
          where: {
            source: args.source ?? undefined,
            detectedAt: args.since ? { gte: args.since } : undefined,
          },
          orderBy: { id: "desc" },
        }),
      // Counted exactly up to 10,000, then estimated (connection.ts reads either shape).
      totalCount: (_root, args, ctx) => {
        const where = {
          source: args.source ?? undefined,
          detectedAt: args.since ? { gte: args.since } : undefined,
        };
        return boundedCount(ctx.prisma, "drift_event", !args.source && !args.since, (take) =>
          ctx.prisma.driftEvent.count({ where, take }),
        ) as unknown as number;
      },
    },
    DriftEventConnection,
  ),
}));
