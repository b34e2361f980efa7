import type { PrismaClient } from "../db/database.ts";
import type { SourceId } from "../sources/record.ts";
import { badInput } from "./errors.ts";

type Source = SourceId;

/**
 * etlStats' window: the newest N finished runs. Statistics over a fixed number of runs cost the
 * same at the 100th run and the 100,000th (no aggregate over the whole run history). 100 runs are
 * about eight hours of the default 5-minute schedule, enough for a p95 (its 5 slowest runs); a
 * window of 1,000 cost ~13 ms of database time per request on the growth bench's 2-core machine
 * (1,000 run rows and 2,000 source-run rows sorted and aggregated), 1.9x the request at 110 runs.
 */
export const ETL_STATS_DEFAULT_RUNS = 100;
export const ETL_STATS_MAX_RUNS = 10_000;

export interface SourceStatsRow {
  source: Source | null;
  runs: number;
  recordsProcessed: number;
  recordsWritten: number;
  lastSuccessAt: Date | null;
  lastFailureAt: Date | null;
  lastDurationMs: number | null;
  meanDurationMs: number | null;
  p95DurationMs: number | null;
  lastRunId: number | null;
}

export interface EtlStats {
  overall: SourceStatsRow;
  sources: SourceStatsRow[];
  /** The window's size as asked, and when its oldest run started (null: no finished run). */
  lastRuns: number;
  since: Date | null;
}

interface StatsSqlRow {
  source: Source | null;
  runs: number;
  processed: bigint | number | null;
  written: bigint | number | null;
  last_success: Date | null;
  last_failure: Date | null;
  mean: number | null;
  p95: number | null;
  last_run_id: number | null;
  last_duration: number | null;
  since?: Date | null;
}

const n = (v: bigint | number | null) => (v === null ? 0 : Number(v));

/**
 * Per source and overall, over the newest `lastRuns` finished runs: records processed and written,
 * last success and failure, durations (last, mean, p95). The window is found from the top of
 * etl_run's primary key and source_run is read by its (run_id, source) key from the window's
 * oldest run on, so the cost follows `lastRuns`, not the history. A source that took no part in
 * the window is not listed.
 */
export async function loadEtlStats(
  prisma: PrismaClient,
  lastRuns: number = ETL_STATS_DEFAULT_RUNS,
): Promise<EtlStats> {
  if (!Number.isInteger(lastRuns) || lastRuns < 1 || lastRuns > ETL_STATS_MAX_RUNS) {
    throw badInput("lastRuns", `must be between 1 and ${ETL_STATS_MAX_RUNS}, got ${lastRuns}`);
  }
  const [overall] = await prisma.$queryRaw<StatsSqlRow[]>`
    WITH w AS (
      SELECT id, status, started_at, finished_at, duration_ms, fetched, written
      FROM etl_run WHERE status <> 'RUNNING' ORDER BY id DESC LIMIT ${lastRuns}::int
    )
    SELECT NULL AS source, count(*)::int AS runs, sum(fetched) AS processed, sum(written) AS written,
      max(finished_at) FILTER (WHERE status IN ('SUCCEEDED', 'PARTIAL')) AS last_success,
      max(finished_at) FILTER (WHERE status = 'FAILED') AS last_failure,
      avg(duration_ms)::float8 AS mean,
      percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms)::float8 AS p95,
      max(id) AS last_run_id,
      (array_agg(duration_ms ORDER BY id DESC))[1] AS last_duration,
      min(started_at) AS since
    FROM w`;
  const perSource = await prisma.$queryRaw<StatsSqlRow[]>`
    WITH w AS (
      SELECT id FROM etl_run WHERE status <> 'RUNNING' ORDER BY id DESC LIMIT ${lastRuns}::int
    )
    SELECT s.source::text AS source, count(*)::int AS runs, sum(s.fetched) AS processed, sum(s.written) AS written,
      max(s.finished_at) FILTER (WHERE s.status = 'SUCCEEDED') AS last_success,
      max(s.finished_at) FILTER (WHERE s.status = 'FAILED') AS last_failure,
      avg(s.duration_ms)::float8 AS mean,
      percentile_cont(0.95) WITHIN GROUP (ORDER BY s.duration_ms)::float8 AS p95,
      (array_agg(s.run_id ORDER BY s.id DESC))[1] AS last_run_id,
      (array_agg(s.duration_ms ORDER BY s.id DESC))[1] AS last_duration
    -- Only the window's runs: a running run's finished sources are not in it yet.
    FROM source_run s JOIN w ON w.id = s.run_id
    WHERE s.status <> 'RUNNING'
    GROUP BY s.source ORDER BY s.source`;
  const toRow = (r: StatsSqlRow): SourceStatsRow => ({
    source: r.source,
    runs: Number(r.runs),
    recordsProcessed: n(r.processed),
    recordsWritten: n(r.written),
    lastSuccessAt: r.last_success,
    lastFailureAt: r.last_failure,
    lastDurationMs: r.last_duration === null ? null : Number(r.last_duration),
    meanDurationMs: r.mean === null ? null : Math.round(r.mean),
    p95DurationMs: r.p95 === null ? null : Math.round(r.p95),
    lastRunId: r.last_run_id === null ? null : Number(r.last_run_id),
  });
  return {
    overall: toRow(overall!),
    sources: perSource.map(toRow),
    lastRuns,
    since: overall?.since ?? null,
  };
}
