-- Issue #13: identity scoped per CSV file, source ranks that expire, bars that know their length,
-- quarantine that holds. Written by hand (offline), equal to prisma/schema.prisma (tested).

-- CSV ids are the file's own: the mapping key becomes (source, file, source_asset_id); the API
-- sources keep file = '' (their ids are global). Mappings made before this migration keep ''.
-- AlterTable
ALTER TABLE "asset_source" ADD COLUMN "file" TEXT NOT NULL DEFAULT '';
ALTER TABLE "asset_source" ADD COLUMN "rank" INTEGER;

-- DropIndex
DROP INDEX "asset_source_source_source_asset_id_key";

-- CreateIndex
CREATE UNIQUE INDEX "asset_source_source_file_source_asset_id_key" ON "asset_source"("source", "file", "source_asset_id");

-- Source ranks from observations already stored: each API mapping's newest observed rank.
UPDATE "asset_source" s SET "rank" = o."rank"
FROM (
  SELECT DISTINCT ON (asset_id, source) asset_id, source, rank
  FROM "market_observation" WHERE source <> 'CSV'
  ORDER BY asset_id, source, observed_at DESC
) o
WHERE s."asset_id" = o.asset_id AND s."source" = o.source AND s."source" <> 'CSV';

-- AlterTable
ALTER TABLE "market_observation" ADD COLUMN "bar_seconds" INTEGER;

-- AlterTable
ALTER TABLE "source_run" ADD COLUMN "rejected_truncated" INTEGER NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "drift_baseline" ADD COLUMN "accepted" JSONB;
ALTER TABLE "drift_baseline" ADD COLUMN "renames" JSONB;

-- CreateTable
CREATE TABLE "quarantined_stream" (
    "id" SERIAL NOT NULL,
    "run_id" INTEGER NOT NULL,
    "source" "Source" NOT NULL,
    "stream" TEXT NOT NULL,
    "payload_id" INTEGER NOT NULL,
    "records" INTEGER NOT NULL,
    "missing_fields" TEXT[],
    "held_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "released_at" TIMESTAMPTZ(3),
    "release_run_id" INTEGER,

    CONSTRAINT "quarantined_stream_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "quarantined_stream_run_id_source_idx" ON "quarantined_stream"("run_id", "source");

-- CreateIndex
CREATE INDEX "quarantined_stream_payload_id_idx" ON "quarantined_stream"("payload_id");

-- AddForeignKey
ALTER TABLE "quarantined_stream" ADD CONSTRAINT "quarantined_stream_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "etl_run"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "quarantined_stream" ADD CONSTRAINT "quarantined_stream_payload_id_fkey" FOREIGN KEY ("payload_id") REFERENCES "raw_payload"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
