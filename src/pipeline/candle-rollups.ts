import type { PrismaClient, Tx } from "../db/database.ts";
import { intArray } from "../db/int-array.ts";
import { Prisma } from "../generated/prisma/client.ts";

/**
 * The candle rollups (table candle_rollup), with exactly loadCandles' bucket rules
 * (src/services/candles.ts), kept when retention drops the raw observations. Each stored row goes
 * to one rollup row of its (asset, source): a point quote or a bar of at most an hour to its hour
 * (interval_seconds 3600), a longer bar of at most a day to its day (86400); a longer bar feeds no
 * candle. An H1 candle is its hour's rows; a D1 candle combines the day's hours and its day row.
 *
 * Written at each run's end, off the batch path (the write path keeps its throughput): every
 * bucket a not yet rolled-up run (etl_run.rolled_up_at null: this one, or one that crashed)
 * wrote into is recomputed from the raw rows, which also takes a corrected row's old values back.
 * Until then loadCandles reads those buckets from the raw rows, so a candle is the same before and
 * after its run ends.
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
  close_at, bar_volume, bars, last_volume, last_volume_at, observations)`;

/** The aggregate of rows `o` (market_observation's columns) per (asset, source, step, bucket), in COLUMNS' order. */
const AGGREGATE = Prisma.sql`
  SELECT o.asset_id, o.source, ${STEP}, ${BUCKET},
    (array_agg(COALESCE(o.open, o.price_usd) ORDER BY o.observed_at))[1],
    min(o.observed_at),
    max(GREATEST(COALESCE(o.high, o.price_usd), o.price_usd)),
    min(LEAST(COALESCE(o.low, o.price_usd), o.price_usd)),
    (array_agg(COALESCE(o.close, o.price_usd) ORDER BY ${END} DESC, o.observed_at DESC))[1],
    max(${END}),
    (array_agg(o.observed_at ORDER BY ${END} DESC, o.observed_at DESC))[1],
    sum(o.volume_24h_usd) FILTER (WHERE o.bar_seconds IS NOT NULL),
    (count(*) FILTER (WHERE o.bar_seconds IS NOT NULL))::int,
    (array_agg(o.volume_24h_usd ORDER BY o.observed_at DESC)
      FILTER (WHERE o.bar_seconds IS NULL AND o.volume_24h_usd IS NOT NULL))[1],
    max(o.observed_at) FILTER (WHERE o.bar_seconds IS NULL AND o.volume_24h_usd IS NOT NULL),
    count(*)::int`;

/**
 * Recomputes rollups from raw rows: `rows` is a FROM item named `o` with market_observation's
 * columns. `keepDropped`: a bucket is overwritten only when the raw rows are at least as many as
 * the rollup counted (retention dropped none of them: a row landing in a month already dropped
 * leaves that bucket's rollup as it was); otherwise always (a month about to be dropped, which
 * holds every row of its buckets).
 */
export async function rollupFromRaw(
  tx: Pick<Tx, "$executeRaw">,
  rows: Prisma.Sql,
  keepDropped: boolean,
): Promise<number> {
  return tx.$executeRaw`
    INSERT INTO candle_rollup AS r ${COLUMNS}
    ${AGGREGATE}
    FROM ${rows}
    WHERE ${FEEDS}
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (asset_id, interval_seconds, bucket, source) DO UPDATE SET
      open = EXCLUDED.open, open_at = EXCLUDED.open_at, high = EXCLUDED.high, low = EXCLUDED.low,
      close = EXCLUDED.close, close_end = EXCLUDED.close_end, close_at = EXCLUDED.close_at,
      bar_volume = EXCLUDED.bar_volume, bars = EXCLUDED.bars, last_volume = EXCLUDED.last_volume,
      last_volume_at = EXCLUDED.last_volume_at, observations = EXCLUDED.observations
    ${keepDropped ? Prisma.sql`WHERE EXCLUDED.observations >= r.observations` : Prisma.empty}`;
}

/**
 * Rolls up the runs not rolled up yet (their buckets recomputed from the raw rows) and marks them.
 * Runs at a run's end under the run lock, so no batch writes meanwhile; a failure leaves them
 * pending for the next run's end (and their buckets read raw until then).
 */
export async function rollUpPendingRuns(prisma: PrismaClient): Promise<number[]> {
  return prisma.$transaction(
    async (tx) => {
      const pending = await tx.$queryRaw<{ id: number }[]>`
        SELECT id FROM etl_run WHERE rolled_up_at IS NULL ORDER BY id FOR UPDATE`;
      if (pending.length === 0) return [];
      const ids = intArray(pending.map((p) => Number(p.id)));
      await rollupFromRaw(
        tx,
        Prisma.sql`(
          SELECT m.* FROM (
            SELECT DISTINCT o.asset_id, o.source, ${STEP} AS step, ${BUCKET} AS bucket
            FROM market_observation o WHERE o.run_id = ANY(${ids}::int[]) AND ${FEEDS}
          ) k
          JOIN market_observation m ON m.asset_id = k.asset_id AND m.source = k.source
            AND m.observed_at >= k.bucket AND m.observed_at < k.bucket + make_interval(secs => k.step)
            AND (CASE WHEN m.bar_seconds IS NULL OR m.bar_seconds <= 3600 THEN 3600 ELSE 86400 END) = k.step
        ) o`,
        true,
      );
      await tx.$executeRaw`UPDATE etl_run SET rolled_up_at = now() WHERE id = ANY(${ids}::int[])`;
      return pending.map((p) => Number(p.id));
    },
    // A long CSV run's buckets are many: this is its one pass over them.
    { timeout: 600_000, maxWait: 30_000 },
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
