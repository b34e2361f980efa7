import type { Tx } from "../db/database.ts";
import { Prisma } from "../generated/prisma/client.ts";
import type { SourceId } from "../sources/record.ts";

/**
 * The candle rollups (table candle_rollup), with exactly loadCandles' bucket rules
 * (src/services/candles.ts), kept when retention drops the raw observations. Each stored row goes
 * to one rollup row of its (asset, source): a point quote or a bar of at most an hour to its hour
 * (interval_seconds 3600), a longer bar of at most a day to its day (86400); a longer bar feeds no
 * candle. An H1 candle is its hour's rows; a D1 candle combines the day's hours and its day row,
 * so a batch of point quotes updates one rollup row per asset, not two.
 * Maintained in each batch's transaction by the write path, so a rollup always holds what the
 * committed rows hold:
 * - rows the batch inserted merge into their buckets (open from the earliest start, close from the
 *   latest end, extremes, sums and counts, the commit time when it is at or after the bucket's end);
 * - a bucket where the batch rewrote a row (a corrected price at the same key) is recomputed from
 *   the raw rows afterwards, when they are all still there (their count equals the rollup's):
 *   a merge cannot take back the old value's extremes or its commit time.
 */
export const ROLLUP_INTERVALS = [3_600, 86_400] as const;

/** The rollup row's length for row `o`: its hour, or its day for a bar longer than an hour. */
const STEP = Prisma.sql`(CASE WHEN o.bar_seconds IS NULL OR o.bar_seconds <= 3600 THEN 3600 ELSE 86400 END)`;
/** Bucket start of row `o` (the origin is loadCandles'). */
const BUCKET = Prisma.sql`date_bin(make_interval(secs => ${STEP}), o.observed_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')`;
const END = Prisma.sql`o.observed_at + make_interval(secs => COALESCE(o.bar_seconds, 0))`;
/** Rows that feed some candle (a bar longer than a day feeds none). */
const FEEDS = Prisma.sql`(o.bar_seconds IS NULL OR o.bar_seconds <= 86400)`;
const COLUMNS = Prisma.sql`(asset_id, source, interval_seconds, bucket, open, open_at, high, low, close, close_end,
  close_at, bar_volume, bars, last_volume, last_volume_at, observations, late_commits_ms)`;

/**
 * The aggregate of rows `o` (market_observation's columns, plus a boolean `counted`: whether the
 * row adds to counts and sums) per (asset, source, step, bucket), in COLUMNS' order.
 */
const aggregate = (counted: Prisma.Sql) => Prisma.sql`
  SELECT o.asset_id, o.source, ${STEP}, ${BUCKET},
    (array_agg(COALESCE(o.open, o.price_usd) ORDER BY o.observed_at))[1],
    min(o.observed_at),
    max(GREATEST(COALESCE(o.high, o.price_usd), o.price_usd)),
    min(LEAST(COALESCE(o.low, o.price_usd), o.price_usd)),
    (array_agg(COALESCE(o.close, o.price_usd) ORDER BY ${END} DESC, o.observed_at DESC))[1],
    max(${END}),
    (array_agg(o.observed_at ORDER BY ${END} DESC, o.observed_at DESC))[1],
    sum(o.volume_24h_usd) FILTER (WHERE o.bar_seconds IS NOT NULL AND ${counted}),
    (count(*) FILTER (WHERE o.bar_seconds IS NOT NULL AND ${counted}))::int,
    (array_agg(o.volume_24h_usd ORDER BY o.observed_at DESC)
      FILTER (WHERE o.bar_seconds IS NULL AND o.volume_24h_usd IS NOT NULL))[1],
    max(o.observed_at) FILTER (WHERE o.bar_seconds IS NULL AND o.volume_24h_usd IS NOT NULL),
    (count(*) FILTER (WHERE ${counted}))::int,
    COALESCE(array_agg(DISTINCT (extract(epoch FROM o.committed_at) * 1000)::bigint)
      FILTER (WHERE o.committed_at >= ${BUCKET} + make_interval(secs => ${STEP})), '{}')`;

/**
 * The batch statement's rollup step: `rows` names a CTE of the rows the upsert wrote (the
 * market_observation columns and `inserted`). A rewritten row merges its extremes but adds no
 * count; its bucket is recomputed by recomputeRewritten.
 */
export function mergeRollups(rows: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`
    INSERT INTO candle_rollup AS r ${COLUMNS}
    ${aggregate(Prisma.sql`o.inserted`)}
    FROM ${rows} o
    WHERE ${FEEDS}
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (asset_id, interval_seconds, bucket, source) DO UPDATE SET
      open = CASE WHEN EXCLUDED.open_at < r.open_at THEN EXCLUDED.open ELSE r.open END,
      open_at = LEAST(r.open_at, EXCLUDED.open_at),
      high = GREATEST(r.high, EXCLUDED.high),
      low = LEAST(r.low, EXCLUDED.low),
      close = CASE WHEN (EXCLUDED.close_end, EXCLUDED.close_at) > (r.close_end, r.close_at)
        THEN EXCLUDED.close ELSE r.close END,
      close_at = CASE WHEN (EXCLUDED.close_end, EXCLUDED.close_at) > (r.close_end, r.close_at)
        THEN EXCLUDED.close_at ELSE r.close_at END,
      close_end = GREATEST(r.close_end, EXCLUDED.close_end),
      bar_volume = CASE WHEN r.bar_volume IS NULL THEN EXCLUDED.bar_volume
        WHEN EXCLUDED.bar_volume IS NULL THEN r.bar_volume ELSE r.bar_volume + EXCLUDED.bar_volume END,
      bars = r.bars + EXCLUDED.bars,
      last_volume = CASE WHEN EXCLUDED.last_volume_at IS NOT NULL
          AND (r.last_volume_at IS NULL OR EXCLUDED.last_volume_at > r.last_volume_at)
        THEN EXCLUDED.last_volume ELSE r.last_volume END,
      last_volume_at = GREATEST(r.last_volume_at, EXCLUDED.last_volume_at),
      observations = r.observations + EXCLUDED.observations,
      -- A batch is one commit: at most one new time, normally later than every stored one.
      late_commits_ms = CASE WHEN EXCLUDED.late_commits_ms = '{}' THEN r.late_commits_ms
        WHEN r.late_commits_ms = '{}' OR EXCLUDED.late_commits_ms[1] > r.late_commits_ms[cardinality(r.late_commits_ms)]
          THEN r.late_commits_ms || EXCLUDED.late_commits_ms
        ELSE ARRAY(SELECT DISTINCT c FROM unnest(r.late_commits_ms || EXCLUDED.late_commits_ms) c ORDER BY c) END`;
}

/**
 * Recomputes rollups from raw rows: `rows` is a FROM item named `o` with market_observation's
 * columns. `completeOnly`: a bucket is overwritten only when the raw rows are as many as the
 * rollup counted (none was dropped by retention); otherwise it is overwritten (a month about to
 * be dropped, which holds every row of its buckets).
 */
export async function rollupFromRaw(
  tx: Pick<Tx, "$executeRaw">,
  rows: Prisma.Sql,
  completeOnly: boolean,
): Promise<number> {
  return tx.$executeRaw`
    INSERT INTO candle_rollup AS r ${COLUMNS}
    ${aggregate(Prisma.sql`true`)}
    FROM ${rows}
    WHERE ${FEEDS}
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (asset_id, interval_seconds, bucket, source) DO UPDATE SET
      open = EXCLUDED.open, open_at = EXCLUDED.open_at, high = EXCLUDED.high, low = EXCLUDED.low,
      close = EXCLUDED.close, close_end = EXCLUDED.close_end, close_at = EXCLUDED.close_at,
      bar_volume = EXCLUDED.bar_volume, bars = EXCLUDED.bars, last_volume = EXCLUDED.last_volume,
      last_volume_at = EXCLUDED.last_volume_at, observations = EXCLUDED.observations,
      late_commits_ms = EXCLUDED.late_commits_ms
    ${completeOnly ? Prisma.sql`WHERE r.observations = EXCLUDED.observations` : Prisma.empty}`;
}

/** After a batch that rewrote rows: their days (every hour row and the day row) from the raw rows. */
export async function recomputeRewritten(
  tx: Pick<Tx, "$executeRaw">,
  source: SourceId,
  rewritten: readonly { assetId: number; observedAt: Date }[],
): Promise<void> {
  if (rewritten.length === 0) return;
  const days = new Map<string, { asset_id: number; day: string }>();
  for (const r of rewritten) {
    const day = new Date(Math.floor(r.observedAt.getTime() / 86_400_000) * 86_400_000).toISOString();
    days.set(`${r.assetId}|${day}`, { asset_id: r.assetId, day });
  }
  const keys = JSON.stringify([...days.values()]);
  await rollupFromRaw(
    tx,
    Prisma.sql`(SELECT m.* FROM json_to_recordset(${keys}::json) AS k(asset_id int, day timestamptz)
      JOIN market_observation m ON m.asset_id = k.asset_id AND m.source = ${source}::"Source"
        AND m.observed_at >= k.day AND m.observed_at < k.day + interval '1 day') o`,
    true,
  );
}

/** Every rollup of the rows observed in [from, to), from the raw rows (before a month is dropped). */
export async function rebuildRollups(tx: Pick<Tx, "$executeRaw">, from: Date, to: Date): Promise<number> {
  return rollupFromRaw(
    tx,
    Prisma.sql`(SELECT * FROM market_observation
      WHERE observed_at >= ${from.toISOString()}::timestamptz AND observed_at < ${to.toISOString()}::timestamptz) o`,
    false,
  );
}
