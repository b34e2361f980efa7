import type { PrismaClient } from "../db/database.ts";
import type { SourceId } from "../sources/record.ts";

/** One source of a finished run: what the CLI's --json line, triggers and tests see. */
export interface SourceSummary {
  source: SourceId;
  status: "SUCCEEDED" | "FAILED";
  fetched: number;
  written: number;
  unchanged: number;
  rejected: number;
  quarantined: number;
  error: string | null;
}

/** A finished run. Its key order is the --json line's (every key always present). */
export interface RunSummary {
  runId: number;
  status: "SUCCEEDED" | "PARTIAL" | "FAILED";
  durationMs: number;
  alreadyRunning: boolean;
  error: string | null;
  sources: SourceSummary[];
}

/** The one mapping to a source summary, from a stored source run or from a run's result. */
type SourceLike = Omit<SourceSummary, "status"> & { status: string };

export function toSourceSummary(s: SourceLike): SourceSummary {
  return {
    source: s.source,
    status: s.status === "SUCCEEDED" ? "SUCCEEDED" : "FAILED",
    fetched: s.fetched,
    written: s.written,
    unchanged: s.unchanged,
    rejected: s.rejected,
    quarantined: s.quarantined,
    error: s.error,
  };
}

export function toRunSummary(run: {
  runId: number;
  status: string;
  durationMs: number | null;
  alreadyRunning: boolean;
  error: string | null;
  sources: SourceLike[];
}): RunSummary {
  return {
    runId: run.runId,
    // A run still RUNNING when its summary is read did not finish: it is reported FAILED.
    status: run.status === "SUCCEEDED" || run.status === "PARTIAL" ? run.status : "FAILED",
    durationMs: run.durationMs ?? 0,
    alreadyRunning: run.alreadyRunning,
    error: run.error,
    sources: run.sources.map(toSourceSummary),
  };
}

/** A run's summary as stored. */
export async function loadRunSummary(
  prisma: PrismaClient,
  runId: number,
  alreadyRunning: boolean,
): Promise<RunSummary> {
  const run = await prisma.etlRun.findUniqueOrThrow({
    where: { id: runId },
    include: { sources: { orderBy: { id: "asc" } } },
  });
  return toRunSummary({ ...run, runId: run.id, alreadyRunning });
}
