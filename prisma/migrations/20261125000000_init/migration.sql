-- Initial schema: the whole data model of DESIGN.md, in Prisma's own migration layout.
-- Written by hand (prisma migrate needs the schema engine, which is not reachable offline);
-- test/integration/schema-matches-datamodel.test.ts proves it equals prisma/schema.prisma.

-- CreateEnum
CREATE TYPE "Source" AS ENUM ('COINGECKO', 'COINPAPRIKA', 'CSV');

-- CreateEnum
CREATE TYPE "RunStatus" AS ENUM ('RUNNING', 'SUCCEEDED', 'PARTIAL', 'FAILED');

-- CreateEnum
CREATE TYPE "RunTrigger" AS ENUM ('SCHEDULE', 'API', 'CLI', 'STARTUP');

-- CreateEnum
CREATE TYPE "DriftKind" AS ENUM ('ADDED', 'REMOVED', 'TYPE_CHANGED', 'RENAMED');

-- CreateEnum
CREATE TYPE "Severity" AS ENUM ('INFO', 'WARNING', 'CRITICAL');

-- CreateTable
CREATE TABLE "asset" (
    "id" SERIAL NOT NULL,
    "symbol" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "rank" INTEGER,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "asset_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "asset_source" (
    "id" SERIAL NOT NULL,
    "asset_id" INTEGER NOT NULL,
    "source" "Source" NOT NULL,
    "source_asset_id" TEXT NOT NULL,
    "symbol" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "matched_by" TEXT NOT NULL,
    "confidence" DOUBLE PRECISION NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "asset_source_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "market_observation" (
    "id" BIGSERIAL NOT NULL,
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
    "run_id" INTEGER NOT NULL,
    "committed_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "market_observation_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "latest_price" (
    "asset_id" INTEGER NOT NULL,
    "source" "Source" NOT NULL,
    "observation_id" BIGINT NOT NULL,
    "seq" BIGINT NOT NULL,
    "price_usd" DOUBLE PRECISION NOT NULL,
    "observed_at" TIMESTAMPTZ(3) NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "latest_price_pkey" PRIMARY KEY ("asset_id","source")
);

-- CreateTable
CREATE TABLE "etl_run" (
    "id" SERIAL NOT NULL,
    "trigger" "RunTrigger" NOT NULL,
    "status" "RunStatus" NOT NULL DEFAULT 'RUNNING',
    "requested" "Source"[],
    "idempotency_key" TEXT,
    "started_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMPTZ(3),
    "duration_ms" INTEGER,
    "schedule_slot" BIGINT,
    "fetched" INTEGER NOT NULL DEFAULT 0,
    "written" INTEGER NOT NULL DEFAULT 0,
    "unchanged" INTEGER NOT NULL DEFAULT 0,
    "rejected" INTEGER NOT NULL DEFAULT 0,
    "error" TEXT,
    "stopped_at" JSONB,
    "owner" TEXT,

    CONSTRAINT "etl_run_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "source_run" (
    "id" SERIAL NOT NULL,
    "run_id" INTEGER NOT NULL,
    "source" "Source" NOT NULL,
    "status" "RunStatus" NOT NULL DEFAULT 'RUNNING',
    "started_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMPTZ(3),
    "duration_ms" INTEGER,
    "fetched" INTEGER NOT NULL DEFAULT 0,
    "written" INTEGER NOT NULL DEFAULT 0,
    "unchanged" INTEGER NOT NULL DEFAULT 0,
    "rejected" INTEGER NOT NULL DEFAULT 0,
    "quarantined" INTEGER NOT NULL DEFAULT 0,
    "error" TEXT,
    "error_kind" TEXT,
    "checkpoint_before" JSONB,
    "checkpoint_after" JSONB,
    "null_rates" JSONB,

    CONSTRAINT "source_run_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "checkpoint" (
    "source" "Source" NOT NULL,
    "stream" TEXT NOT NULL,
    "checksum" TEXT,
    "row_offset" INTEGER NOT NULL DEFAULT 0,
    "run_id" INTEGER,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "checkpoint_pkey" PRIMARY KEY ("source","stream")
);

-- CreateTable
CREATE TABLE "raw_payload" (
    "id" SERIAL NOT NULL,
    "source" "Source" NOT NULL,
    "content_hash" TEXT NOT NULL,
    "request" JSONB NOT NULL,
    "status" INTEGER NOT NULL,
    "content_type" TEXT,
    "body" TEXT NOT NULL,
    "size_bytes" INTEGER NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "raw_payload_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "raw_payload_run" (
    "payload_id" INTEGER NOT NULL,
    "run_id" INTEGER NOT NULL,
    "seen_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "raw_payload_run_pkey" PRIMARY KEY ("payload_id","run_id")
);

-- CreateTable
CREATE TABLE "drift_baseline" (
    "source" "Source" NOT NULL,
    "fingerprint" JSONB NOT NULL,
    "run_id" INTEGER,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "drift_baseline_pkey" PRIMARY KEY ("source")
);

-- CreateTable
CREATE TABLE "drift_event" (
    "id" SERIAL NOT NULL,
    "run_id" INTEGER NOT NULL,
    "source" "Source" NOT NULL,
    "kind" "DriftKind" NOT NULL,
    "path" TEXT NOT NULL,
    "renamed_from" TEXT,
    "from_type" TEXT,
    "to_type" TEXT,
    "confidence" DOUBLE PRECISION NOT NULL,
    "detected_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "drift_event_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "rejected_record" (
    "id" SERIAL NOT NULL,
    "run_id" INTEGER NOT NULL,
    "source" "Source" NOT NULL,
    "location" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "raw" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "rejected_record_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "anomaly" (
    "id" SERIAL NOT NULL,
    "run_id" INTEGER NOT NULL,
    "asset_id" INTEGER,
    "source" "Source",
    "kind" TEXT NOT NULL,
    "severity" "Severity" NOT NULL,
    "detail" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "anomaly_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "asset_symbol_idx" ON "asset"("symbol");

-- CreateIndex
CREATE INDEX "asset_rank_idx" ON "asset"("rank");

-- CreateIndex
CREATE INDEX "asset_source_asset_id_idx" ON "asset_source"("asset_id");

-- CreateIndex
CREATE UNIQUE INDEX "asset_source_source_source_asset_id_key" ON "asset_source"("source", "source_asset_id");

-- CreateIndex
CREATE UNIQUE INDEX "market_observation_seq_key" ON "market_observation"("seq");

-- CreateIndex
CREATE INDEX "market_observation_asset_id_observed_at_idx" ON "market_observation"("asset_id", "observed_at");

-- CreateIndex
CREATE INDEX "market_observation_observed_at_idx" ON "market_observation"("observed_at");

-- CreateIndex
CREATE INDEX "market_observation_committed_at_idx" ON "market_observation"("committed_at");

-- CreateIndex
CREATE INDEX "market_observation_run_id_idx" ON "market_observation"("run_id");

-- CreateIndex
CREATE UNIQUE INDEX "market_observation_asset_id_source_observed_at_key" ON "market_observation"("asset_id", "source", "observed_at");

-- CreateIndex
CREATE UNIQUE INDEX "etl_run_idempotency_key_key" ON "etl_run"("idempotency_key");

-- CreateIndex
CREATE INDEX "etl_run_started_at_idx" ON "etl_run"("started_at");

-- CreateIndex
CREATE INDEX "etl_run_status_idx" ON "etl_run"("status");

-- CreateIndex
CREATE UNIQUE INDEX "source_run_run_id_source_key" ON "source_run"("run_id", "source");

-- CreateIndex
CREATE UNIQUE INDEX "raw_payload_content_hash_key" ON "raw_payload"("content_hash");

-- CreateIndex
CREATE INDEX "raw_payload_received_at_idx" ON "raw_payload"("received_at");

-- CreateIndex
CREATE INDEX "raw_payload_run_run_id_idx" ON "raw_payload_run"("run_id");

-- CreateIndex
CREATE INDEX "drift_event_source_detected_at_idx" ON "drift_event"("source", "detected_at");

-- CreateIndex
CREATE INDEX "drift_event_run_id_idx" ON "drift_event"("run_id");

-- CreateIndex
CREATE INDEX "rejected_record_run_id_idx" ON "rejected_record"("run_id");

-- CreateIndex
CREATE INDEX "anomaly_run_id_idx" ON "anomaly"("run_id");

-- CreateIndex
CREATE INDEX "anomaly_asset_id_idx" ON "anomaly"("asset_id");

-- AddForeignKey
ALTER TABLE "asset_source" ADD CONSTRAINT "asset_source_asset_id_fkey" FOREIGN KEY ("asset_id") REFERENCES "asset"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "market_observation" ADD CONSTRAINT "market_observation_asset_id_fkey" FOREIGN KEY ("asset_id") REFERENCES "asset"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "market_observation" ADD CONSTRAINT "market_observation_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "etl_run"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "latest_price" ADD CONSTRAINT "latest_price_asset_id_fkey" FOREIGN KEY ("asset_id") REFERENCES "asset"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "source_run" ADD CONSTRAINT "source_run_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "etl_run"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "raw_payload_run" ADD CONSTRAINT "raw_payload_run_payload_id_fkey" FOREIGN KEY ("payload_id") REFERENCES "raw_payload"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "raw_payload_run" ADD CONSTRAINT "raw_payload_run_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "etl_run"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "drift_event" ADD CONSTRAINT "drift_event_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "etl_run"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rejected_record" ADD CONSTRAINT "rejected_record_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "etl_run"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "anomaly" ADD CONSTRAINT "anomaly_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "etl_run"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "anomaly" ADD CONSTRAINT "anomaly_asset_id_fkey" FOREIGN KEY ("asset_id") REFERENCES "asset"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- The global commit-ordered sequence behind market_observation.seq (not a column default:
-- the writer takes nextval under pg_advisory_xact_lock so seq order is commit order).
CREATE SEQUENCE "market_observation_seq_seq" AS BIGINT;
