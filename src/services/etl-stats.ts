import type { PrismaClient } from "../db/database.ts";
import type { SourceId } from "../sources/record.ts";

type Source = SourceId;

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

interface StatsSqlRow {
  source: Source | null;
  runs: number;
  processed: bigint | number | null;
  written: bigint | number | null;
  last_success: Date | null;
  last_failure: Date | null;
  mean: number | null;
  p95: number | null;
}

const n = (v: bigint | number | null) => (v === null ? 0 : Number(v));

/** Per source and overall: records processed, last success and failure, durations (last, mean, p95). */
export async function loadEtlStats(
  prisma: PrismaClient,
): Promise<{ overall: SourceStatsRow; sources: SourceStatsRow[] }> {
  const perSource = await prisma.$queryRaw<StatsSqlRow[]>`
    SELECT source::text AS source, count(*)::int AS runs, sum(fetched) AS processed, sum(written) AS written,
      max(finished_at) FILTER (WHERE status = 'SUCCEEDED') AS last_success,
      max(finished_at) FILTER (WHERE status = 'FAILED') AS last_failure,
      avg(duration_ms)::float8 AS mean,
      percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms)::float8 AS p95
    FROM source_run WHERE status <> 'RUNNING' GROUP BY source ORDER BY source`;
  const overall = await prisma.$queryRaw<StatsSqlRow[]>`
    SELECT NULL AS source, count(*)::int AS runs, sum(fetched) AS processed, sum(written) AS written,
      max(finished_at) FILTER (WHERE status IN ('SUCCEEDED', 'PARTIAL')) AS last_success,
      max(finished_at) FILTER (WHERE status = 'FAILED') AS last_failure,
      avg(duration_ms)::float8 AS mean,
      percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms)::float8 AS p95
    FROM etl_run WHERE status <> 'RUNNING'`;
  const lastRuns = await prisma.sourceRun.findMany({
    where: { status: { not: "RUNNING" } },
    distinct: ["source"],
    orderBy: [{ source: "asc" }, { id: "desc" }],
    select: { source: true, runId: true, durationMs: true },
  });
  const lastRun = await prisma.etlRun.findFirst({
    where: { status: { not: "RUNNING" } },
    orderBy: { id: "desc" },
    select: { id: true, durationMs: true },
  });
  const toRow = (
    r: StatsSqlRow,
    last: { runId: number; durationMs: number | null } | undefined,
  ): SourceStatsRow => ({
    source: r.source,
    runs: Number(r.runs),
    recordsProcessed: n(r.processed),
    recordsWritten: n(r.written),
    lastSuccessAt: r.last_success,
    lastFailureAt: r.last_failure,
    lastDurationMs: last?.durationMs ?? null,
    meanDurationMs: r.mean === null ? null : Math.round(r.mean),
    p95DurationMs: r.p95 === null ? null : Math.round(r.p95),
    lastRunId: last?.runId ?? null,
  });
  return {
    overall: toRow(overall[0]!, lastRun ? { runId: lastRun.id, durationMs: lastRun.durationMs } : undefined),
    sources: perSource.map((r) =>
      toRow(
        r,
        lastRuns.find((l) => l.source === r.source),
      ),
    ),
  };
}
