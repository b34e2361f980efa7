import type { Database } from "../db/database.ts";
import type { Logger } from "../logger/logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type {
  MarketSource,
  NormalizedRecord,
  ParsedItem,
  SourceId,
  SourceStream,
} from "../sources/record.ts";
import { clearUnlistedRanks } from "./batch-writer.ts";
import type { BatchRules } from "./commit-batch.ts";
import {
  diffFingerprints,
  type Fingerprint,
  fingerprint,
  mergeFingerprints,
  missingRequired,
} from "./drift.ts";
import { acceptReleased, loadBaseline, recordDrift } from "./drift-baseline.ts";
import type { EventBus } from "./events.ts";
import type { FailureInjector } from "./failure-injection.ts";
import { createIdentityResolver } from "./identity.ts";
import { loadIncremental } from "./incremental.ts";
import { holdStream, type ReleasePlan } from "./quarantine.ts";
import { archivePayload } from "./raw-archive.ts";
import { createSourceBatches } from "./source-batches.ts";
import { finishSourceRun, isSourceFault } from "./source-run-finish.ts";
import { type Counts, createTally } from "./source-tally.ts";

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
  /** The service's scrubber: a source's error (an upstream's decoded message) is stored scrubbed. */
  scrub: (text: string) => string;
  rules: Omit<BatchRules, "now">;
  signal: AbortSignal;
}

export interface SourceRunResult extends Omit<Counts, "rejectedTruncated"> {
  source: SourceId;
  status: "SUCCEEDED" | "FAILED";
  error: string | null;
  touchedAssetIds: Set<number>;
  durationMs: number;
}

/**
 * A release whose records mostly went in (written or already stored). One that rejected most
 * (a field gone, not renamed) fails its source and leaves the streams held, baseline unmoved.
 */
export const releaseIngested = (counts: { written: number; unchanged: number; rejected: number }) =>
  counts.written + counts.unchanged > counts.rejected;

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

/** The shortest interval between two progress events of one source run. */
const PROGRESS_EVERY_MS = 250;

/** The first chunk (for the fingerprint), then the same items as if nothing had been read. */
async function* withFirst(first: ParsedItem[], rest: AsyncIterator<ParsedItem[]>) {
  yield first;
  for (let next = await rest.next(); !next.done; next = await rest.next()) yield next.value;
}

/**
 * Runs one source inside a run: archive each stream, check drift, then write its items in batches
 * (source-batches.ts: each batch and its checkpoint commit together). Source faults mark the
 * source FAILED and return; database errors, injected failures and interruptions are rethrown as
 * SourceCrash to fail the run. With a release plan, the held streams are ingested from the
 * archive instead, with the drift gate off.
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
  const [assets, mappings, incremental, baseline] = await Promise.all([
    prisma.asset.findMany({ select: { id: true, symbol: true, name: true, rank: true } }),
    prisma.assetSource.findMany({
      select: { assetId: true, source: true, file: true, sourceAssetId: true, symbol: true },
    }),
    loadIncremental(prisma, source),
    loadBaseline(prisma, source.id),
  ]);
  const resolver = createIdentityResolver({ assets, mappings });
  const sourceRun = await prisma.sourceRun.create({
    data: { runId, source: source.id, checkpointBefore: incremental.before() },
  });
  const renames = { ...baseline.renames, ...release?.renames };
  const tally = createTally();
  const touched = new Set<number>();
  const seenAssetIds = new Set<number>();
  const nulls = Object.fromEntries(NULLABLE_FIELDS.map((f) => [f, 0])) as Record<string, number>;
  let acceptedCount = 0;
  let lastProgress = 0;
  // Progress after the first batch, then at most every PROGRESS_EVERY_MS, and once more at the
  // end: a file of a million rows is 2,000 batches, and every event crosses the cluster (NOTIFY)
  // and starts a new response-cache generation.
  const publishProgress = (final: boolean) => {
    const now = performance.now();
    if (final ? lastProgress === 0 : lastProgress !== 0 && now - lastProgress < PROGRESS_EVERY_MS) return;
    lastProgress = now;
    const { fetched, written, unchanged, rejected } = tally.total;
    bus.publish("runStatusChanged", {
      runId,
      status: "RUNNING",
      source: source.id,
      progress: { source: source.id, fetched, written, unchanged, rejected },
    });
  };
  const batches = createSourceBatches({
    ...deps,
    runId,
    sourceRunId: sourceRun.id,
    source: source.id,
    resolver,
    incremental,
    // Released records are history the source sent back then: later runs' watermarks do not
    // make them stale (latest_price still moves only forward, names and ranks too).
    release: release !== undefined,
    tally,
    onCommitted(outcome) {
      for (const { record } of outcome.accepted) {
        acceptedCount++;
        for (const f of NULLABLE_FIELDS) if (record[f] === null) nulls[f]!++;
      }
      for (const w of outcome.written) touched.add(w.assetId);
      for (const id of outcome.seen) seenAssetIds.add(id);
      for (const outcomeName of ["written", "unchanged", "rejected"] as const)
        metrics.records.inc({ source: source.id, outcome: outcomeName }, outcome.counts[outcomeName]);
      publishProgress(false);
    },
  });

  let union: Fingerprint = {};
  let held = 0;
  let currentStream: string | null = null;
  let failure: unknown = null;
  const streams: AsyncIterable<SourceStream> = release
    ? (async function* () {
        for (const s of release.streams) yield source.fromArchive!(s.name, s.payload, { renames });
      })()
    : source.streams({ signal: deps.signal, renames });

  try {
    for await (const stream of streams) {
      currentStream = stream.name;
      const payloadId = await archivePayload(deps.db, runId, source.id, stream.payload);
      const chunks = stream.chunks()[Symbol.asyncIterator]();
      const first = await chunks.next();
      if (first.done) continue;
      const print = fingerprint(
        first.value.map((i) => (i.ok ? i.record.raw : i.rejection.raw)),
        stream.fields ?? [],
      );
      union = mergeFingerprints(union, print);
      const missing =
        baseline.accepted && !release ? missingRequired(source.id, baseline.accepted, print, renames) : [];
      if (missing.length > 0 && deps.driftPolicy === "quarantine") {
        await chunks.return?.();
        const records = await holdStream(prisma, { runId, source: source.id, stream, payloadId, missing });
        tally.note({ fetched: records, quarantined: records });
        metrics.records.inc({ source: source.id, outcome: "quarantined" }, records);
        held++;
        log.warn({ stream: stream.name, missing, records }, "required fields missing: stream quarantined");
        continue;
      }
      await batches.write(stream, withFirst(first.value, chunks));
    }
    publishProgress(true);
    if (release) {
      // Only a release that ingested something moves the baseline: one whose every row was
      // rejected stays held (run-execution.ts), and the baseline with it.
      if (releaseIngested(tally.total)) await acceptReleased(prisma, source.id, union, renames);
      else {
        const { rejected, fetched } = tally.total;
        failure = new Error(
          `release rejected ${rejected} of ${fetched} records (see rejectedRecords): the streams stay held`,
        );
        log.warn(tally.total, "released streams mostly rejected: they stay held");
      }
    } else {
      await recordDrift({ prisma, bus, metrics }, runId, source.id, {
        changes: baseline.reported ? diffFingerprints(baseline.reported, union) : [],
        current: union,
        firstBaseline: baseline.reported === null,
        accept: held === 0,
      });
    }
    // The latest successful listing decides ranks: coins it no longer lists lose theirs.
    if (incremental.kind === "watermark" && held === 0 && !release) {
      // The longer of the last two successful listings: one short listing (or two in a row) is
      // not yet the market.
      const previous = await prisma.sourceRun.findMany({
        where: { source: source.id, status: "SUCCEEDED", id: { lt: sourceRun.id } },
        orderBy: { id: "desc" },
        take: 2,
        select: { seenAssetIds: true },
      });
      const previousListing =
        previous.length > 0 ? Math.max(...previous.map((p) => p.seenAssetIds.length)) : null;
      const cleared = await clearUnlistedRanks(prisma, source.id, seenAssetIds, previousListing);
      if (cleared === "skipped")
        log.warn(
          { listed: seenAssetIds.size, previousListing },
          "listing under 90 % of the previous ones: ranks kept until later listings confirm it",
        );
    }
  } catch (error) {
    failure = error;
    if (!isSourceFault(error)) {
      await finishSourceRun(prisma, deps.scrub, sourceRun.id, {
        counts: tally.total,
        started,
        failure: error,
        nullRates: null,
        checkpointAfter: await incremental.after(prisma, source.id).catch(() => null),
        seenAssetIds,
      }).catch(() => undefined);
      throw new SourceCrash(error, {
        source: source.id,
        stream: currentStream,
        committedRecords: tally.total.written,
        batches: batches.commits,
      });
    }
    log.warn({ err: (error as Error).message }, "source failed");
  }
  const nullRates =
    acceptedCount > 0
      ? Object.fromEntries(
          Object.entries(nulls).map(([k, v]) => [k, Math.round((v / acceptedCount) * 10_000) / 10_000]),
        )
      : null;
  await finishSourceRun(prisma, deps.scrub, sourceRun.id, {
    counts: tally.total,
    started,
    failure,
    nullRates,
    checkpointAfter: await incremental.after(prisma, source.id),
    seenAssetIds,
  });
  const durationMs = Math.round(performance.now() - started);
  metrics.sourceDuration.observe({ source: source.id }, durationMs / 1000);
  const { rejectedTruncated: _, ...counts } = tally.total;
  return {
    source: source.id,
    status: failure ? "FAILED" : "SUCCEEDED",
    ...counts,
    error: failure ? deps.scrub(failure instanceof Error ? failure.message : String(failure)) : null,
    touchedAssetIds: touched,
    durationMs,
  };
}
