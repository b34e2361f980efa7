-- Assets each source run resolved (written or unchanged), so compareRuns can tell which assets
-- a source added or dropped between two runs.
-- AlterTable
ALTER TABLE "source_run" ADD COLUMN "seen_asset_ids" INTEGER[];
