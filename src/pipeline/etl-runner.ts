import { hostname } from "node:os";
import type { Database } from "../db/database.ts";
import type { EtlRun, RunTrigger } from "../generated/prisma/client.ts";
import type { Logger } from "../logger/logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { MarketSource, SourceId } from "../sources/record.ts";
import type { BatchRules } from "./commit-batch.ts";
import type { EventBus } from "./events.ts";
import type { FailureInjector } from "./failure-injection.ts";
import { recordRunAnomalies } from "./run-checks.ts";
import { tryRunLock } from "./run-lock.ts";
import { type ReleasePlan, runSource, SourceCrash, type SourceRunResult } from "./source-runner.ts";

export const SOURCE_ORDER: readonly SourceId[] = ["COINGECKO", "COINPAPRIKA", "CSV"];

export interface EtlRunnerDeps {
  db: Database;
  sources: ReadonlyMap<SourceId, MarketSource>;
  logger: Logger;
  bus: EventBus;
  metrics: Metrics;
  injector: FailureInjector;
  batchSize: number;
  /** ETL_REJECTED_ROWS_KEPT: rejected rows stored in full per source run. */
  rejectedRowsKept: number;
  /** Time and identity checks every record passes (MAX_CLOCK_SKEW_SECONDS, IDENTITY_MAX_PRICE_RATIO). */
  rules: Omit<BatchRules, "now">;
  driftPolicies: Record<SourceId, "warn" | "quarantine">;
  checks: { freshnessMs: number; deviationPct: number; countDropPct: number; maxSkewMs: number };
  /** RAW_PAYLOAD_RETENTION_DAYS: payloads no run has seen for this long are pruned after each run. */
  rawRetentionDays?: number;
  /** ETL_RUN_TIMEOUT_SECONDS in ms: a run still going after this long is stopped and FAILED. */
  runTimeoutMs?: number;
  /** The service's scrubber, for the error strings this runner stores and logs. */
  scrub?: (text: string) => string;
}

export interface StartOptions {
  trigger: RunTrigger;
  /** Defaults to every configured source. */
  sources?: SourceId[];
  idempotencyKey?: string;
  /** Scheduled runs: the slot ⌊now / interval⌋; a slot that already has a run is skipped. */
  scheduleSlot?: bigint;
  /** releaseQuarantine: ingest the streams this run held for this source (the only source run). */
  release?: { runId: number; source: SourceId };
}

/** One source of a finished run, as the CLI's --json line and callers see it. */
export type SourceSummary = Pick<
  SourceRunResult,
  "source" | "status" | "fetched" | "written" | "unchanged" | "rejected" | "quarantined" | "error"
>;

export interface RunSummary {
  runId: number;
  status: "SUCCEEDED" | "PARTIAL" | "FAILED";
  durationMs: number;
  error: string | null;
  alreadyRunning: boolean;
  sources: SourceSummary[];
}

export interface StartResult {
  run: EtlRun;
  alreadyRunning: boolean;
  /** True when a scheduled slot already had its run and nothing was started. */
  skipped: boolean;
  done: Promise<RunSummary>;
}

export class RunLockBusyError extends Error {
  constructor() {
    super("another process holds the ETL run lock but no running run is recorded yet; try again");
    this.name = "RunLockBusyError";
  }
}

/** The abort reason of a run that overran ETL_RUN_TIMEOUT_SECONDS; its message is the run's error. */
export class RunTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`timed out: the run was still going after ${timeoutMs / 1000} s (ETL_RUN_TIMEOUT_SECONDS)`);
    this.name = "RunTimeoutError";
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Bookkeeping after a database hiccup: a pooled connection killed by the server fails its next
 * query once, and the pool replaces it. Three tries spaced out ride over that.
 */
async function retried<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= 3) throw error;
      await sleep(150 * attempt);
    }
  }
}

/**
 * Runs ETL: one run at a time across processes (advisory lock on PostgreSQL, in-process on
 * PGlite). A run left RUNNING by a dead process is marked FAILED (abandoned) by the next one.
 */
export function createEtlRunner(deps: EtlRunnerDeps) {
  const { db, bus, metrics } = deps;
  const prisma = db.prisma;
  const log = deps.logger.child({ module: "etl" });
  const owner = `${hostname()}:${process.pid}`;
  const scrub = deps.scrub ?? ((text: string) => text);
  let active: { runId: number; done: Promise<RunSummary>; abort: AbortController } | null = null;

  async function summaryOf(runId: number, alreadyRunning: boolean): Promise<RunSummary> {
    const run = await prisma.etlRun.findUniqueOrThrow({
      where: { id: runId },
      include: { sources: { orderBy: { id: "asc" } } },
    });
    return {
      runId: run.id,
      status: run.status === "RUNNING" ? "FAILED" : run.status,
      durationMs: run.durationMs ?? 0,
      error: run.error,
      alreadyRunning,
      sources: run.sources.map((s) => ({
        source: s.source,
        status: s.status === "SUCCEEDED" ? "SUCCEEDED" : "FAILED",
        fetched: s.fetched,
        written: s.written,
        unchanged: s.unchanged,
        rejected: s.rejected,
        quarantined: s.quarantined,
        error: s.error,
      })),
    };
  }

  /** Waits for a run (of this or another process) to leave RUNNING. */
  async function waitFor(runId: number, alreadyRunning: boolean): Promise<RunSummary> {
    if (active?.runId === runId) {
      const summary = await active.done;
      return { ...summary, alreadyRunning };
    }
    for (;;) {
      const run = await prisma.etlRun.findUnique({ where: { id: runId }, select: { status: true } });
      if (run?.status !== "RUNNING") return summaryOf(runId, alreadyRunning);
      await sleep(250);
    }
  }

  /** Callers may ignore `done` (a trigger returns at once): never let it reject unhandled. */
  function handled<T>(promise: Promise<T>): Promise<T> {
    promise.catch(() => undefined);
    return promise;
  }

  async function start(options: StartOptions): Promise<StartResult> {
    const key = options.idempotencyKey;
    if (key) {
      // The run created with this key, or the one a trigger with it joined.
      const existing =
        (await prisma.etlRun.findUnique({ where: { idempotencyKey: key } })) ??
        (await prisma.runIdempotencyKey.findUnique({ where: { key }, include: { run: true } }))?.run;
      if (existing) {
        const running = existing.status === "RUNNING";
        return {
          run: existing,
          alreadyRunning: running,
          skipped: false,
          done: handled(waitFor(existing.id, running)),
        };
      }
    }
    let lock = await tryRunLock(db);
    for (let attempt = 0; !lock && attempt < 40; attempt++) {
      const running = await prisma.etlRun.findFirst({
        where: { status: "RUNNING" },
        orderBy: { id: "desc" },
      });
      if (running) {
        // Joined, not started: the key still names this run, so a retry after it ends gets it back.
        if (key)
          await prisma.runIdempotencyKey.createMany({
            data: [{ key, runId: running.id }],
            skipDuplicates: true,
          });
        return {
          run: running,
          alreadyRunning: true,
          skipped: false,
          done: handled(waitFor(running.id, true)),
        };
      }
      await sleep(100);
      lock = await tryRunLock(db);
    }
    if (!lock) throw new RunLockBusyError();
    let run: EtlRun;
    try {
      // We hold the lock, so any run still RUNNING belongs to a process that died.
      const abandoned = await prisma.etlRun.updateMany({
        where: { status: "RUNNING" },
        data: {
          status: "FAILED",
          finishedAt: new Date(),
          error: "abandoned: the process running it stopped before it finished",
        },
      });
      if (abandoned.count > 0) {
        await prisma.sourceRun.updateMany({
          where: { status: "RUNNING" },
          data: { status: "FAILED", finishedAt: new Date(), error: "abandoned", errorKind: "fatal" },
        });
        log.warn({ count: abandoned.count }, "marked abandoned runs FAILED");
      }
      if (options.scheduleSlot !== undefined) {
        const taken = await prisma.etlRun.findFirst({ where: { scheduleSlot: options.scheduleSlot } });
        if (taken) {
          await lock.release();
          return {
            run: taken,
            alreadyRunning: false,
            skipped: true,
            done: handled(summaryOf(taken.id, false)),
          };
        }
      }
      const wanted = options.release ? [options.release.source] : options.sources;
      const requested = SOURCE_ORDER.filter(
        (s) => deps.sources.has(s) && (wanted === undefined || wanted.includes(s)),
      );
      run = await prisma.etlRun.create({
        data: {
          trigger: options.trigger,
          requested,
          idempotencyKey: options.idempotencyKey ?? null,
          scheduleSlot: options.scheduleSlot ?? null,
          owner,
        },
      });
    } catch (error) {
      await lock.release();
      // Two callers with one idempotency key: the loser returns the winner's run.
      if (options.idempotencyKey && (error as { code?: string }).code === "P2002") return start(options);
      throw error;
    }
    const abort = new AbortController();
    const heldLock = lock;
    heldLock.lost.addEventListener(
      "abort",
      () =>
        abort.abort(
          new Error(
            `run lock connection lost: ${(heldLock.lost.reason as Error | undefined)?.message ?? "closed"}`,
          ),
        ),
      { once: true },
    );
    // The run's deadline: every wait of the run (HTTP, rate limits, backoff, batches) watches this signal.
    const deadline =
      deps.runTimeoutMs && deps.runTimeoutMs > 0
        ? setTimeout(() => abort.abort(new RunTimeoutError(deps.runTimeoutMs!)), deps.runTimeoutMs)
        : undefined;
    log.info({ runId: run.id, trigger: run.trigger, sources: run.requested }, "run started");
    bus.publish("runStatusChanged", { runId: run.id, status: "RUNNING" });
    const done = handled(
      execute(run, abort.signal, options.release).finally(() => {
        clearTimeout(deadline);
        return heldLock.release();
      }),
    );
    active = { runId: run.id, done, abort };
    void done.finally(() => {
      if (active?.runId === run.id) active = null;
    });
    return { run, alreadyRunning: false, skipped: false, done };
  }

  /** The streams a run held for a source, from the raw archive, and the renames its drift found. */
  async function releasePlan(fromRunId: number, source: SourceId): Promise<ReleasePlan & { ids: number[] }> {
    const held = await prisma.quarantinedStream.findMany({
      where: { runId: fromRunId, source, releasedAt: null },
      include: { payload: true },
      orderBy: { id: "asc" },
    });
    const renamed = await prisma.driftEvent.findMany({
      where: { runId: fromRunId, source, kind: "RENAMED", renamedFrom: { not: null } },
      select: { renamedFrom: true, path: true },
    });
    return {
      fromRunId,
      ids: held.map((h) => h.id),
      renames: Object.fromEntries(renamed.map((r) => [r.renamedFrom!, r.path])),
      streams: held.map((h) => ({
        name: h.stream,
        payload: {
          request: h.payload.request as ReleasePlan["streams"][number]["payload"]["request"],
          status: h.payload.status,
          contentType: h.payload.contentType,
          body: h.payload.body,
          contentHash: h.payload.contentHash,
          sizeBytes: h.payload.sizeBytes,
        },
      })),
    };
  }

  async function execute(
    run: EtlRun,
    signal: AbortSignal,
    release?: StartOptions["release"],
  ): Promise<RunSummary> {
    const started = performance.now();
    const results: SourceRunResult[] = [];
    let crash: SourceCrash | Error | null = null;
    for (const id of run.requested) {
      const source = deps.sources.get(id);
      if (!source) continue;
      try {
        const plan = release ? await releasePlan(release.runId, id) : undefined;
        const outcome = await runSource(
          {
            db,
            logger: deps.logger,
            bus,
            metrics,
            injector: deps.injector,
            batchSize: deps.batchSize,
            rejectedRowsKept: deps.rejectedRowsKept,
            rules: deps.rules,
            // Released streams pass with the drift gate off: an operator decided.
            driftPolicy: plan ? "warn" : deps.driftPolicies[id],
            signal,
          },
          run.id,
          source,
          plan,
        );
        results.push(outcome);
        if (plan && outcome.status === "SUCCEEDED") {
          await prisma.quarantinedStream.updateMany({
            where: { id: { in: plan.ids } },
            data: { releasedAt: new Date(), releaseRunId: run.id },
          });
        }
      } catch (error) {
        crash = error instanceof Error ? error : new Error(String(error));
        break;
      }
    }
    if (!crash) {
      const touched = new Set(results.flatMap((r) => [...r.touchedAssetIds]));
      await recordRunAnomalies(prisma, run.id, touched, results, deps.checks).catch((error: unknown) => {
        crash = error instanceof Error ? error : new Error(String(error));
      });
    }
    if (deps.rawRetentionDays !== undefined && deps.rawRetentionDays > 0) {
      const cutoff = new Date(Date.now() - deps.rawRetentionDays * 86_400_000);
      // By last sight, not first receipt: an unchanged file seen by every run keeps its evidence.
      // A payload a quarantine holds stays until it is released (it is what the release ingests).
      await prisma.rawPayload
        .deleteMany({
          where: {
            receivedAt: { lt: cutoff },
            runs: { none: { seenAt: { gte: cutoff } } },
            held: { none: { releasedAt: null } },
          },
        })
        .catch((error: unknown) => log.warn({ err: (error as Error).message }, "raw archive pruning failed"));
    }
    const failed = results.filter((r) => r.status === "FAILED").length;
    const status: RunSummary["status"] = crash
      ? "FAILED"
      : failed === 0
        ? "SUCCEEDED"
        : failed === results.length
          ? "FAILED"
          : "PARTIAL";
    const interrupted = signal.aborted && crash !== null;
    const reason = signal.reason as Error | undefined;
    const rawError = crash
      ? interrupted
        ? reason instanceof RunTimeoutError
          ? reason.message
          : `interrupted: ${reason?.message ?? "stopped"}`
        : crash.message
      : failed > 0
        ? results
            .filter((r) => r.status === "FAILED")
            .map((r) => `${r.source}: ${r.error}`)
            .join("; ")
        : null;
    const error = rawError === null ? null : scrub(rawError);
    const durationMs = Math.round(performance.now() - started);
    const sum = (k: "fetched" | "written" | "unchanged" | "rejected") =>
      results.reduce((a, r) => a + r[k], 0);
    try {
      await retried(() =>
        prisma.etlRun.update({
          where: { id: run.id },
          data: {
            status,
            finishedAt: new Date(),
            durationMs,
            error,
            fetched: sum("fetched"),
            written: sum("written"),
            unchanged: sum("unchanged"),
            rejected: sum("rejected"),
            stoppedAt:
              crash instanceof SourceCrash
                ? crash.where
                : crash
                  ? { reason: scrub(crash.message) }
                  : undefined,
          },
        }),
      );
    } catch (updateError) {
      // The database itself is gone: the next run marks this one abandoned.
      log.error({ err: (updateError as Error).message, runId: run.id }, "could not record the run's end");
    }
    metrics.runs.inc({ status });
    metrics.runDuration.observe(durationMs / 1000);
    for (const r of results) {
      metrics.sourceUp.set({ source: r.source }, r.status === "SUCCEEDED" ? 1 : 0);
      if (r.status === "SUCCEEDED") metrics.lastSuccess.set({ source: r.source }, Date.now() / 1000);
    }
    const logLine = { runId: run.id, status, durationMs, written: sum("written"), error };
    if (status === "FAILED") log.error(logLine, "run finished");
    else log.info(logLine, "run finished");
    bus.publish("runStatusChanged", { runId: run.id, status });
    // The summary is read back when the database answers; else it is built from what this
    // process knows (the run row then catches up when the next run starts).
    return retried(() => summaryOf(run.id, false)).catch(() => ({
      runId: run.id,
      status,
      durationMs,
      error,
      alreadyRunning: false,
      sources: results.map((r) => ({
        source: r.source,
        status: r.status,
        fetched: r.fetched,
        written: r.written,
        unchanged: r.unchanged,
        rejected: r.rejected,
        quarantined: r.quarantined,
        error: r.error,
      })),
    }));
  }

  return {
    start,
    /** Starts a run (or joins the one already going) and waits for its end. */
    async run(options: StartOptions): Promise<RunSummary> {
      const started = await start(options);
      return started.done;
    },
    /** Interrupts the current run of this process: the batch in flight rolls back, the run ends FAILED. */
    async stop(reason = "shutting down"): Promise<void> {
      const current = active;
      if (!current) return;
      current.abort.abort(new Error(reason));
      await current.done.catch(() => undefined);
    },
    get activeRunId() {
      return active?.runId ?? null;
    },
  };
}

export type EtlRunner = ReturnType<typeof createEtlRunner>;
