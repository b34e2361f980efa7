import type { Database, PrismaClient } from "../db/database.ts";
import type { Prisma } from "../generated/prisma/client.ts";
import type { Logger } from "../logger/logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { createIdentityResolver } from "../sources/identity.ts";
import type {
  FetchedPayload,
  MarketSource,
  NormalizedRecord,
  ParsedItem,
  Renames,
  SourceId,
  SourceStream,
} from "../sources/record.ts";
import { UpstreamError } from "../sources/upstream-error.ts";
import { clearUnlistedRanks } from "./batch-writer.ts";
import { type BatchRules, commitBatch } from "./commit-batch.ts";
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
  db: Database;
  logger: Logger;
  bus: EventBus;
  metrics: Metrics;
  injector: FailureInjector;
  /** ETL_BATCH_SIZE: input items per write transaction, whatever their fate. */
  batchSize: number;
  /** ETL_REJECTED_ROWS_KEPT: rejected rows stored in full per source run; the rest are counted. */
  rejectedRowsKept: number;
  driftPolicy: "warn" | "quarantine";
  rules: Omit<BatchRules, "now">;
  signal: AbortSignal;
}

/** Held streams to ingest again (releaseQuarantine): their archived payloads and the renames to apply. */
export interface ReleasePlan {
  fromRunId: number;
  streams: { name: string; payload: FetchedPayload }[];
  renames: Renames;
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

/** The shortest interval between two progress events of one source run. */
const PROGRESS_EVERY_MS = 250;

const positionOf = (item: ParsedItem) => (item.ok ? item.record.position : item.rejection.position);

/**
 * Runs one source inside a run: archive each stream, check drift, then write batches (each batch
 * and its checkpoint commit together). Source faults mark the source FAILED and return; database
 * errors, injected failures and interruptions are rethrown as SourceCrash to fail the run. With
 * a release plan, the held streams are ingested from the archive instead, with the drift gate off.
 */
export async function runSource(
  deps: SourceRunDeps,
  runId: number,
  source: MarketSource,
  release?: ReleasePlan,
): Promise<SourceRunResult> {
  const { bus, metrics } = deps;
  const prisma = deps.db.prisma;
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
  const checkpointKind = source.id === "CSV" ? "file" : "watermark";
  const [assets, mappings, latest, checkpoints, baselineRow] = await Promise.all([
    prisma.asset.findMany({ select: { id: true, symbol: true, name: true, rank: true } }),
    prisma.assetSource.findMany({
      select: { assetId: true, source: true, file: true, sourceAssetId: true, symbol: true },
    }),
    prisma.latestPrice.findMany({
      where: { source: source.id },
      select: { assetId: true, observedAt: true },
    }),
    prisma.checkpoint.findMany({ where: { source: source.id } }),
    prisma.driftBaseline.findUnique({ where: { source: source.id } }),
  ]);
  const watermarks = new Map(latest.map((l) => [l.assetId, l.observedAt.getTime()]));
  const resolver = createIdentityResolver({ assets, mappings });
  const checkpointBefore = Object.fromEntries(
    checkpoints.map((c) => [c.stream, { checksum: c.checksum, rowOffset: c.rowOffset }]),
  );
  const sourceRun = await prisma.sourceRun.create({
    data: {
      runId,
      source: source.id,
      checkpointBefore: checkpointKind === "file" ? checkpointBefore : { watermarks: watermarks.size },
    },
  });
  const reported = (baselineRow?.fingerprint ?? null) as Fingerprint | null;
  const accepted = (baselineRow?.accepted ?? baselineRow?.fingerprint ?? null) as Fingerprint | null;
  const renames = { ...((baselineRow?.renames ?? {}) as Renames), ...release?.renames };
  let union: Fingerprint = {};
  const nulls = Object.fromEntries(NULLABLE_FIELDS.map((f) => [f, 0])) as Record<
    (typeof NULLABLE_FIELDS)[number],
    number
  >;
  let acceptedCount = 0;
  let rejectedKept = 0;
  let currentStream: string | null = null;
  let batches = 0;
  let held = 0;
  let failure: unknown = null;
  const seenAssetIds = new Set<number>();

  /**
   * Writes one batch: `items` in full, plus `surplus` rejected items that were only counted (once
   * ETL_REJECTED_ROWS_KEPT are stored, rejected rows are not kept in memory either). `end` is the
   * position after the batch's last input item, where the checkpoint moves to.
   */
  const writeBatch = async (stream: SourceStream, items: ParsedItem[], surplus: number, end: number) => {
    const records = items.filter((i) => i.ok).length;
    deps.signal.throwIfAborted();
    deps.injector.beforeWrite(records);
    const outcome = await prisma.$transaction(
      (tx) =>
        commitBatch(
          tx,
          {
            runId,
            sourceRunId: sourceRun.id,
            source: source.id,
            items,
            surplusRejected: surplus,
            watermarks: checkpointKind === "watermark" ? watermarks : null,
            checkpoint:
              checkpointKind === "file"
                ? { stream: stream.name, checksum: stream.payload.contentHash, rowOffset: end }
                : null,
            rejectionRoom: deps.rejectedRowsKept - rejectedKept,
          },
          resolver,
          { ...deps.rules, now: Date.now() },
        ),
      { timeout: 120_000, maxWait: 60_000 },
    );
    batches++;
    rejectedKept += outcome.rejectedKept;
    result.fetched += items.length + surplus;
    result.written += outcome.counts.written;
    result.unchanged += outcome.counts.unchanged;
    result.rejected += outcome.counts.rejected;
    for (const { record, assetId } of outcome.accepted) {
      acceptedCount++;
      for (const f of NULLABLE_FIELDS) if (record[f] === null) nulls[f]++;
      watermarks.set(assetId, Math.max(watermarks.get(assetId) ?? -1, record.observedAt.getTime()));
    }
    for (const w of outcome.written) result.touchedAssetIds.add(w.assetId);
    for (const id of outcome.seen) seenAssetIds.add(id);
    metrics.records.inc({ source: source.id, outcome: "written" }, outcome.counts.written);
    metrics.records.inc({ source: source.id, outcome: "unchanged" }, outcome.counts.unchanged);
    metrics.records.inc({ source: source.id, outcome: "rejected" }, outcome.counts.rejected);
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
    publishProgress(false);
  };

  // Progress after the first batch, then at most every PROGRESS_EVERY_MS, and once more at the
  // end: a file of a million rows is 2,000 batches, and every event crosses the cluster (NOTIFY)
  // and starts a new response-cache generation.
  let lastProgress = 0;
  const publishProgress = (final: boolean) => {
    const now = performance.now();
    if (!final && lastProgress !== 0 && now - lastProgress < PROGRESS_EVERY_MS) return;
    if (final && lastProgress === 0) return;
    lastProgress = now;
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

  /** A stream whose required fields vanished: counted, kept in the archive, ingested on release. */
  const hold = async (stream: SourceStream, payloadId: number, missing: string[]) => {
    let records = 0;
    for await (const chunk of stream.chunks()) records += chunk.length;
    await prisma.quarantinedStream.create({
      data: { runId, source: source.id, stream: stream.name, payloadId, records, missingFields: missing },
    });
    await prisma.sourceRun.update({
      where: { id: sourceRun.id },
      data: { fetched: { increment: records }, quarantined: { increment: records } },
    });
    result.fetched += records;
    result.quarantined += records;
    metrics.records.inc({ source: source.id, outcome: "quarantined" }, records);
    held++;
    log.warn({ stream: stream.name, missing, records }, "required fields missing: stream quarantined");
  };

  const streams: AsyncIterable<SourceStream> = release
    ? (async function* () {
        for (const s of release.streams) yield source.fromArchive!(s.name, s.payload, { renames });
      })()
    : source.streams({ signal: deps.signal, renames });

  try {
    for await (const stream of streams) {
      currentStream = stream.name;
      const payloadId = await archivePayload(deps.db, runId, source.id, stream.payload);
      const cp = checkpoints.find((c) => c.stream === stream.name);
      const skipBelow = cp && cp.checksum === stream.payload.contentHash ? cp.rowOffset : 0;
      let batch: ParsedItem[] = [];
      let size = 0;
      let surplus = 0;
      let heldRejections = 0;
      let end = 0;
      let first = true;
      for await (const chunk of stream.chunks()) {
        if (first) {
          first = false;
          const print = fingerprint(
            chunk.map((i) => (i.ok ? i.record.raw : i.rejection.raw)),
            stream.fields ?? [],
          );
          union = mergeFingerprints(union, print);
          const missing = accepted && !release ? missingRequired(source.id, accepted, print, renames) : [];
          if (missing.length > 0 && deps.driftPolicy === "quarantine") {
            await hold(stream, payloadId, missing);
            break;
          }
        }
        for (const item of chunk) {
          if (positionOf(item) < skipBelow) {
            // Committed by an earlier run (same file, same checksum): already ingested.
            result.fetched++;
            result.unchanged++;
            continue;
          }
          // A batch closes after batchSize input items, accepted or not: memory, transaction
          // size and checkpoint progress are bounded by the batch, never by the input. Rejected
          // rows beyond what is stored in full are counted, not held.
          if (!item.ok && rejectedKept + heldRejections >= deps.rejectedRowsKept) surplus++;
          else {
            batch.push(item);
            if (!item.ok) heldRejections++;
          }
          size++;
          end = positionOf(item) + 1;
          if (size >= deps.batchSize) {
            await writeBatch(stream, batch, surplus, end);
            batch = [];
            size = 0;
            surplus = 0;
            heldRejections = 0;
          }
        }
      }
      if (size > 0) await writeBatch(stream, batch, surplus, end);
    }
    publishProgress(true);
    if (!release) {
      const changes = reported ? diffFingerprints(reported, union) : [];
      await recordDrift(deps, runId, source.id, changes, union, reported === null, held === 0);
    } else if (Object.keys(union).length > 0) {
      // Released: the payload's shape is accepted, with the renames that make it readable.
      await prisma.driftBaseline.update({
        where: { source: source.id },
        data: {
          accepted: union as unknown as Prisma.InputJsonObject,
          renames: renames as Prisma.InputJsonObject,
        },
      });
    }
    // The latest successful listing decides ranks: coins it no longer lists lose theirs.
    if (checkpointKind === "watermark" && held === 0 && !release) {
      await clearUnlistedRanks(prisma, source.id, seenAssetIds);
    }
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
    if (checkpointKind === "watermark") return { watermarks: watermarks.size };
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

/**
 * Each change is reported once, then the reporting baseline advances. The accepted baseline (what
 * required fields are checked against) advances only when nothing was held: a quarantine holds
 * until it is released, instead of becoming the new normal.
 */
async function recordDrift(
  deps: SourceRunDeps,
  runId: number,
  source: SourceId,
  changes: DriftChange[],
  current: Fingerprint,
  firstBaseline: boolean,
  accept: boolean,
) {
  if (Object.keys(current).length === 0) return;
  if (!firstBaseline && changes.length === 0 && !accept) return;
  const print = current as unknown as Prisma.InputJsonObject;
  const ids = await deps.db.prisma.$transaction(async (tx) => {
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
    await tx.driftBaseline.upsert({
      where: { source },
      update: { fingerprint: print, runId, ...(accept ? { accepted: print } : {}) },
      create: { source, fingerprint: print, accepted: print, runId },
    });
    return created.map((c) => c.id);
  });
  for (const c of changes) deps.metrics.driftEvents.inc({ source, kind: c.kind });
  if (ids.length > 0) deps.bus.publish("driftDetected", { runId, source, eventIds: ids });
}
