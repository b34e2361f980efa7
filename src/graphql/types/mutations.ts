import { resetDriftBaseline } from "../../services/drift.ts";
import { badInput, notFound } from "../../services/errors.ts";
import { parseId } from "../../services/parse-id.ts";
import { requireApiKey } from "../auth.ts";
import { builder } from "../builder.ts";
import { SourceEnum } from "./enums.ts";
import { EtlRunType } from "./etl-run.ts";

const TriggerEtlInput = builder.inputType("TriggerEtlInput", {
  fields: (t) => ({
    sources: t.field({ type: [SourceEnum], required: false, description: "Default: every enabled source" }),
    idempotencyKey: t.string({
      required: false,
      description: "The same key returns the same run (retry-safe for schedulers)",
    }),
  }),
});

const TriggerEtlPayload = builder
  .objectRef<{ run: { id: number }; alreadyRunning: boolean }>("TriggerEtlPayload")
  .implement({
    fields: (t) => ({
      run: t.prismaField({
        type: EtlRunType,
        resolve: (q, p, _a, ctx) => ctx.prisma.etlRun.findUniqueOrThrow({ ...q, where: { id: p.run.id } }),
      }),
      alreadyRunning: t.exposeBoolean("alreadyRunning", {
        description: "true when a run was already going: it is the run returned",
      }),
    }),
  });

builder.mutationType({
  fields: (t) => ({
    triggerEtl: t.field({
      type: TriggerEtlPayload,
      description: "Starts an ETL run and returns at once with it (RUNNING). Needs the API key.",
      args: { input: t.arg({ type: TriggerEtlInput, required: false }) },
      resolve: async (_r, args, ctx) => {
        requireApiKey(ctx, "triggerEtl");
        const runner = ctx.services.runner;
        const sources = args.input?.sources ?? undefined;
        if (sources) {
          const off = sources.filter((s) => !ctx.services.enabledSources.includes(s));
          if (off.length > 0)
            throw badInput("input.sources", `not enabled here (ETL_SOURCES): ${off.join(", ")}`);
          if (sources.length === 0) throw badInput("input.sources", "empty list; omit it for every source");
        }
        const key = args.input?.idempotencyKey ?? undefined;
        if (key !== undefined && (key.length === 0 || key.length > 200)) {
          throw badInput("input.idempotencyKey", "must be 1 to 200 characters");
        }
        const started = await runner.start({ trigger: "API", sources, idempotencyKey: key });
        ctx.logger.info({ runId: started.run.id, alreadyRunning: started.alreadyRunning }, "triggerEtl");
        return { run: started.run, alreadyRunning: started.alreadyRunning };
      },
    }),
    releaseQuarantine: t.field({
      type: TriggerEtlPayload,
      description:
        "Ingests the streams a run held for a source (DRIFT_POLICY_*=quarantine) through the normal write path, applying the renames the held runs up to this one detected; when a record is written or already stored, marks them released and accepts their shape (later runs apply the renames too), else they stay held. Starts a run and returns at once with it; when a run is already going it is returned (alreadyRunning: true) and nothing is released yet: call again once it ends. Needs the API key.",
      args: {
        runId: t.arg.id({ required: true }),
        source: t.arg({ type: SourceEnum, required: true }),
      },
      resolve: async (_r, args, ctx) => {
        requireApiKey(ctx, "releaseQuarantine");
        const runner = ctx.services.runner;
        const runId = parseId(args.runId, "runId");
        if (!ctx.services.enabledSources.includes(args.source))
          throw badInput("source", `not enabled here (ETL_SOURCES): ${args.source}`);
        const held = await ctx.prisma.quarantinedStream.count({
          where: { runId, source: args.source, releasedAt: null },
        });
        if (held === 0) throw notFound(`run ${runId} holds nothing of ${args.source} (or it was released)`);
        const started = await runner.start({ trigger: "API", release: { runId, source: args.source } });
        ctx.logger.info(
          {
            runId: started.run.id,
            releasing: runId,
            source: args.source,
            alreadyRunning: started.alreadyRunning,
          },
          "releaseQuarantine",
        );
        return { run: started.run, alreadyRunning: started.alreadyRunning };
      },
    }),
    resetDriftBaseline: t.boolean({
      description:
        "Forgets a source's drift baseline; the next successful run sets a new one. Needs the API key.",
      args: { source: t.arg({ type: SourceEnum, required: true }) },
      resolve: async (_r, args, ctx) => {
        requireApiKey(ctx, "resetDriftBaseline");
        return resetDriftBaseline(ctx.prisma, args.source);
      },
    }),
  }),
});
