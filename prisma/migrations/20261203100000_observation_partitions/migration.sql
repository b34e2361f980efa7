-- market_observation partitioned by month of observed_at (issue #19), so that retention drops
-- whole partitions (OBSERVATION_RETENTION_DAYS) and time-bounded reads touch only theirs.
--
-- A partitioned table's unique constraints must contain the partition key:
-- - the primary key becomes (id, observed_at); id still comes from its own sequence, so it stays
--   unique by itself (no foreign key points at market_observation);
-- - seq is no longer a unique constraint but a plain index: its uniqueness is the sequence's
--   (nextval under the batch's advisory lock, src/pipeline/batch-writer.ts), as before;
-- - (asset_id, source, observed_at), the upsert's ON CONFLICT target, already contains it.
--
-- Monthly partitions are market_observation_yYYYYmMM, [month start, next month start) in UTC.
-- market_observation_history is the DEFAULT partition: every row no monthly partition covers
-- (CSV history back to 2013, rows dated in a month retention already dropped). Retention never
-- drops it. This migration creates the months from the oldest API observation (at most 24 months
-- back) to two months ahead; the service creates later months ahead (src/db/observation-partitions.ts).
-- Every existing row is copied; ids, seqs and commit times are kept.

-- The old table moves aside with its index and constraint names (the new table takes them).
ALTER TABLE "market_observation" RENAME TO "market_observation_unpartitioned";
ALTER TABLE "market_observation_unpartitioned" RENAME CONSTRAINT "market_observation_pkey" TO "market_observation_unpartitioned_pkey";
ALTER INDEX "market_observation_seq_key" RENAME TO "market_observation_unpartitioned_seq_key";
ALTER INDEX "market_observation_asset_id_observed_at_idx" RENAME TO "market_observation_unpartitioned_asset_id_observed_at_idx";
ALTER INDEX "market_observation_observed_at_idx" RENAME TO "market_observation_unpartitioned_observed_at_idx";
ALTER INDEX "market_observation_committed_at_idx" RENAME TO "market_observation_unpartitioned_committed_at_idx";
ALTER INDEX "market_observation_run_id_idx" RENAME TO "market_observation_unpartitioned_run_id_idx";
ALTER INDEX "market_observation_asset_id_source_observed_at_key" RENAME TO "market_observation_unpartitioned_asset_id_source_observed_at_key";
-- The id sequence survives the old table's drop and keeps counting for the new one.
ALTER SEQUENCE "market_observation_id_seq" OWNED BY NONE;

-- CreateTable
CREATE TABLE "market_observation" (
    "id" BIGINT NOT NULL DEFAULT nextval('market_observation_id_seq'),
    "seq" BIGINT NOT NULL,
    "asset_id" INTEGER NOT NULL,
    "source" "Source" NOT NULL,
    "observed_at" TIMESTAMPTZ(3) NOT NULL,
    "price_usd" DOUBLE PRECISION NOT NULL,
    "market_cap_usd" DOUBLE PRECISION,
    "volume_24h_usd" DOUBLE PRECISION,
    "change_24h_pct" DOUBLE PRECISION,
    "circulating_supply" DOUBLE PRECISION,
    "total_supply" DOUBLE PRECISION,
    "max_supply" DOUBLE PRECISION,
    "rank" INTEGER,
    "open" DOUBLE PRECISION,
    "high" DOUBLE PRECISION,
    "low" DOUBLE PRECISION,
    "close" DOUBLE PRECISION,
    "bar_seconds" INTEGER,
    "run_id" INTEGER NOT NULL,
    "committed_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "market_observation_pkey" PRIMARY KEY ("id", "observed_at")
) PARTITION BY RANGE ("observed_at");

ALTER SEQUENCE "market_observation_id_seq" OWNED BY "market_observation"."id";

-- CreateIndex
CREATE INDEX "market_observation_seq_idx" ON "market_observation"("seq");
CREATE INDEX "market_observation_asset_id_observed_at_idx" ON "market_observation"("asset_id", "observed_at");
CREATE INDEX "market_observation_observed_at_idx" ON "market_observation"("observed_at");
CREATE INDEX "market_observation_committed_at_idx" ON "market_observation"("committed_at");
CREATE INDEX "market_observation_run_id_idx" ON "market_observation"("run_id");
CREATE UNIQUE INDEX "market_observation_asset_id_source_observed_at_key" ON "market_observation"("asset_id", "source", "observed_at");

-- AddForeignKey
ALTER TABLE "market_observation" ADD CONSTRAINT "market_observation_asset_id_fkey" FOREIGN KEY ("asset_id") REFERENCES "asset"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "market_observation" ADD CONSTRAINT "market_observation_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "etl_run"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- The default partition, then the months (UTC) from the oldest API observation to two ahead.
CREATE TABLE "market_observation_history" PARTITION OF "market_observation" DEFAULT;

DO $$
DECLARE
  this_month timestamp := date_trunc('month', now() AT TIME ZONE 'UTC');
  first_month timestamp;
  m timestamp;
BEGIN
  SELECT greatest(
           date_trunc('month', coalesce(min(observed_at) AT TIME ZONE 'UTC', this_month)),
           this_month - interval '24 months')
    INTO first_month
    FROM "market_observation_unpartitioned" WHERE source <> 'CSV';
  m := least(first_month, this_month);
  WHILE m <= this_month + interval '2 months' LOOP
    EXECUTE format(
      'CREATE TABLE %I PARTITION OF "market_observation" FOR VALUES FROM (%L) TO (%L)',
      'market_observation_y' || to_char(m, 'YYYY') || 'm' || to_char(m, 'MM'),
      to_char(m, 'YYYY-MM-DD') || ' 00:00:00+00',
      to_char(m + interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+00');
    m := m + interval '1 month';
  END LOOP;
END $$;

-- Every existing row, as it was.
INSERT INTO "market_observation" ("id", "seq", "asset_id", "source", "observed_at", "price_usd",
    "market_cap_usd", "volume_24h_usd", "change_24h_pct", "circulating_supply", "total_supply",
    "max_supply", "rank", "open", "high", "low", "close", "bar_seconds", "run_id", "committed_at")
  SELECT "id", "seq", "asset_id", "source", "observed_at", "price_usd", "market_cap_usd",
    "volume_24h_usd", "change_24h_pct", "circulating_supply", "total_supply", "max_supply", "rank",
    "open", "high", "low", "close", "bar_seconds", "run_id", "committed_at"
  FROM "market_observation_unpartitioned";

DROP TABLE "market_observation_unpartitioned";
