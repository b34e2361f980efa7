-- Live candles' revisions (issue #17): one row per commit that wrote into a candle's bucket after
-- the bucket had ended, with the commit's own time. Rows are kept at the shortest interval the
-- written row feeds (a point quote: 5 minutes; a daily bar: 1 day); a longer candle counts the
-- distinct commits of the buckets it contains. A candle's revision is the number of these
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

    CONSTRAINT "candle_late_commit_pkey" PRIMARY KEY ("asset_id","bucket","interval_seconds","committed_at","source")
);

-- No foreign key to asset: its check per row cost about a fifth of the write path's throughput on a backfill (every
-- row of a backfill is late), and assets are never deleted.
