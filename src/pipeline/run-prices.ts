import type { PrismaClient } from "../db/database.ts";

type Tx = Pick<PrismaClient, "$executeRaw">;

/**
 * Writes a run's price aggregate: each (asset, source)'s newest observation committed by `end`.
 * Called once, in the transaction that records the run's end, so compareRuns never has to scan
 * market_observation. Idempotent (a retried end-of-run transaction writes nothing twice).
 */
export async function recordRunPrices(tx: Tx, runId: number, end: Date): Promise<void> {
  await tx.$executeRaw`
    INSERT INTO run_price (run_id, asset_id, source, price_usd)
    SELECT DISTINCT ON (asset_id, source) ${runId}::int, asset_id, source, price_usd
    FROM market_observation WHERE committed_at <= ${end}
    ORDER BY asset_id, source, observed_at DESC
    ON CONFLICT DO NOTHING`;
}
