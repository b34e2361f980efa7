import { loadSourceHealth, type SourceHealthRow } from "../../services/source-health.ts";
import { builder } from "../builder.ts";
import { SourceEnum } from "./enums.ts";

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

builder.queryFields((t) => ({
  sourceHealth: t.field({
    type: [SourceHealthType],
    resolve: (_r, _a, ctx) => loadSourceHealth(ctx.prisma, ctx.services.enabledSources),
  }),
}));
