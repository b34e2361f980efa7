import { hostname } from "node:os";
import type { EtlRun } from "../generated/prisma/client.ts";
import { admitRun, type StartOptions } from "./run-admission.ts";
import { executeRun, type RunExecutionDeps, RunTimeoutError, retried } from "./run-execution.ts";
import { loadRunSummary, type RunSummary } from "./run-summary.ts";

export { RunLockBusyError, type StartOptions } from "./run-admission.ts";
export { RunTimeoutError } from "./run-execution.ts";
export type { RunSummary, SourceSummary } from "./run-summary.ts";

export interface EtlRunnerDeps extends RunExecutionDeps {
  /** ETL_RUN_TIMEOUT_SECONDS in ms: a run still going after this long is stopped and FAILED. */
  runTimeoutMs: number;
}

export interface StartResult {
  run: EtlRun;
  alreadyRunning: boolean;
  /** True when a scheduled slot already had its run and nothing was started. */
  skipped: boolean;
  done: Promise<RunSummary>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Callers may ignore `done` (a trigger returns at once): never let it reject unhandled. */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/**
 * Runs ETL: admission (run-admission.ts) decides whether a request starts a run; an admitted run
 * executes (run-execution.ts) holding the lock, under its deadline and this process's interrupt.
 */
export function createEtlRunner(deps: EtlRunnerDeps) {
  const prisma = deps.db.prisma;
  const log = deps.logger.child({ module: "etl" });
  const owner = `${hostname()}:${process.pid}`;
  const sources = new Set(deps.sources.keys());
  let active: { runId: number; done: Promise<RunSummary>; abort: AbortController } | null = null;

  /** Waits for a run (of this or another process) to leave RUNNING. */
  async function waitFor(runId: number, alreadyRunning: boolean): Promise<RunSummary> {
    if (active?.runId === runId) return { ...(await active.done), alreadyRunning };
    for (;;) {
      const run = await prisma.etlRun.findUnique({ where: { id: runId }, select: { status: true } });
      if (run?.status !== "RUNNING") return retried(() => loadRunSummary(prisma, runId, alreadyRunning));
      await sleep(250);
    }
  }

  async function start(options: StartOptions): Promise<StartResult> {
    const admission = await admitRun({ db: deps.db, sources, owner, logger: log }, options);
    if (admission.kind === "known") {
      const running = admission.run.status === "RUNNING";
      return {
        run: admission.run,
        alreadyRunning: running,
        skipped: false,
        done: handled(waitFor(admission.run.id, running)),
      };
    }
    if (admission.kind === "joined") {
      return {
        run: admission.run,
        alreadyRunning: true,
        skipped: false,
        done: handled(waitFor(admission.run.id, true)),
      };
    }
    if (admission.kind === "skipped") {
      const done = handled(loadRunSummary(prisma, admission.run.id, false));
      return { run: admission.run, alreadyRunning: false, skipped: true, done };
    }
    const { run, lock } = admission;
    const abort = new AbortController();
    lock.lost.addEventListener(
      "abort",
      () =>
        abort.abort(
          new Error(
            `run lock connection lost: ${(lock.lost.reason as Error | undefined)?.message ?? "closed"}`,
          ),
        ),
      { once: true },
    );
    // The run's deadline: every wait of the run (HTTP, rate limits, backoff, batches) watches this signal.
    const deadline =
      deps.runTimeoutMs > 0
        ? setTimeout(() => abort.abort(new RunTimeoutError(deps.runTimeoutMs)), deps.runTimeoutMs)
        : undefined;
    log.info({ runId: run.id, trigger: run.trigger, sources: run.requested }, "run started");
    deps.bus.publish("runStatusChanged", { runId: run.id, status: "RUNNING" });
    const done = handled(
      executeRun(deps, run, abort.signal, options.release).finally(() => {
        clearTimeout(deadline);
        return lock.release();
      }),
    );
    active = { runId: run.id, done, abort };
    void done.finally(() => {
      if (active?.runId === run.id) active = null;
    });
    return { run, alreadyRunning: false, skipped: false, done };
  }

  return {
    start,
    /** Starts a run (or joins the one already going) and waits for its end. */
    async run(options: StartOptions): Promise<RunSummary> {
      return (await start(options)).done;
    },
    /** Interrupts the current run of this process: the batch in flight rolls back, the run ends FAILED. */
    async stop(reason = "shutting down"): Promise<void> {
      const current = active;
      if (!current) return;
      current.abort.abort(new Error(reason));
      await current.done.catch(() => undefined);
    },
  };
}

export type EtlRunner = ReturnType<typeof createEtlRunner>;
