-- Idempotency keys of triggers that joined a run already going (issue #14): a retry with the
-- key returns that run, even after it ended.
-- CreateTable
CREATE TABLE "run_idempotency_key" (
    "key" TEXT NOT NULL,
    "run_id" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "run_idempotency_key_pkey" PRIMARY KEY ("key")
);

-- CreateIndex
CREATE INDEX "run_idempotency_key_run_id_idx" ON "run_idempotency_key"("run_id");

-- AddForeignKey
ALTER TABLE "run_idempotency_key" ADD CONSTRAINT "run_idempotency_key_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "etl_run"("id") ON DELETE CASCADE ON UPDATE CASCADE;
