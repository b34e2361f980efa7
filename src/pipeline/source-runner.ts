import type { PrismaClient } from "../db/database.ts";
import type { Prisma } from "../generated/prisma/client.ts";
import type { Logger } from "../logger/logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { createIdentityResolver } from "../sources/identity.ts";
import type {
  MarketSource,
  NormalizedRecord,
  ParsedItem,
  SourceId,
  SourceStream,
} from "../sources/record.ts";
import { UpstreamError } from "../sources/upstream-error.ts";
import { commitBatch } from "./commit-batch.ts";
import {
  type DriftChange,
  diffFingerprints,
  type Fingerprint,
  fingerprint,
  mergeFingerprints,
  missingRequired,
} from "./drift.ts";
import type { EventBus } from "./events.ts";
import type { FailureInjector } from "./failure-injection.ts";
import { archivePayload } from "./raw-archive.ts";

export interface SourceRunDeps {
  prisma: PrismaClient;
  logger: Logger;
  bus: EventBus;
  metrics: Metrics;
  injector: FailureInjector;
  batchSize: number;
  driftPolicy: "warn" | "quarantine";
  signal: AbortSignal;
}

export interface SourceRunResult {
  source: SourceId;
  status: "SUCCEEDED" | "FAILED";
  fetched: number;
  written: number;
  unchanged: number;
  rejected: number;
  quarantined: number;
  error: string | null;
  touchedAssetIds: Set<number>;
  durationMs: number;
}

/** Where a crashed source stopped: recorded on the failed run. */
export class SourceCrash extends Error {
  constructor(
    readonly original: unknown,
    readonly where: { source: SourceId; stream: string | null; committedRecords: number; batches: number },
  ) {
    super(original instanceof Error ? original.message : String(original));
    this.name = "SourceCrash";
  }
}

const NULLABLE_FIELDS = [
  "marketCapUsd",
  "volume24hUsd",
  "change24hPct",
  "circulatingSupply",
  "totalSupply",
  "maxSupply",
  "rank",
] as const satisfies readonly (keyof NormalizedRecord)[];

/** Faults of the source itself (network, upstream, unreadable file): the source fails, the run goes on. */
function isSourceFault(error: unknown): boolean {
  if (error instanceof UpstreamError) return true;
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return typeof code === "string" && ["ENOENT", "EACCES", "EISDIR", "ENOTDIR", "EMFILE"].includes(code);
}

/**
 * Runs one source inside a run: archive each stream, check drift, then write batches (each batch
 * and its checkpoint commit together). Source faults mark the source FAILED and return; database
 * errors, injected failures and interruptions are rethrown as SourceCrash to fail the run.
 */
export async function runSource(
  deps: SourceRunDeps,
  runId: number,
  source: MarketSource,
): Promise<SourceRunResult> {
  const { prisma, bus, metrics } = deps;
  const log = deps.logger.child({ module: "pipeline", runId, source: source.id });
  const started = performance.now();
  const result: SourceRunResult = {
    source: source.id,
    status: "SUCCEEDED",
    fetched: 0,
    written: 0,
    unchanged: 0,
    rejected: 0,
    quarantined: 0,
    error: null,
    touchedAssetIds: new Set(),
    durationMs: 0,
  };
  const [assets, mappings, latest, checkpoints, baselineRow] = await Promise.all([
    prisma.asset.findMany({ select: { id: true, symbol: true, name: true, rank: true } }),
    prisma.assetSource.findMany({ select: { assetId: true, source: true, sourceAssetId: true } }),
    prisma.latestPrice.findMany({
      select: { assetId: true, source: true, priceUsd: true, observedAt: true },
    }),
    prisma.checkpoint.findMany({ where: { source: source.id } }),
    prisma.driftBaseline.findUnique({ where: { source: source.id } }),
  ]);
  const newestPrice = new Map<number, { at: number; price: number }>();
  const watermarks = new Map<number, number>();
  for (const l of latest) {
    const at = l.observedAt.getTime();
    if ((newestPrice.get(l.assetId)?.at ?? -1) < at) newestPrice.set(l.assetId, { at, price: l.priceUsd });
    if (l.source === source.id) watermarks.set(l.assetId, at);
  }
  const resolver = createIdentityResolver({
    assets: assets.map((a) => ({ ...a, latestPriceUsd: newestPrice.get(a.id)?.price ?? null })),
    mappings,
  });
  const checkpointBefore = Object.fromEntries(
    checkpoints.map((c) => [c.stream, { checksum: c.checksum, rowOffset: c.rowOffset }]),
  );
  const sourceRun = await prisma.sourceRun.create({
    data: {
      runId,
      source: source.id,
      checkpointBefore: source.id === "CSV" ? checkpointBefore : { watermarks: watermarks.size },
    },
  });
  const baseline = (baselineRow?.fingerprint ?? null) as Fingerprint | null;
  let union: Fingerprint = {};
  const nulls = Object.fromEntries(NULLABLE_FIELDS.map((f) => [f, 0])) as Record<
    (typeof NULLABLE_FIELDS)[number],
    number
  >;
  let acceptedCount = 0;
  let currentStream: string | null = null;
  let batches = 0;
  let failure: unknown = null;
  const seenAssetIds = new Set<number>();

  const writeBatch = async (stream: SourceStream, items: ParsedItem[], checksum: string) => {
    const records = items.filter((i) => i.ok).length;
    deps.signal.throwIfAborted();
    deps.injector.beforeWrite(records);
    const last = items.at(-1);
    const lastPosition = last ? (last.ok ? last.record.position : last.rejection.position) : -1;
    const outcome = await prisma.$transaction(
      (tx) =>
        commitBatch(
          tx,
          {
            runId,
            sourceRunId: sourceRun.id,
            source: source.id,
            items,
            watermarks: source.id === "CSV" ? null : watermarks,
            checkpoint:
              source.id === "CSV" ? { stream: stream.name, checksum, rowOffset: lastPosition + 1 } : null,
          },
          resolver,
        ),
      { timeout: 120_000, maxWait: 60_000 },
    );
    batches++;
    result.fetched += items.length;
    result.written += outcome.written.length;
    result.unchanged += outcome.unchanged;
    result.rejected += outcome.rejected;
    for (const { record, assetId } of outcome.accepted) {
      acceptedCount++;
      for (const f of NULLABLE_FIELDS) if (record[f] === null) nulls[f]++;
      watermarks.set(assetId, Math.max(watermarks.get(assetId) ?? -1, record.observedAt.getTime()));
    }
    for (const w of outcome.written) result.touchedAssetIds.add(w.assetId);
    for (const id of outcome.seen) seenAssetIds.add(id);
    metrics.records.inc({ source: source.id, outcome: "written" }, outcome.written.length);
    metrics.records.inc({ source: source.id, outcome: "unchanged" }, outcome.unchanged);
    metrics.records.inc({ source: source.id, outcome: "rejected" }, outcome.rejected);
    if (outcome.written.length > 0) {
      bus.publish("batchCommitted", {
        runId,
        source: source.id,
        seqFrom: outcome.written[0]!.seq,
        seqTo: outcome.written.at(-1)!.seq,
        assetIds: [...new Set(outcome.written.map((w) => w.assetId))],
        written: outcome.written.length,
      });
    }
    bus.publish("runStatusChanged", {
      runId,
      status: "RUNNING",
      source: source.id,
      progress: {
        source: source.id,
        fetched: result.fetched,
        written: result.written,
        unchanged: result.unchanged,
        rejected: result.rejected,
      },
    });
  };

  try {
    for await (const stream of source.streams(deps.signal)) {
      currentStream = stream.name;
      await archivePayload(prisma, runId, source.id, stream.payload);
      const checksum = stream.payload.contentHash;
      const cp = checkpoints.find((c) => c.stream === stream.name);
      const skipBelow = cp && cp.checksum === checksum ? cp.rowOffset : 0;
      let batch: ParsedItem[] = [];
      let batchRecords = 0;
      let first = true;
      let quarantine = false;
      for await (const chunk of stream.chunks()) {
        if (first) {
          first = false;
          const print = fingerprint(
            chunk.map((i) => (i.ok ? i.record.raw : i.rejection.raw)),
            stream.fields ?? [],
          );
          union = mergeFingerprints(union, print);
          const missing = baseline ? missingRequired(source.id, baseline, print) : [];
          if (missing.length > 0 && deps.driftPolicy === "quarantine") {
            quarantine = true;
            log.warn({ stream: stream.name, missing }, "required fields missing: stream quarantined");
          }
        }
        if (quarantine) {
          result.fetched += chunk.length;
          result.quarantined += chunk.length;
          continue;
        }
        for (const item of chunk) {
          const position = item.ok ? item.record.position : item.rejection.position;
          if (position < skipBelow) {
            // Committed by an earlier run (same file, same checksum): already ingested.
            result.fetched++;
            result.unchanged++;
            continue;
          }
          batch.push(item);
          if (item.ok) batchRecords++;
          if (batchRecords >= deps.batchSize) {
            await writeBatch(stream, batch, checksum);
            batch = [];
            batchRecords = 0;
          }
        }
      }
      if (batch.length > 0) await writeBatch(stream, batch, checksum);
    }
    const changes = baseline ? diffFingerprints(baseline, union) : [];
    await recordDrift(deps, runId, source.id, changes, union, baseline === null);
  } catch (error) {
    failure = error;
    result.status = "FAILED";
    result.error = error instanceof Error ? error.message : String(error);
    if (!isSourceFault(error)) {
      await finishSourceRun(prisma, sourceRun.id, {
        result,
        started,
        failure: error,
        nullRates: null,
        checkpointAfter: await checkpointsAfter().catch(() => null),
        seenAssetIds,
      }).catch(() => undefined);
      throw new SourceCrash(error, {
        source: source.id,
        stream: currentStream,
        committedRecords: result.written,
        batches,
      });
    }
    log.warn({ err: result.error }, "source failed");
  }
  async function checkpointsAfter() {
    if (source.id !== "CSV") return { watermarks: watermarks.size };
    const rows = await prisma.checkpoint.findMany({ where: { source: source.id } });
    return Object.fromEntries(rows.map((c) => [c.stream, { checksum: c.checksum, rowOffset: c.rowOffset }]));
  }
  const nullRates =
    acceptedCount > 0
      ? Object.fromEntries(
          Object.entries(nulls).map(([k, v]) => [k, Math.round((v / acceptedCount) * 10_000) / 10_000]),
        )
      : null;
  await finishSourceRun(prisma, sourceRun.id, {
    result,
    started,
    failure,
    nullRates,
    checkpointAfter: await checkpointsAfter(),
    seenAssetIds,
  });
  result.durationMs = Math.round(performance.now() - started);
  metrics.sourceDuration.observe({ source: source.id }, result.durationMs / 1000);
  return result;
}

async function finishSourceRun(
  prisma: PrismaClient,
  id: number,
  end: {
    result: SourceRunResult;
    started: number;
    failure: unknown;
    nullRates: Record<string, number> | null;
    checkpointAfter: object | null;
    seenAssetIds: ReadonlySet<number>;
  },
) {
  const { result, failure: error } = end;
  await prisma.sourceRun.update({
    where: { id },
    data: {
      status: result.status,
      finishedAt: new Date(),
      durationMs: Math.round(performance.now() - end.started),
      // Final totals. Batches advanced them as they committed; these also count what never
      // reached a batch (checkpoint skips, quarantined streams).
      fetched: result.fetched,
      written: result.written,
      unchanged: result.unchanged,
      rejected: result.rejected,
      quarantined: result.quarantined,
      error: result.error,
      errorKind: error
        ? error instanceof UpstreamError
          ? error.kind
          : isSourceFault(error)
            ? "permanent"
            : "fatal"
        : null,
      nullRates: end.nullRates ?? undefined,
      checkpointAfter: end.checkpointAfter ?? undefined,
      seenAssetIds: [...end.seenAssetIds].sort((a, b) => a - b),
    },
  });
}

async function recordDrift(
  deps: SourceRunDeps,
  runId: number,
  source: SourceId,
  changes: DriftChange[],
  current: Fingerprint,
  firstBaseline: boolean,
) {
  if (Object.keys(current).length === 0) return;
  if (!firstBaseline && changes.length === 0) return;
  const ids = await deps.prisma.$transaction(async (tx) => {
    const created = [];
    for (const c of changes) {
      created.push(
        await tx.driftEvent.create({
          data: {
            runId,
            source,
            kind: c.kind,
            path: c.path,
            renamedFrom: c.renamedFrom ?? null,
            fromType: c.fromType ?? null,
            toType: c.toType ?? null,
            confidence: c.confidence,
          },
          select: { id: true },
        }),
      );
    }
    // Each change is reported once, then the baseline advances.
    await tx.driftBaseline.upsert({
      where: { source },
      update: { fingerprint: current as unknown as Prisma.InputJsonObject, runId },
      create: { source, fingerprint: current as unknown as Prisma.InputJsonObject, runId },
    });
    return created.map((c) => c.id);
  });
  for (const c of changes) deps.metrics.driftEvents.inc({ source, kind: c.kind });
  if (ids.length > 0) deps.bus.publish("driftDetected", { runId, source, eventIds: ids });
}
