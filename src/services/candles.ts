import type { PrismaClient, Tx } from "../db/database.ts";
import { Prisma } from "../generated/prisma/client.ts";
import { ROLLUP_INTERVALS } from "../pipeline/candle-rollups.ts";
import type { SourceId } from "../sources/record.ts";
import { badInput } from "./errors.ts";

export const MAX_CANDLES = 5000;
export const INTERVAL_SECONDS = { M5: 300, H1: 3_600, D1: 86_400 } as const;
export type Interval = keyof typeof INTERVAL_SECONDS;

export interface Candle {
  assetId: number;
  interval: Interval;
  bucket: Date;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number | null;
  volume24hUsd: number | null;
  sources: SourceId[];
  observations: number;
  /** The bucket ended at least CANDLE_FINALITY_SECONDS ago: what it holds now is settled. */
  final: boolean;
  /** Commits that changed the bucket after it became final (a backfill, a lagging source); 0 if none. */
  revision: number;
}

/** When candles become final: CANDLE_FINALITY_SECONDS after their bucket's end. */
export interface Finality {
  seconds: number;
}

/** When a bucket's candle becomes final (ms since the epoch): its end plus the finality delay. */
export function finalAt(bucket: Date, interval: Interval, finalitySeconds: number): number {
  return bucket.getTime() + (INTERVAL_SECONDS[interval] + finalitySeconds) * 1000;
}

interface CandleRow {
  bucket: Date;
  open: number;
  high: number;
  low: number;
  close: number;
  bar_volume: number | null;
  bars: number;
  last_volume: number | null;
  sources: string[] | string;
  observations: number;
  revision: number;
  final: boolean;
}

/**
 * OHLC candles from stored observations (all sources unless filtered); empty buckets are absent,
 * never invented. The bucket rules (live candles use them too):
 * - a point quote (an API snapshot, a CSV close) is a price at its moment;
 * - an OHLC bar (a CSV's daily row) feeds only buckets at least as long as itself: a day's high
 *   and low never become a 5-minute candle's. It opens at its start and closes at its end;
 * - open is the earliest start's open, close the latest end's close, high and low the extremes;
 * - volume is what traded in the bucket: the sum of its bars' volumes; for a D1 bucket of point
 *   quotes only, the last quote's 24 h volume (the day's, as the snapshot sources report it);
 *   otherwise unknown (null: a rolling 24 h figure says nothing about 5 minutes).
 * A bucket is final once `finality.seconds` have passed after its end, by the database's clock;
 * its revision counts the commits that wrote into it after that (candle_late_commit, recorded by
 * the batch writer under the seq lock; a rewrite adds a commit, never removes one).
 * priceHistory and candleUpdates read both here, so they give the same numbers.
 * H1 and D1 read the candle rollups (src/pipeline/candle-rollups.ts: the same rules per source,
 * combined here; kept when retention drops the raw rows) for whole buckets, and raw rows for a
 * partial bucket at an unaligned from or to and for the buckets of runs not rolled up yet; M5
 * reads raw rows only. Ties between sources go to the source order (COINGECKO, COINPAPRIKA, CSV),
 * as in the raw aggregate.
 * At most the newest 5,000 buckets are returned; with a `limit`, the newest `limit`, read from a
 * window below the asset's newest row (widened until it holds them), not the whole history.
 */
export async function loadCandles(
  prisma: PrismaClient | Tx,
  assetId: number,
  args: CandleArgs,
  finality: Finality,
): Promise<Candle[]> {
  if (args.from && args.to && args.from >= args.to) throw badInput("from", "must be before to");
  if (args.limit != null && (args.limit < 1 || args.limit > MAX_CANDLES)) {
    throw badInput("limit", `must be between 1 and ${MAX_CANDLES}, got ${args.limit}`);
  }
  const limit = args.limit;
  if (limit == null) return queryCandles(prisma, assetId, args, finality);
  // The newest `limit` buckets without aggregating the asset's whole history (rollups are kept
  // for good): first a window of 2 x limit buckets below the asset's newest row, widened 8x
  // until it holds `limit` buckets or reaches `from`. The window starts on a bucket boundary,
  // so each bucket in it is the same as in the whole range.
  // The asset's oldest data bounds the widening: once a window reaches it, the next statement is
  // the whole range, not one more window (an asset with fewer buckets than `limit`, or a sparse
  // `sources` filter, made 3-7 whole-history aggregates of it). Rollups outlive retention, so
  // their oldest bucket counts too.
  const [bounds] = await prisma.$queryRaw<
    { newest: Date | null; oldest: Date | null; rolled: Date | null }[]
  >`
    SELECT max(observed_at) AS newest, min(observed_at) AS oldest,
      LEAST(
        (SELECT min(bucket) FROM candle_rollup WHERE asset_id = ${assetId} AND interval_seconds = 3600),
        (SELECT min(bucket) FROM candle_rollup WHERE asset_id = ${assetId} AND interval_seconds = 86400)
      ) AS rolled
    FROM market_observation WHERE asset_id = ${assetId}`;
  if (!bounds?.newest) return queryCandles(prisma, assetId, args, finality);
  const { newest, rolled } = bounds;
  const stepMs = INTERVAL_SECONDS[args.interval] * 1000;
  const oldest = Math.min(
    new Date(bounds.oldest ?? newest).getTime(),
    rolled ? new Date(rolled).getTime() : Number.POSITIVE_INFINITY,
  );
  const floor = Math.max(args.from?.getTime() ?? 0, oldest);
  const upper = Math.min(args.to?.getTime() ?? Number.POSITIVE_INFINITY, new Date(newest).getTime() + stepMs);
  for (let span = 2 * limit * stepMs; ; span *= 8) {
    const start = Math.floor((upper - span) / stepMs) * stepMs;
    if (start <= floor) return queryCandles(prisma, assetId, args, finality);
    const candles = await queryCandles(prisma, assetId, { ...args, from: new Date(start) }, finality);
    if (candles.length >= limit) return candles;
  }
}

interface CandleArgs {
  interval: Interval;
  from?: Date | null;
  to?: Date | null;
  sources?: SourceId[] | null;
  limit?: number | null;
  /** false: raw rows only (what the rollups are tested against; M5 always). Default true. */
  rollups?: boolean;
}

/** loadCandles' statement over [from, to) as given. */
async function queryCandles(
  prisma: PrismaClient | Tx,
  assetId: number,
  args: CandleArgs,
  finality: Finality,
): Promise<Candle[]> {
  const step = INTERVAL_SECONDS[args.interval];
  const sourceFilter = args.sources?.length
    ? Prisma.sql`AND source::text = ANY(${args.sources}::text[])`
    : Prisma.empty;
  const from = args.from ?? new Date(0);
  const to = args.to ?? new Date("9999-01-01T00:00:00Z");
  // H1 and D1: the whole buckets inside [from, to) from the rollups (they hold every rolled-up
  // row, also those retention dropped), the partial buckets at an unaligned from or to and the
  // buckets of runs not rolled up yet from the raw rows. M5 is raw only. Both give the same
  // numbers where both exist (candle-rollups.test.ts).
  const stepMs = step * 1000;
  const whole = (ROLLUP_INTERVALS as readonly number[]).includes(step)
    ? {
        from: new Date(Math.ceil(from.getTime() / stepMs) * stepMs),
        to: new Date(Math.floor(to.getTime() / stepMs) * stepMs),
      }
    : null;
  const useRollups = args.rollups !== false && whole !== null && whole.from < whole.to;
  // Buckets a run not rolled up yet (the one writing, or one that crashed) wrote into: read from
  // the raw rows until its end rolls them up.
  const dirty = useRollups
    ? Prisma.sql`WITH dirty AS (
        SELECT DISTINCT date_bin(make_interval(secs => ${step}), m.observed_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')
          AS bucket
        FROM market_observation m
        WHERE m.run_id IN (SELECT id FROM etl_run WHERE rolled_up_at IS NULL)
          AND m.asset_id = ${assetId}
          AND m.observed_at >= ${whole.from} AND m.observed_at < ${whole.to}
          AND (m.bar_seconds IS NULL OR m.bar_seconds <= ${step})
      )`
    : Prisma.empty;
  // The edges as two index ranges, [from, whole.from) and [whole.to, to): written as [from, to)
  // minus the whole range, the index scan read every row of the asset in [from, to) (all of its
  // history when from is open) only to filter them out.
  const rawRows = useRollups
    ? Prisma.sql`(
        SELECT * FROM market_observation
        WHERE asset_id = ${assetId} AND observed_at >= ${from} AND observed_at < ${whole.from}
        UNION ALL
        SELECT * FROM market_observation
        WHERE asset_id = ${assetId} AND observed_at >= ${whole.to} AND observed_at < ${to}
        UNION ALL
        SELECT m.* FROM dirty d JOIN market_observation m ON m.asset_id = ${assetId}
          AND m.observed_at >= d.bucket AND m.observed_at < d.bucket + make_interval(secs => ${step})
      ) o`
    : Prisma.sql`(
        SELECT * FROM market_observation WHERE asset_id = ${assetId} AND observed_at >= ${from} AND observed_at < ${to}
      ) o`;
  // Hour rows make H1 candles; a D1 candle combines its day's hour rows and day row (the bars
  // longer than an hour). Per source each rollup row is one candidate for open and close, so
  // ordering them as the raw aggregate orders rows gives the same choice.
  const rollupSourceFilter = args.sources?.length
    ? Prisma.sql`AND r.source::text = ANY(${args.sources}::text[])`
    : Prisma.empty;
  const rollupBucket = Prisma.sql`date_bin(make_interval(secs => ${step}), r.bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00')`;
  const rollupPart = useRollups
    ? Prisma.sql`UNION ALL
      SELECT * FROM (
        SELECT ${rollupBucket} AS bucket,
          (array_agg(r.open ORDER BY r.open_at, r.source))[1] AS open,
          max(r.high) AS high,
          min(r.low) AS low,
          (array_agg(r.close ORDER BY r.close_end DESC, r.source, r.close_at DESC))[1] AS close,
          sum(r.bar_volume) AS bar_volume,
          sum(r.bars)::int AS bars,
          (array_agg(r.last_volume ORDER BY r.last_volume_at DESC, r.source)
            FILTER (WHERE r.last_volume_at IS NOT NULL))[1] AS last_volume,
          array_agg(DISTINCT r.source::text) AS sources,
          sum(r.observations)::int AS observations
        FROM candle_rollup r
        WHERE r.asset_id = ${assetId} AND r.interval_seconds <= ${step}::int
          AND r.bucket >= ${whole.from} AND r.bucket < ${whole.to}
          AND NOT EXISTS (SELECT 1 FROM dirty d WHERE d.bucket = ${rollupBucket})
          ${rollupSourceFilter}
        GROUP BY 1
      ) g`
    : Prisma.empty;
  const settled = step + finality.seconds;
  const lateSourceFilter = args.sources?.length
    ? Prisma.sql`AND l.source::text = ANY(${args.sources}::text[])`
    : Prisma.empty;
  const rows = await prisma.$queryRaw<CandleRow[]>`
    ${dirty}
    SELECT c.*,
      (SELECT count(DISTINCT (l.committed_at, l.source))::int FROM candle_late_commit l
        WHERE l.asset_id = ${assetId} AND l.bucket >= c.bucket AND l.bucket < c.bucket + make_interval(secs => ${step})
          AND l.interval_seconds <= ${step}
          AND l.committed_at >= c.bucket + make_interval(secs => ${settled}) ${lateSourceFilter}) AS revision,
      c.bucket + make_interval(secs => ${settled}) <= now() AS final
    FROM (
      SELECT * FROM (
        SELECT date_bin(make_interval(secs => ${step}), observed_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
          (array_agg(COALESCE(open, price_usd) ORDER BY observed_at, source))[1] AS open,
          max(GREATEST(COALESCE(high, price_usd), price_usd)) AS high,
          min(LEAST(COALESCE(low, price_usd), price_usd)) AS low,
          (array_agg(COALESCE(close, price_usd)
            ORDER BY observed_at + make_interval(secs => COALESCE(bar_seconds, 0)) DESC, source, observed_at DESC))[1]
            AS close,
          sum(volume_24h_usd) FILTER (WHERE bar_seconds IS NOT NULL) AS bar_volume,
          count(*) FILTER (WHERE bar_seconds IS NOT NULL)::int AS bars,
          (array_agg(volume_24h_usd ORDER BY observed_at DESC, source)
            FILTER (WHERE bar_seconds IS NULL AND volume_24h_usd IS NOT NULL))[1] AS last_volume,
          array_agg(DISTINCT source::text) AS sources,
          count(*)::int AS observations
        FROM ${rawRows}
        WHERE (bar_seconds IS NULL OR bar_seconds <= ${step})
          ${sourceFilter}
        GROUP BY 1
      ) raw
      ${rollupPart}
      ORDER BY bucket DESC
      LIMIT ${args.limit ?? MAX_CANDLES}
    ) c ORDER BY bucket`;
  return rows.map((r) => {
    const lastVolume = r.last_volume === null ? null : Number(r.last_volume);
    return {
      assetId,
      interval: args.interval,
      bucket: new Date(r.bucket),
      open: Number(r.open),
      high: Number(r.high),
      low: Number(r.low),
      close: Number(r.close),
      volume:
        Number(r.bars) > 0
          ? r.bar_volume === null
            ? null
            : Number(r.bar_volume)
          : args.interval === "D1"
            ? lastVolume
            : null,
      volume24hUsd: lastVolume,
      sources: (Array.isArray(r.sources)
        ? r.sources
        : r.sources.replace(/[{}]/g, "").split(",")
      ).sort() as SourceId[],
      observations: Number(r.observations),
      final: r.final === true,
      revision: Number(r.revision),
    };
  });
}
