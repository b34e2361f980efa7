import type { PrismaClient, Tx } from "../db/database.ts";
import { intArray } from "../db/int-array.ts";
import { INTERVAL_SECONDS } from "../services/candles.ts";
import type { NormalizedRecord, SourceId } from "../sources/record.ts";

/** Serializes seq allocation: taken in each batch transaction before nextval, so seq order is commit order. */
export const SEQ_LOCK_KEY = 4_242_002;

export interface ResolvedRecord {
  record: NormalizedRecord;
  assetId: number;
}

export interface WrittenRow {
  id: bigint;
  seq: bigint;
  assetId: number;
  observedAt: Date;
}

export interface UpsertResult {
  written: WrittenRow[];
  /**
   * Keys (`assetId|observedAt ms`, see rowKey) that a row of the same run already held before this
   * batch: duplicates of an earlier row of the run's input, found by the database so that memory
   * stays bounded by the batch however long the input is.
   */
  repeated: Set<string>;
}

export const rowKey = (assetId: number, observedAt: Date) => `${assetId}|${observedAt.getTime()}`;

const iso = (d: Date) => d.toISOString();

/**
 * The write path, behind one function: one INSERT … SELECT FROM json_to_recordset(…) ON CONFLICT
 * DO UPDATE per batch, guarded by IS DISTINCT FROM so unchanged rows are not rewritten and get no new seq,
 * with latest_price advanced in the same statement. Rows must be unique on (asset, observedAt).
 * Must run inside the batch transaction; telling anyone about it is the caller's (the bus's).
 */
export async function upsertObservations(
  tx: Tx,
  runId: number,
  source: SourceId,
  rows: readonly ResolvedRecord[],
): Promise<UpsertResult> {
  if (rows.length === 0) return { written: [], repeated: new Set() };
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
      bar_seconds: r.barSeconds,
    })),
  );
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${SEQ_LOCK_KEY})`;
  const result = await tx.$queryRaw<
    { id: bigint | null; seq: bigint | null; asset_id: number; observed_at: Date | string }[]
  >`
    WITH input AS (
      SELECT * FROM json_to_recordset(${input}::json) AS t(asset_id int, observed_at timestamptz,
        price_usd float8, market_cap_usd float8, volume_24h_usd float8, change_24h_pct float8,
        circulating_supply float8, total_supply float8, max_supply float8, rank int, open float8,
        high float8, low float8, close float8, bar_seconds int)
    ),
    -- Rows this run already wrote for the same keys (every CTE reads the snapshot taken before the
    -- INSERT): a later row of the same input repeating an earlier one's key.
    prior AS (
      SELECT o.asset_id, o.observed_at FROM market_observation o
      JOIN input i ON o.asset_id = i.asset_id AND o.observed_at = i.observed_at
      WHERE o.source = ${source}::"Source" AND o.run_id = ${runId}::int
    ),
    upserted AS (
      INSERT INTO market_observation AS o (seq, asset_id, source, observed_at, price_usd, market_cap_usd,
        volume_24h_usd, change_24h_pct, circulating_supply, total_supply, max_supply, rank, open, high, low,
        close, bar_seconds, run_id, committed_at)
      SELECT nextval('market_observation_seq_seq'), i.asset_id, ${source}::"Source", i.observed_at, i.price_usd,
        i.market_cap_usd, i.volume_24h_usd, i.change_24h_pct, i.circulating_supply, i.total_supply, i.max_supply,
        i.rank, i.open, i.high, i.low, i.close, i.bar_seconds, ${runId}::int, now()
      FROM input i
      ON CONFLICT (asset_id, source, observed_at) DO UPDATE SET
        seq = EXCLUDED.seq, price_usd = EXCLUDED.price_usd, market_cap_usd = EXCLUDED.market_cap_usd,
        volume_24h_usd = EXCLUDED.volume_24h_usd, change_24h_pct = EXCLUDED.change_24h_pct,
        circulating_supply = EXCLUDED.circulating_supply, total_supply = EXCLUDED.total_supply,
        max_supply = EXCLUDED.max_supply, rank = EXCLUDED.rank, open = EXCLUDED.open, high = EXCLUDED.high,
        low = EXCLUDED.low, close = EXCLUDED.close, bar_seconds = EXCLUDED.bar_seconds,
        run_id = EXCLUDED.run_id, committed_at = EXCLUDED.committed_at
      WHERE (o.price_usd, o.market_cap_usd, o.volume_24h_usd, o.change_24h_pct, o.circulating_supply,
             o.total_supply, o.max_supply, o.rank, o.open, o.high, o.low, o.close, o.bar_seconds)
        IS DISTINCT FROM
            (EXCLUDED.price_usd, EXCLUDED.market_cap_usd, EXCLUDED.volume_24h_usd, EXCLUDED.change_24h_pct,
             EXCLUDED.circulating_supply, EXCLUDED.total_supply, EXCLUDED.max_supply, EXCLUDED.rank,
             EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close, EXCLUDED.bar_seconds)
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
    SELECT id, seq, asset_id, observed_at FROM upserted
    UNION ALL
    SELECT NULL, NULL, asset_id, observed_at FROM prior
    ORDER BY seq NULLS LAST`;
  const rowsWritten: WrittenRow[] = [];
  const repeated = new Set<string>();
  for (const r of result) {
    if (r.seq === null || r.id === null) repeated.add(rowKey(Number(r.asset_id), new Date(r.observed_at)));
    else
      rowsWritten.push({
        id: BigInt(r.id),
        seq: BigInt(r.seq),
        assetId: Number(r.asset_id),
        observedAt: new Date(r.observed_at),
      });
  }
  await recordLateCommits(tx, source, rows, rowsWritten);
  return { written: rowsWritten, repeated };
}

/**
 * Ranks follow each API source's latest listing: the mapping's own rank is what this record said
 * (null included), and the asset's canonical rank is CoinGecko's, else CoinPaprika's. Returns the
 * assets whose canonical rank changed, with the new value.
 */
export async function updateSourceRanks(
  tx: Tx,
  source: SourceId,
  ranks: ReadonlyMap<number, number | null>,
): Promise<Map<number, number | null>> {
  if (ranks.size === 0 || source === "CSV") return new Map();
  const input = JSON.stringify([...ranks].map(([asset_id, rank]) => ({ asset_id, rank })));
  await tx.$executeRaw`
    UPDATE asset_source s SET rank = u.rank
    FROM json_to_recordset(${input}::json) AS u(asset_id int, rank int)
    WHERE s.asset_id = u.asset_id AND s.source = ${source}::"Source" AND s.rank IS DISTINCT FROM u.rank`;
  return recomputeCanonicalRanks(tx, intArray(ranks.keys()));
}

/** Recomputes asset.rank from the mappings' ranks (CoinGecko's, else CoinPaprika's) for some assets. */
export async function recomputeCanonicalRanks(tx: Tx, assetIds: string): Promise<Map<number, number | null>> {
  const changed = await tx.$queryRaw<{ id: number; rank: number | null }[]>`
    UPDATE asset a SET rank = r.rank, updated_at = now()
    FROM (
      SELECT asset_id, COALESCE(min(rank) FILTER (WHERE source = 'COINGECKO'),
                                min(rank) FILTER (WHERE source = 'COINPAPRIKA')) AS rank
      FROM asset_source WHERE asset_id = ANY(${assetIds}::int[]) GROUP BY asset_id
    ) r
    WHERE a.id = r.asset_id AND a.rank IS DISTINCT FROM r.rank
    RETURNING a.id, a.rank`;
  return new Map(changed.map((c) => [Number(c.id), c.rank === null ? null : Number(c.rank)]));
}

/**
 * After a successful listing of an API source: the mappings of assets it no longer listed lose
 * their rank, and those assets' canonical ranks are recomputed. One transaction.
 */
export async function clearUnlistedRanks(
  prisma: PrismaClient,
  source: SourceId,
  listed: ReadonlySet<number>,
  previousListing: number | null,
): Promise<number | "skipped"> {
  return prisma.$transaction(async (tx) => {
    // A listing under 90 % of the previous ones (the caller's figure) is an upstream hiccup until
    // later listings confirm it (an empty or cut-short page that still parsed, a page missing from
    // several): it clears nothing this time. A real shrink (fewer pages configured) clears once
    // the previous listings are the short ones too.
    if (previousListing !== null && listed.size < previousListing * 0.9) return "skipped" as const;
    const cleared = await tx.$queryRaw<{ asset_id: number }[]>`
      UPDATE asset_source SET rank = NULL
      WHERE source = ${source}::"Source" AND rank IS NOT NULL AND NOT (asset_id = ANY(${intArray(listed)}::int[]))
      RETURNING asset_id`;
    if (cleared.length > 0)
      await recomputeCanonicalRanks(tx, intArray(cleared.map((c) => Number(c.asset_id))));
    return cleared.length;
  });
}

/** Names and symbols follow the best source that maps each asset (the caller decides which may apply). */
export async function updateAssetNames(
  tx: Tx,
  names: ReadonlyMap<number, { symbol: string; name: string }>,
): Promise<void> {
  if (names.size === 0) return;
  const input = JSON.stringify([...names].map(([id, n]) => ({ id, symbol: n.symbol, name: n.name })));
  await tx.$executeRaw`
    UPDATE asset a SET symbol = u.symbol, name = u.name, updated_at = now()
    FROM json_to_recordset(${input}::json) AS u(id int, symbol text, name text)
    WHERE a.id = u.id AND (a.symbol, a.name) IS DISTINCT FROM (u.symbol, u.name)`;
}

/**
 * Candle revisions (candles.ts): for every bucket of every candle interval that this batch wrote
 * into after the bucket had ended, one row with this commit's time. Taken under the seq lock with
 * the database's clock, so a commit's time is ordered as its seq is, and the live feed's finality
 * fence (candle-feed.ts) can tell which commits came after a candle became final. A live run
 * writes into buckets that have not ended: nothing is recorded for it.
 */
async function recordLateCommits(
  tx: Tx,
  source: SourceId,
  rows: readonly ResolvedRecord[],
  written: readonly WrittenRow[],
) {
  if (written.length === 0) return;
  const intervals = Object.values(INTERVAL_SECONDS);
  // The written rows' keys and bar lengths from the batch itself: reading them back by seq probed
  // the seq index of every market_observation partition once per row.
  const bars = new Map(rows.map((r) => [rowKey(r.assetId, r.record.observedAt), r.record.barSeconds]));
  const input = JSON.stringify(
    written.map((w) => ({
      asset_id: w.assetId,
      observed_at: iso(w.observedAt),
      bar_seconds: bars.get(rowKey(w.assetId, w.observedAt)) ?? null,
    })),
  );
  // One row per bucket at the shortest interval the row feeds: a longer candle counts the distinct
  // commits of the buckets inside it (loadCandles), so each commit costs one row per bucket, not three.
  await tx.$executeRaw`
    WITH at AS (SELECT clock_timestamp() AS t),
    touched AS (
      SELECT DISTINCT o.asset_id, i.secs,
        date_bin(make_interval(secs => i.secs), o.observed_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket
      FROM json_to_recordset(${input}::json) AS o(asset_id int, observed_at timestamptz, bar_seconds int)
      CROSS JOIN LATERAL (
        SELECT min(secs) AS secs FROM unnest(${intervals}::int[]) AS s(secs)
        WHERE o.bar_seconds IS NULL OR o.bar_seconds <= s.secs
      ) i
      WHERE i.secs IS NOT NULL
    )
    INSERT INTO candle_late_commit (asset_id, interval_seconds, bucket, committed_at, source)
    SELECT touched.asset_id, touched.secs, touched.bucket, at.t, ${source}::"Source" FROM touched, at
    WHERE touched.bucket + make_interval(secs => touched.secs) <= at.t
    ON CONFLICT DO NOTHING`;
}
