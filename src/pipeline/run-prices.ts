import type { PrismaClient } from "../db/database.ts";

type Tx = Pick<PrismaClient, "$executeRaw">;

/**
 * Writes a run's price aggregate: each (asset, source)'s newest observation committed by the
 * run's end, which is latest_price at that moment (the batch writer keeps it at the newest
 * observedAt, and the run lock means no other run commits meanwhile). A copy of one row per
 * (asset, source), so a run's end costs what the asset list costs, not the history: reading
 * market_observation here took 1-3 s at 3 M rows, every run. Called in the transaction that
 * records the run's end, so compareRuns never scans market_observation. Idempotent.
 */
export async function recordRunPrices(tx: Tx, runId: number): Promise<void> {
  await tx.$executeRaw`
    INSERT INTO run_price (run_id, asset_id, source, price_usd)
    SELECT ${runId}::int, asset_id, source, price_usd FROM latest_price
    ON CONFLICT DO NOTHING`;
}
