import type { PrismaClient } from "../../db/database.ts";
import type { SourceId } from "../../sources/record.ts";

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

export interface SourceHealthRow {
  source: Source;
  status: "UP" | "DEGRADED" | "DOWN" | "UNKNOWN";
  lastSuccessAt: Date | null;
  lastRunAt: Date | null;
  dataAgeSeconds: number | null;
  consecutiveFailures: number;
  lastError: string | null;
}

/** UP when the last run of the source succeeded, DEGRADED after 1–2 failures in a row, DOWN after 3. */
export async function loadSourceHealth(
  prisma: PrismaClient,
  sources: readonly Source[],
): Promise<SourceHealthRow[]> {
  const newest = await prisma.latestPrice.groupBy({ by: ["source"], _max: { observedAt: true } });
  return Promise.all(
    sources.map(async (source) => {
      const recent = await prisma.sourceRun.findMany({
        where: { source, status: { not: "RUNNING" } },
        orderBy: { id: "desc" },
        take: 20,
        select: { status: true, finishedAt: true, error: true },
      });
      const firstOk = recent.findIndex((r) => r.status === "SUCCEEDED");
      const consecutiveFailures = firstOk === -1 ? recent.length : firstOk;
      const lastSuccess =
        firstOk === -1
          ? await prisma.sourceRun.findFirst({
              where: { source, status: "SUCCEEDED" },
              orderBy: { id: "desc" },
              select: { finishedAt: true },
            })
          : recent[firstOk];
      const observed = newest.find((x) => x.source === source)?._max.observedAt ?? null;
      return {
        source,
        status:
          recent.length === 0
            ? "UNKNOWN"
            : consecutiveFailures === 0
              ? "UP"
              : consecutiveFailures < 3
                ? "DEGRADED"
                : "DOWN",
        lastSuccessAt: lastSuccess?.finishedAt ?? null,
        lastRunAt: recent[0]?.finishedAt ?? null,
        dataAgeSeconds: observed ? Math.max(0, Math.round((Date.now() - observed.getTime()) / 1000)) : null,
        consecutiveFailures,
        lastError: recent.find((r) => r.status !== "SUCCEEDED")?.error ?? null,
      } satisfies SourceHealthRow;
    }),
  );
}

export interface PriceMove {
  assetId: number;
  source: Source;
  fromPriceUsd: number;
  toPriceUsd: number;
  changePct: number;
}

/**
 * The largest price moves between two runs: each (asset, source)'s newest observation committed by
 * the end of each run. A row rewritten later keeps only its newest version, so the base side is
 * the best reconstruction the stored data allows.
 */
export async function loadPriceMoves(
  prisma: PrismaClient,
  baseEnd: Date,
  headEnd: Date,
  limit = 10,
): Promise<PriceMove[]> {
  const rows = await prisma.$queryRaw<
    { asset_id: number; source: Source; from_price: number; to_price: number; change_pct: number }[]
  >`
    WITH b AS (
      SELECT DISTINCT ON (asset_id, source) asset_id, source, price_usd FROM market_observation
      WHERE committed_at <= ${baseEnd} ORDER BY asset_id, source, observed_at DESC
    ), h AS (
      SELECT DISTINCT ON (asset_id, source) asset_id, source, price_usd FROM market_observation
      WHERE committed_at <= ${headEnd} ORDER BY asset_id, source, observed_at DESC
    )
    SELECT h.asset_id, h.source::text AS source, b.price_usd AS from_price, h.price_usd AS to_price,
      (h.price_usd - b.price_usd) / b.price_usd * 100 AS change_pct
    FROM h JOIN b ON b.asset_id = h.asset_id AND b.source = h.source
    WHERE b.price_usd > 0 AND h.price_usd <> b.price_usd
    ORDER BY abs((h.price_usd - b.price_usd) / b.price_usd) DESC, h.asset_id
    LIMIT ${limit}`;
  return rows.map((r) => ({
    assetId: Number(r.asset_id),
    source: r.source,
    fromPriceUsd: Number(r.from_price),
    toPriceUsd: Number(r.to_price),
    changePct: Number(r.change_pct),
  }));
}
