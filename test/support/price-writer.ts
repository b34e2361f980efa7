import type { Database } from "../../src/db/database.ts";
import type { Asset } from "../../src/generated/prisma/client.ts";
import { upsertObservations } from "../../src/pipeline/batch-writer.ts";
import type { EventBus } from "../../src/pipeline/events.ts";
import { EMPTY_MARKET_FIELDS, type NormalizedRecord } from "../../src/sources/record.ts";

/**
 * Commits CSV price batches through the real write path (upsertObservations in a bus
 * transaction, so the feed hears batchCommitted as it does from a run): one observation per asset
 * per batch, each at a new time with a new price. Tests drive the live feed with it without a
 * whole ETL run, so they choose how many batches commit and when.
 */
export async function createPriceWriter(db: Database, bus: EventBus, symbols: readonly string[]) {
  const { prisma } = db;
  const assets: Asset[] = [];
  for (const symbol of symbols) assets.push(await prisma.asset.create({ data: { symbol, name: symbol } }));
  const run = await prisma.etlRun.create({ data: { trigger: "CLI", requested: ["CSV"] } });
  // Recent enough to be fresh for the consensus; each batch one second later than the previous.
  const base = Date.now() - 60_000;
  let batch = 0;

  function record(symbol: string, observedAt: Date, priceUsd: number): NormalizedRecord {
    return {
      source: "CSV",
      sourceAssetId: symbol.toLowerCase(),
      file: "writer.csv",
      idColumn: null,
      symbol,
      name: null,
      observedAt,
      priceUsd,
      ...EMPTY_MARKET_FIELDS,
      position: batch,
      location: `batch ${batch}`,
      raw: null,
    };
  }

  /** One batch of chosen rows: (asset index, observedAt, price) each. Returns its seqs. */
  function commitRows(
    rows: readonly { asset: number; observedAt: Date; priceUsd: number }[],
  ): Promise<bigint[]> {
    batch++;
    const entries = rows.map((r) => ({
      assetId: assets[r.asset]!.id,
      record: record(assets[r.asset]!.symbol, r.observedAt, r.priceUsd),
    }));
    return bus.transaction(prisma, async (tx, send) => {
      const { written } = await upsertObservations(tx, run.id, "CSV", entries);
      const seqs = written.map((w) => w.seq).sort((x, y) => (x < y ? -1 : 1));
      if (seqs.length > 0)
        await send("batchCommitted", {
          runId: run.id,
          source: "CSV",
          seqFrom: seqs[0]!,
          seqTo: seqs.at(-1)!,
        });
      return seqs;
    });
  }

  /** One batch: every asset (or those given) gets price(asset index, batch). Returns its seqs. */
  function commit(
    price: (assetIndex: number, batch: number) => number = (i, b) => 100 * (i + 1) + b,
    only: readonly number[] = assets.map((_, i) => i),
  ): Promise<bigint[]> {
    const b = batch;
    const observedAt = new Date(base + b * 1000);
    return commitRows(only.map((i) => ({ asset: i, observedAt, priceUsd: price(i, b) })));
  }

  /** Commits batches back to back until stop() is awaited; resolves with how many committed. */
  function loop(pauseMs = 5) {
    let running = true;
    let count = 0;
    const done = (async () => {
      while (running) {
        await commit();
        count++;
        await new Promise((r) => setTimeout(r, pauseMs));
      }
      return count;
    })();
    return {
      get count() {
        return count;
      },
      stop: async () => {
        running = false;
        return done;
      },
    };
  }

  return { assets, commit, commitRows, loop };
}
