import { intArray } from "../db/int-array.ts";
import type { Prisma } from "../generated/prisma/client.ts";
import type { NormalizedRecord, SourceId } from "../sources/record.ts";
import { EVENT_CHANNEL, encodeEvent } from "./pg-event-transport.ts";

/** Serializes seq allocation: taken in each batch transaction before nextval, so seq order is commit order. */
export const SEQ_LOCK_KEY = 4_242_002;

export type Tx = Prisma.TransactionClient;

export interface ResolvedRecord {
  record: NormalizedRecord;
  assetId: number;
}

export interface WrittenRow {
  id: bigint;
  seq: bigint;
  assetId: number;
}

const iso = (d: Date) => d.toISOString();

/**
 * The write path, behind one function: one INSERT … SELECT FROM json_to_recordset(…) ON CONFLICT
 * DO UPDATE per batch, guarded by IS DISTINCT FROM so unchanged rows are not rewritten and get no new seq,
 * with latest_price advanced in the same statement. Rows must be unique on (asset, observedAt).
 * Must run inside the batch transaction.
 */
export async function upsertObservations(
  tx: Tx,
  runId: number,
  source: SourceId,
  rows: readonly ResolvedRecord[],
): Promise<WrittenRow[]> {
  if (rows.length === 0) return [];
  // One JSON parameter instead of 14 arrays: Prisma serializes every array element on its own,
  // which cost ~20 % of the batch's wall time (BENCHMARKS.md). JSON.stringify carries finite
  // doubles exactly; nulls stay nulls.
  const input = JSON.stringify(
    rows.map(({ assetId, record: r }) => ({
      asset_id: assetId,
      observed_at: iso(r.observedAt),
      price_usd: r.priceUsd,
      market_cap_usd: r.marketCapUsd,
      volume_24h_usd: r.volume24hUsd,
      change_24h_pct: r.change24hPct,
      circulating_supply: r.circulatingSupply,
      total_supply: r.totalSupply,
      max_supply: r.maxSupply,
      rank: r.rank,
      open: r.open,
      high: r.high,
      low: r.low,
      close: r.close,
    })),
  );
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${SEQ_LOCK_KEY})`;
  const written = await tx.$queryRaw<{ id: bigint; seq: bigint; asset_id: number }[]>`
    WITH input AS (
      SELECT * FROM json_to_recordset(${input}::json) AS t(asset_id int, observed_at timestamptz,
        price_usd float8, market_cap_usd float8, volume_24h_usd float8, change_24h_pct float8,
        circulating_supply float8, total_supply float8, max_supply float8, rank int, open float8,
        high float8, low float8, close float8)
    ),
    upserted AS (
      INSERT INTO market_observation AS o (seq, asset_id, source, observed_at, price_usd, market_cap_usd,
        volume_24h_usd, change_24h_pct, circulating_supply, total_supply, max_supply, rank, open, high, low,
        close, run_id, committed_at)
      SELECT nextval('market_observation_seq_seq'), i.asset_id, ${source}::"Source", i.observed_at, i.price_usd,
        i.market_cap_usd, i.volume_24h_usd, i.change_24h_pct, i.circulating_supply, i.total_supply, i.max_supply,
        i.rank, i.open, i.high, i.low, i.close, ${runId}::int, now()
      FROM input i
      ON CONFLICT (asset_id, source, observed_at) DO UPDATE SET
        seq = EXCLUDED.seq, price_usd = EXCLUDED.price_usd, market_cap_usd = EXCLUDED.market_cap_usd,
        volume_24h_usd = EXCLUDED.volume_24h_usd, change_24h_pct = EXCLUDED.change_24h_pct,
        circulating_supply = EXCLUDED.circulating_supply, total_supply = EXCLUDED.total_supply,
        max_supply = EXCLUDED.max_supply, rank = EXCLUDED.rank, open = EXCLUDED.open, high = EXCLUDED.high,
        low = EXCLUDED.low, close = EXCLUDED.close, run_id = EXCLUDED.run_id, committed_at = EXCLUDED.committed_at
      WHERE (o.price_usd, o.market_cap_usd, o.volume_24h_usd, o.change_24h_pct, o.circulating_supply,
             o.total_supply, o.max_supply, o.rank, o.open, o.high, o.low, o.close)
        IS DISTINCT FROM
            (EXCLUDED.price_usd, EXCLUDED.market_cap_usd, EXCLUDED.volume_24h_usd, EXCLUDED.change_24h_pct,
             EXCLUDED.circulating_supply, EXCLUDED.total_supply, EXCLUDED.max_supply, EXCLUDED.rank,
             EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close)
      RETURNING o.id, o.seq, o.asset_id, o.source, o.observed_at, o.price_usd
    ),
    latest AS (
      INSERT INTO latest_price AS l (asset_id, source, observation_id, seq, price_usd, observed_at, updated_at)
      SELECT DISTINCT ON (u.asset_id) u.asset_id, u.source, u.id, u.seq, u.price_usd, u.observed_at, now()
      FROM upserted u
      ORDER BY u.asset_id, u.observed_at DESC
      ON CONFLICT (asset_id, source) DO UPDATE SET
        observation_id = EXCLUDED.observation_id, seq = EXCLUDED.seq, price_usd = EXCLUDED.price_usd,
        observed_at = EXCLUDED.observed_at, updated_at = EXCLUDED.updated_at
      WHERE l.observed_at <= EXCLUDED.observed_at
    )
    SELECT id, seq, asset_id FROM upserted ORDER BY seq`;
  const rowsWritten = written.map((r) => ({
    id: BigInt(r.id),
    seq: BigInt(r.seq),
    assetId: Number(r.asset_id),
  }));
  if (rowsWritten.length > 0) {
    // Inside the transaction: PostgreSQL delivers it on commit, never before, never for a rollback.
    const event = encodeEvent("batchCommitted", {
      runId,
      source,
      seqFrom: rowsWritten[0]!.seq,
      seqTo: rowsWritten.at(-1)!.seq,
    });
    await tx.$executeRaw`SELECT pg_notify(${EVENT_CHANNEL}, ${event})`;
  }
  return rowsWritten;
}

/** Canonical rank: CoinGecko's, else CoinPaprika's (the caller decides which ranks may apply). */
export async function updateRanks(tx: Tx, ranks: ReadonlyMap<number, number>): Promise<void> {
  if (ranks.size === 0) return;
  await tx.$executeRaw`
    UPDATE asset a SET rank = u.rank, updated_at = now()
    FROM unnest(${intArray(ranks.keys())}::int[], ${intArray(ranks.values())}::int[]) AS u(id, rank)
    WHERE a.id = u.id AND a.rank IS DISTINCT FROM u.rank`;
}
