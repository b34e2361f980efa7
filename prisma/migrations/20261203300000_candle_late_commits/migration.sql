-- Live candles' revisions (issue #17): one row per commit that wrote into a candle's bucket after
-- the bucket had ended, with the commit's own time. A candle's revision is the number of these
-- at or after its final moment (bucket end + CANDLE_FINALITY_SECONDS), so it counts commits, is
-- never lowered by a rewrite (the rows themselves keep one committed_at), and never dropped by
-- observation retention. Commits into a bucket that has not ended (the live runs' case) write
-- nothing here.
-- CreateTable
CREATE TABLE "candle_late_commit" (
    "asset_id" INTEGER NOT NULL,
    "interval_seconds" INTEGER NOT NULL,
    "bucket" TIMESTAMPTZ(3) NOT NULL,
    "committed_at" TIMESTAMPTZ(6) NOT NULL,
    "source" "Source" NOT NULL,

    CONSTRAINT "candle_late_commit_pkey" PRIMARY KEY ("asset_id","interval_seconds","bucket","committed_at","source")
);

-- AddForeignKey
ALTER TABLE "candle_late_commit" ADD CONSTRAINT "candle_late_commit_asset_id_fkey" FOREIGN KEY ("asset_id") REFERENCES "asset"("id") ON DELETE CASCADE ON UPDATE CASCADE;
