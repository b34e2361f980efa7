import type { Database } from "../db/database.ts";
import type { EtlRun } from "../generated/prisma/client.ts";
import type { Logger } from "../logger/logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { MarketSource, SourceId } from "../sources/record.ts";
import type { BatchRules } from "./commit-batch.ts";
import type { EventBus } from "./events.ts";
import type { FailureInjector } from "./failure-injection.ts";
import { maintainObservations, type ObservationRetention } from "./observation-retention.ts";
import { markReleased, releasePlan } from "./quarantine.ts";
import type { StartOptions } from "./run-admission.ts";
import { recordRunAnomalies } from "./run-checks.ts";
import { recordRunPrices } from "./run-prices.ts";
import { loadRunSummary, type RunSummary, toRunSummary } from "./run-summary.ts";
import { releaseIngested, runSource, SourceCrash, type SourceRunResult } from "./source-runner.ts";

export interface RunExecutionDeps {
  db: Database;
  sources: ReadonlyMap<SourceId, MarketSource>;
  logger: Logger;
  bus: EventBus;
  metrics: Metrics;
  injector: FailureInjector;
  /** ETL_BATCH_SIZE: input rows per write transaction. */
  batchSize: number;
  /** ETL_REJECTED_ROWS_KEPT: rejected rows stored in full per source run. */
  rejectedRowsKept: number;
  /** Time and identity checks every record passes (MAX_CLOCK_SKEW_SECONDS, IDENTITY_MAX_PRICE_RATIO). */
  rules: Omit<BatchRules, "now">;
  driftPolicies: Record<SourceId, "warn" | "quarantine">;
  checks: { freshnessMs: number; deviationPct: number; countDropPct: number; maxSkewMs: number };
  /** RAW_PAYLOAD_RETENTION_DAYS: payloads no run has seen for this long are pruned after each run. */
  rawRetentionDays: number;
  /** OBSERVATION_RETENTION_DAYS and the resume window it must keep: partitions maintained after each run. */
  observationRetention: ObservationRetention;
  /** The service's scrubber, for the error strings the run stores and logs. */
  scrub: (text: string) => string;
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
export async function retried<T>(fn: () => Promise<T>): Promise<T> {
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
 * Executes an admitted run: its sources in order (a crash stops the rest), the run's anomaly
 * checks, raw-archive pruning and observation partitions, then the run's end (status, error,
 * counts, metrics, event).
 */
export async function executeRun(
  deps: RunExecutionDeps,
  run: EtlRun,
  signal: AbortSignal,
  release?: StartOptions["release"],
): Promise<RunSummary> {
  const { db, metrics } = deps;
  const prisma = db.prisma;
  const log = deps.logger.child({ module: "etl" });
  const started = performance.now();
  const results: SourceRunResult[] = [];
  let crash: SourceCrash | Error | null = null;
  for (const id of run.requested) {
    const source = deps.sources.get(id);
    if (!source) continue;
    try {
      const plan = release ? await releasePlan(prisma, release.runId, id) : undefined;
      // Released streams pass with the drift gate off: an operator decided.
      const driftPolicy = plan ? "warn" : deps.driftPolicies[id];
      const outcome = await runSource({ ...deps, driftPolicy, signal }, run.id, source, plan);
      results.push(outcome);
      if (plan && outcome.status === "SUCCEEDED" && releaseIngested(outcome))
        await markReleased(prisma, plan, run.id);
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
  if (deps.rawRetentionDays > 0) {
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
  // The run's candles rolled up, months ahead created, months past OBSERVATION_RETENTION_DAYS
  // dropped: under the run lock, so no batch of this cluster is writing meanwhile.
  await maintainObservations(prisma, deps.observationRetention, log).catch((error: unknown) =>
    log.warn({ err: (error as Error).message }, "observation partition maintenance failed"),
  );
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
  const error = rawError === null ? null : deps.scrub(rawError);
  const durationMs = Math.round(performance.now() - started);
  const sum = (k: "fetched" | "written" | "unchanged" | "rejected") => results.reduce((a, r) => a + r[k], 0);
  try {
    // The run's end and its price aggregate commit together: compareRuns reads the aggregate, and
    // every finished run (SUCCEEDED, PARTIAL or FAILED: what it committed up to its end) has one.
    await retried(() =>
      prisma.$transaction(async (tx) => {
        const finishedAt = new Date();
        await recordRunPrices(tx, run.id);
        await tx.etlRun.update({
          where: { id: run.id },
          data: {
            status,
            finishedAt,
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
                  ? { reason: deps.scrub(crash.message) }
                  : undefined,
          },
        });
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
  deps.bus.publish("runStatusChanged", { runId: run.id, status });
  // The summary is read back when the database answers; else it is built from what this process
  // knows (the run row then catches up when the next run starts).
  return retried(() => loadRunSummary(prisma, run.id, false)).catch(() =>
    toRunSummary({ runId: run.id, status, durationMs, alreadyRunning: false, error, sources: results }),
  );
}
