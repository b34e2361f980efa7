-- Hourly and daily candles per (asset, source, bucket), kept when retention drops the raw
-- observations (issue #19). An hour row (interval_seconds 3600) holds the hour's point quotes and
-- bars of at most an hour; a day row (86400) the day's longer bars; a D1 candle combines both. Written in each batch's transaction by the write path
-- (src/pipeline/candle-rollups.ts), read by priceHistory (src/services/candles.ts), with exactly
-- the bucket rules of loadCandles. Each row carries what combining sources needs: when its open
-- and close happened (the earliest start, the latest end), its bars' volume and count, its last
-- point quote's 24 h volume and time. (Revisions are counted from candle_late_commit.)
-- CreateTable
CREATE TABLE "candle_rollup" (
    "asset_id" INTEGER NOT NULL,
    "source" "Source" NOT NULL,
    "interval_seconds" INTEGER NOT NULL,
    "bucket" TIMESTAMPTZ(3) NOT NULL,
    "open" DOUBLE PRECISION NOT NULL,
    "open_at" TIMESTAMPTZ(3) NOT NULL,
    "high" DOUBLE PRECISION NOT NULL,
    "low" DOUBLE PRECISION NOT NULL,
    "close" DOUBLE PRECISION NOT NULL,
    "close_end" TIMESTAMPTZ(3) NOT NULL,
    "close_at" TIMESTAMPTZ(3) NOT NULL,
    "bar_volume" DOUBLE PRECISION,
    "bars" INTEGER NOT NULL,
    "last_volume" DOUBLE PRECISION,
    "last_volume_at" TIMESTAMPTZ(3),
    "observations" INTEGER NOT NULL,

    CONSTRAINT "candle_rollup_pkey" PRIMARY KEY ("asset_id","interval_seconds","bucket","source")
);

-- Every run's end rewrites the current hour's rows in place: room on each page lets those updates
-- stay heap-only (no index entry per update; no indexed column ever changes).
ALTER TABLE "candle_rollup" SET (fillfactor = 70);

-- AddForeignKey
ALTER TABLE "candle_rollup" ADD CONSTRAINT "candle_rollup_asset_id_fkey" FOREIGN KEY ("asset_id") REFERENCES "asset"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- A run is rolled up once its buckets are (null: running, or crashed before its end; the next run's
-- end rolls it up). loadCandles reads the buckets of runs not rolled up from the raw rows, found
-- through (run_id, asset_id).
ALTER TABLE "etl_run" ADD COLUMN "rolled_up_at" TIMESTAMPTZ(3);
CREATE INDEX "etl_run_rolled_up_at_idx" ON "etl_run"("rolled_up_at");
DROP INDEX "market_observation_run_id_idx";
CREATE INDEX "market_observation_run_id_asset_id_idx" ON "market_observation"("run_id", "asset_id");

-- Backfill from every stored observation (the same aggregate as src/pipeline/candle-rollups.ts):
-- a point quote or a bar of at most an hour goes to its hour's row, a bar of at most a day to its
-- day's row.
INSERT INTO "candle_rollup" ("asset_id", "source", "interval_seconds", "bucket", "open", "open_at", "high", "low",
    "close", "close_end", "close_at", "bar_volume", "bars", "last_volume", "last_volume_at", "observations")
SELECT o.asset_id, o.source, o.step,
  date_bin(make_interval(secs => o.step), o.observed_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
  (array_agg(COALESCE(o.open, o.price_usd) ORDER BY o.observed_at))[1],
  min(o.observed_at),
  max(GREATEST(COALESCE(o.high, o.price_usd), o.price_usd)),
  min(LEAST(COALESCE(o.low, o.price_usd), o.price_usd)),
  (array_agg(COALESCE(o.close, o.price_usd)
    ORDER BY o.observed_at + make_interval(secs => COALESCE(o.bar_seconds, 0)) DESC, o.observed_at DESC))[1],
  max(o.observed_at + make_interval(secs => COALESCE(o.bar_seconds, 0))),
  (array_agg(o.observed_at
    ORDER BY o.observed_at + make_interval(secs => COALESCE(o.bar_seconds, 0)) DESC, o.observed_at DESC))[1],
  sum(o.volume_24h_usd) FILTER (WHERE o.bar_seconds IS NOT NULL),
  count(*) FILTER (WHERE o.bar_seconds IS NOT NULL),
  (array_agg(o.volume_24h_usd ORDER BY o.observed_at DESC)
    FILTER (WHERE o.bar_seconds IS NULL AND o.volume_24h_usd IS NOT NULL))[1],
  max(o.observed_at) FILTER (WHERE o.bar_seconds IS NULL AND o.volume_24h_usd IS NOT NULL),
  count(*)
FROM (
  SELECT m.*, CASE WHEN m.bar_seconds IS NULL OR m.bar_seconds <= 3600 THEN 3600 ELSE 86400 END AS step
  FROM "market_observation" m WHERE m.bar_seconds IS NULL OR m.bar_seconds <= 86400
) o
GROUP BY 1, 2, 3, 4;

-- Every run's rows are in the rollups now.
UPDATE "etl_run" SET "rolled_up_at" = now();
