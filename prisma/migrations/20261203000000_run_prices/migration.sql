-- Per-run price aggregates (issue #19): compareRuns' largestPriceMoves reads these instead of
-- scanning market_observation twice per request. Each row is an (asset, source)'s newest
-- observation committed by the run's end, written once when the run finishes.
-- CreateTable
CREATE TABLE "run_price" (
    "run_id" INTEGER NOT NULL,
    "asset_id" INTEGER NOT NULL,
    "source" "Source" NOT NULL,
    "price_usd" DOUBLE PRECISION NOT NULL,

    CONSTRAINT "run_price_pkey" PRIMARY KEY ("run_id","asset_id","source")
);

-- AddForeignKey
ALTER TABLE "run_price" ADD CONSTRAINT "run_price_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "etl_run"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "run_price" ADD CONSTRAINT "run_price_asset_id_fkey" FOREIGN KEY ("asset_id") REFERENCES "asset"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Backfill: every run that finished before this migration gets the aggregate the old query
-- computed at request time (the same reconstruction from what is stored now), so compareRuns
-- answers for old runs as it did.
INSERT INTO "run_price" ("run_id", "asset_id", "source", "price_usd")
SELECT r."id", o."asset_id", o."source", o."price_usd"
FROM "etl_run" r
CROSS JOIN LATERAL (
    SELECT DISTINCT ON ("asset_id", "source") "asset_id", "source", "price_usd"
    FROM "market_observation"
    WHERE "committed_at" <= r."finished_at"
    ORDER BY "asset_id", "source", "observed_at" DESC
) o
WHERE r."finished_at" IS NOT NULL;
