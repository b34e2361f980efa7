// The growth scenario's write path (#19): ours vs COPY into the grown table itself.
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { parseConfig } from "../src/config/config.ts";
import type { Database } from "../src/db/database.ts";
import { type ResolvedRecord, upsertObservations } from "../src/pipeline/batch-writer.ts";
import { EMPTY_MARKET_FIELDS, type SourceId } from "../src/sources/record.ts";
import { OBSERVATION_BASE, type Seed, SLOT_MS } from "./growth-history.ts";

/** The seed run's rows as the pipeline hands them to the writer, moved to a later slot. */
async function liveRecords(db: Database, s: Seed) {
  const rows = await db.prisma.$queryRaw<
    {
      asset_id: number;
      source: SourceId;
      price_usd: number;
      market_cap_usd: number | null;
      volume_24h_usd: number | null;
      change_24h_pct: number | null;
      rank: number | null;
    }[]
  >`SELECT asset_id, source::text AS source, price_usd, market_cap_usd, volume_24h_usd, change_24h_pct, rank
    FROM market_observation WHERE run_id = ${s.runId} ORDER BY source, asset_id`;
  return (slot: number): ResolvedRecord[] =>
    rows.map((r, i) => ({
      assetId: r.asset_id,
      record: {
        source: r.source,
        sourceAssetId: String(r.asset_id),
        file: "",
        idColumn: null,
        symbol: "X",
        name: null,
        observedAt: new Date(s.at.getTime() + slot * SLOT_MS),
        ...EMPTY_MARKET_FIELDS,
        priceUsd: r.price_usd * (1 + slot / 10_000),
        marketCapUsd: r.market_cap_usd,
        volume24hUsd: r.volume_24h_usd,
        change24hPct: r.change_24h_pct,
        rank: r.rank,
        position: i,
        location: `item ${i}`,
        raw: null,
      },
    }));
}

/**
 * The write path on one grown database: the recorded quotes at the next `slots` slots through
 * upsertObservations (batches of ETL_BATCH_SIZE, one transaction each, per source as a run
 * commits them) vs COPY of the same quotes at as many other later slots into market_observation
 * itself (same partitions, indexes, foreign keys and size). After each round the rows written are
 * deleted and latest_price restored, so every round starts alike. The caller interleaves rounds
 * across sizes.
 */
export async function createWriteBench(db: Database, url: string, s: Seed, slots: number) {
  const batch = parseConfig({}).etl.batchSize;
  const records = await liveRecords(db, s);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query("CREATE TEMP TABLE saved_latest_price AS SELECT * FROM latest_price");
  const run = await db.prisma.etlRun.create({
    data: { trigger: "CLI", requested: ["COINGECKO", "COINPAPRIKA"], rolledUpAt: new Date() },
  });
  const v = (x: number | null) => (x === null ? "\\N" : String(x));
  return {
    rows: slots * s.rows,
    /** One round: rows/s of ours, and ours / COPY (rows/s over rows/s). */
    async round(): Promise<{ rate: number; ratio: number }> {
      let n = 0;
      const started = performance.now();
      for (let slot = 1; slot <= slots; slot++) {
        const all = records(slot);
        for (const source of ["COINGECKO", "COINPAPRIKA"] as const) {
          const mine = all.filter((r) => r.record.source === source);
          for (let i = 0; i < mine.length; i += batch) {
            const chunk = mine.slice(i, i + batch);
            await db.prisma.$transaction((tx) => upsertObservations(tx, run.id, source, chunk));
            n += chunk.length;
          }
        }
      }
      const oursMs = performance.now() - started;
      const copyStarted = performance.now();
      const stream = client.query(
        copyFrom(
          "COPY market_observation (seq, asset_id, source, observed_at, price_usd, market_cap_usd, volume_24h_usd, change_24h_pct, rank, run_id) FROM STDIN",
        ),
      );
      const done = new Promise<void>((resolve, reject) => {
        stream.on("finish", resolve);
        stream.on("error", reject);
      });
      let seq = OBSERVATION_BASE * 2;
      let buffer = "";
      for (let slot = slots + 1; slot <= 2 * slots; slot++) {
        for (const { record: x, assetId } of records(slot)) {
          buffer += `${seq++}\t${assetId}\t${x.source}\t${x.observedAt.toISOString()}\t${x.priceUsd}\t${v(x.marketCapUsd)}\t${v(x.volume24hUsd)}\t${v(x.change24hPct)}\t${v(x.rank)}\t${run.id}\n`;
          if (buffer.length > 1 << 16) {
            stream.write(buffer);
            buffer = "";
          }
        }
      }
      stream.end(buffer);
      await done;
      const copyMs = performance.now() - copyStarted;
      await client.query("DELETE FROM market_observation WHERE observed_at > $1::timestamptz", [
        s.at.toISOString(),
      ]);
      await client.query("DELETE FROM latest_price");
      await client.query("INSERT INTO latest_price SELECT * FROM saved_latest_price");
      return { rate: n / (oursMs / 1000), ratio: copyMs / oursMs };
    },
    async close() {
      await client.query("DELETE FROM market_observation WHERE run_id = $1::int", [run.id]);
      await client.query("DELETE FROM etl_run WHERE id = $1::int", [run.id]);
      await client.end();
    },
  };
}
