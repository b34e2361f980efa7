import { queryFromInfo } from "@pothos/plugin-prisma";
import type { EtlRun } from "../../generated/prisma/client.ts";
import type { PipelineEvents } from "../../pipeline/events.ts";
import { assetIdOf } from "../../services/assets.ts";
import { badInput } from "../../services/errors.ts";
import { parseId } from "../../services/parse-id.ts";
import { builder } from "../builder.ts";
import type { GraphQLContext } from "../context.ts";
import { abortable } from "../live/abortable.ts";
import { busEvents } from "../live/bus-iterator.ts";
import { candleUpdates } from "../live/candle-feed.ts";
import type { MarketUpdate } from "../live/market-update.ts";
import { CandleUpdateType, IntervalEnum } from "./candle.ts";
import { DriftEventType } from "./drift-event.ts";
import { RunStatusEnum, SourceEnum } from "./enums.ts";
import { EtlRunType } from "./etl-run.ts";
import { LatestPriceType } from "./latest-price.ts";
import { MarketObservationType } from "./market-observation.ts";

const MarketUpdateKindEnum = builder.enumType("MarketUpdateKind", {
  values: {
    UPDATE: { description: "An observation was written; latestPrice is the asset's consensus now" },
    RESYNC: { description: "afterSeq is beyond retention: refetch, then continue from this seq" },
    GAP: { description: "The consumer was too slow: refetch fromSeq..toSeq (mode ALL)" },
    SNAPSHOT: {
      description: "snapshot holds every subscribed asset's consensus as of seq; updates after it follow",
    },
    LIVE: {
      description: "With replaySpeed: the replay of missed updates ended at seq; live updates follow",
    },
    RECONNECT: {
      description:
        "The server is shutting down: reconnect with afterSeq = seq (the last seq sent) to resume gap-free",
    },
    HEARTBEAT: {
      description: "Nothing was sent for SUBSCRIPTION_HEARTBEAT_SECONDS: seq is the latest committed seq",
    },
  } as const,
});

const MarketUpdateModeEnum = builder.enumType("MarketUpdateMode", {
  values: {
    LATEST: { description: "When the buffer fills, keep the newest update per asset" },
    ALL: { description: "When the buffer fills, send a GAP to refetch" },
  } as const,
});

const MarketUpdateType = builder.objectRef<MarketUpdate>("MarketUpdate").implement({
  fields: (t) => ({
    kind: t.field({ type: MarketUpdateKindEnum, resolve: (u) => u.kind }),
    seq: t.field({ type: "BigInt", resolve: (u) => u.seq }),
    fromSeq: t.field({ type: "BigInt", nullable: true, resolve: (u) => u.fromSeq ?? null }),
    toSeq: t.field({ type: "BigInt", nullable: true, resolve: (u) => u.toSeq ?? null }),
    observation: t.field({
      type: MarketObservationType,
      nullable: true,
      resolve: (u, _args, context, info) => {
        // The feed read this row once, with its asset, for every subscriber. Planning this
        // subscriber's selection over it tells Pothos the row is loaded: relations the row holds
        // (asset) resolve from it; any other (run) still loads. Without it, every subscriber
        // re-read the row's asset: one query per subscriber per update.
        if (u.observation) queryFromInfo({ context, info, typeName: "MarketObservation" });
        return u.observation;
      },
    }),
    latestPrice: t.field({ type: LatestPriceType, nullable: true, resolve: (u) => u.latestPrice }),
    snapshot: t.field({
      type: [LatestPriceType],
      nullable: true,
      description: "SNAPSHOT only: the consensus of every subscribed asset as of seq",
      resolve: (u) => u.snapshot ?? null,
    }),
    serverTime: t.field({
      type: "DateTime",
      nullable: true,
      description: "HEARTBEAT only: the server's clock when it was sent",
      resolve: (u) => u.serverTime ?? null,
    }),
  }),
});

type RunEvent = PipelineEvents["runStatusChanged"];

/** A pacing argument: unset is off; otherwise 1..max, anything else is a clear BAD_USER_INPUT. */
function bounded(name: string, value: number | null | undefined, max: number): number | null {
  if (value == null) return null;
  if (value < 1 || value > max) throw badInput(name, `must be between 1 and ${max}`);
  return value;
}

/** Marks when a subscription's event arrived: its result's latencyMs is counted from there. */
const stampEvent = (ctx: GraphQLContext) => () => {
  ctx.liveEventAt = performance.now();
};

const SourceProgressType = builder.objectRef<NonNullable<RunEvent["progress"]>>("SourceProgress").implement({
  fields: (t) => ({
    source: t.field({ type: SourceEnum, resolve: (p) => p.source }),
    fetched: t.exposeInt("fetched"),
    written: t.exposeInt("written"),
    unchanged: t.exposeInt("unchanged"),
    rejected: t.exposeInt("rejected"),
  }),
});

const EtlRunEventType = builder.objectRef<RunEvent>("EtlRunEvent").implement({
  description: "A run's status change, or its progress after each committed batch (status RUNNING).",
  fields: (t) => ({
    runId: t.id({ resolve: (e) => e.runId }),
    status: t.field({ type: RunStatusEnum, resolve: (e) => e.status }),
    progress: t.field({ type: SourceProgressType, nullable: true, resolve: (e) => e.progress ?? null }),
    run: t.prismaField({
      type: EtlRunType,
      resolve: (q, e, _a, ctx) =>
        ctx.prisma.etlRun.findUniqueOrThrow({ ...q, where: { id: e.runId } }) as Promise<EtlRun>,
    }),
  }),
});

builder.subscriptionType({
  fields: (t) => ({
    marketUpdates: t.field({
      type: MarketUpdateType,
      description:
        "Each written observation as its batch commits. Pass the last seq you saw as afterSeq to resume with no gap and no duplicate.",
      args: {
        symbols: t.arg.stringList({ required: false, description: "Every asset with one of these symbols" }),
        assetIds: t.arg.idList({ required: false }),
        sources: t.arg({ type: [SourceEnum], required: false }),
        afterSeq: t.arg({ type: "BigInt", required: false }),
        mode: t.arg({ type: MarketUpdateModeEnum, required: false, defaultValue: "LATEST" }),
        snapshot: t.arg.boolean({
          required: false,
          defaultValue: false,
          description:
            "First a SNAPSHOT of every subscribed asset's consensus as of seq N, then every update after N",
        }),
        replaySpeed: t.arg.float({
          required: false,
          description:
            "With afterSeq: replay missed updates paced by their commit times, this many times as fast, then LIVE",
        }),
        throttleMs: t.arg.int({
          required: false,
          description: "At most one update per asset per this many ms (the newest); 1..3600000",
        }),
        minMoveBps: t.arg.int({
          required: false,
          description:
            "Only updates whose consensus moved at least this many basis points since the last one sent; 1..10000",
        }),
        maxSilenceSeconds: t.arg.int({
          required: false,
          description:
            "With minMoveBps: an asset's newest update is sent anyway this long after its last; 1..86400",
        }),
      },
      subscribe: (_root, args, ctx) => {
        const assetIds = args.assetIds?.map((id) => parseId(id, "assetIds"));
        if (args.afterSeq != null && args.afterSeq < 0n) throw badInput("afterSeq", "must not be negative");
        // Both say where the stream starts: a snapshot starts it at the snapshot's own seq.
        if (args.snapshot && args.afterSeq != null)
          throw badInput("snapshot", "cannot be combined with afterSeq: a snapshot is its own resume point");
        if (args.replaySpeed != null) {
          if (!(args.replaySpeed >= 0.01 && args.replaySpeed <= 1_000_000))
            throw badInput("replaySpeed", "must be at least 0.01 and at most 1000000");
          if (args.afterSeq == null) throw badInput("replaySpeed", "only applies with afterSeq");
        }
        const pacing = {
          throttleMs: bounded("throttleMs", args.throttleMs, 3_600_000),
          minMoveBps: bounded("minMoveBps", args.minMoveBps, 10_000),
          maxSilenceSeconds: bounded("maxSilenceSeconds", args.maxSilenceSeconds, 86_400),
        };
        if (pacing.maxSilenceSeconds !== null && pacing.minMoveBps === null)
          throw badInput("maxSilenceSeconds", "only applies with minMoveBps");
        // ALL promises every update or a GAP; pacing drops and conflates by design.
        if ((pacing.throttleMs !== null || pacing.minMoveBps !== null) && args.mode === "ALL")
          throw badInput("mode", "ALL delivers every update: pacing (throttleMs, minMoveBps) needs LATEST");
        return abortable(
          (signal) =>
            ctx.services.feed.subscribe(
              { symbols: args.symbols, assetIds, sources: args.sources },
              {
                afterSeq: args.afterSeq ?? null,
                mode: args.mode ?? "LATEST",
                snapshot: args.snapshot ?? false,
                backpressure: ctx.backpressure,
                pacing,
                replaySpeed: args.replaySpeed ?? null,
              },
              signal,
            ),
          stampEvent(ctx),
        );
      },
      resolve: (update) => update,
    }),
    candleUpdates: t.field({
      type: CandleUpdateType,
      description:
        "One asset's candles as commits change them: first the newest bucket, then each bucket a commit touched, and a forming bucket once more when it becomes final. The numbers are priceHistory's.",
      args: {
        asset: t.arg.string({ required: true, description: "Asset id or symbol" }),
        interval: t.arg({ type: IntervalEnum, required: true }),
      },
      subscribe: async (_root, args, ctx) => {
        // Resolved before the stream starts: an unknown asset is an error, not a silent stream.
        const assetId = await assetIdOf(ctx.prisma, args.asset);
        return abortable(
          (signal) =>
            candleUpdates(
              {
                prisma: ctx.prisma,
                bus: ctx.services.bus,
                finality: ctx.services.candleFinality,
                logger: ctx.logger,
              },
              assetId,
              args.interval,
              { signal, backpressure: ctx.backpressure },
            ),
          stampEvent(ctx),
        );
      },
      resolve: (update) => update,
    }),
    driftWarnings: t.prismaField({
      type: DriftEventType,
      description: "Schema drift events as runs detect them.",
      args: { source: t.arg({ type: SourceEnum, required: false }) },
      subscribe: (_root, args, ctx) =>
        abortable(async function* (signal) {
          for await (const event of busEvents(ctx.services.bus, "driftDetected", signal, {
            accept: (e) => !args.source || e.source === args.source,
            capacity: ctx.services.subscriptionBufferSize,
            backpressure: ctx.backpressure,
          })) {
            for (const id of event.eventIds) yield id;
          }
        }, stampEvent(ctx)),
      resolve: (query, id, _args, ctx) =>
        ctx.prisma.driftEvent.findUniqueOrThrow({ ...query, where: { id: id as unknown as number } }),
    }),
    etlRunEvents: t.field({
      type: EtlRunEventType,
      description: "Run status changes and per-batch progress (all runs, or one).",
      args: { runId: t.arg.id({ required: false }) },
      subscribe: (_root, args, ctx) => {
        const runId = args.runId == null ? null : parseId(args.runId, "runId");
        return abortable(
          (signal) =>
            busEvents(ctx.services.bus, "runStatusChanged", signal, {
              accept: (e) => runId === null || e.runId === runId,
              capacity: ctx.services.subscriptionBufferSize,
              // A slow client gets each run's newest progress per source, and every status change.
              keyOf: (e) => (e.progress ? `${e.runId}:${e.progress.source}` : null),
              backpressure: ctx.backpressure,
            }),
          stampEvent(ctx),
        );
      },
      resolve: (event) => event,
    }),
  }),
});
