import fc from "fast-check";
import { expect, it } from "vitest";
import type { Database } from "../../src/db/database.ts";
import {
  ensureObservationPartitions,
  monthPartition,
  prismaPartitionSql,
} from "../../src/db/observation-partitions.ts";
import { upsertObservations } from "../../src/pipeline/batch-writer.ts";
import { rollUpPendingRuns } from "../../src/pipeline/candle-rollups.ts";
import { dropExpiredPartitions } from "../../src/pipeline/observation-retention.ts";
import { type Candle, type Interval, loadCandles } from "../../src/services/candles.ts";
import { EMPTY_MARKET_FIELDS, type NormalizedRecord, type SourceId } from "../../src/sources/record.ts";
import { createTestRunner } from "../support/pipeline.ts";
import { describeOnEachDatabase } from "../support/scenario.ts";

const HOUR = 3_600_000;
const DAY = 86_400_000;
const FINALITY = { seconds: 60 };
const SOURCES: SourceId[] = ["COINGECKO", "COINPAPRIKA", "CSV"];

interface Row {
  source: SourceId;
  observedAt: Date;
  price: number;
  volume: number | null;
  /** An OHLC bar of this length (open/high/low/close around price), or a point quote. */
  barSeconds: number | null;
}

function record(r: Row): NormalizedRecord {
  const bar = r.barSeconds !== null;
  return {
    source: r.source,
    sourceAssetId: "btc",
    file: r.source === "CSV" ? "f.csv" : "",
    idColumn: null,
    symbol: "BTC",
    name: "Bitcoin",
    observedAt: r.observedAt,
    priceUsd: r.price,
    ...EMPTY_MARKET_FIELDS,
    volume24hUsd: r.volume,
    open: bar ? r.price * 0.99 : null,
    high: bar ? r.price * 1.05 : null,
    low: bar ? r.price * 0.95 : null,
    close: bar ? r.price * 1.01 : null,
    barSeconds: r.barSeconds,
    position: 0,
    location: "test",
    raw: null,
  };
}

async function setup(db: Database) {
  const asset = await db.prisma.asset.create({ data: { symbol: "BTC", name: "Bitcoin" } });
  const run = await db.prisma.etlRun.create({ data: { trigger: "CLI", requested: SOURCES } });
  return { assetId: asset.id, runId: run.id };
}

/** One batch transaction per (batch, source), as a run commits them: the real write path. */
async function write(db: Database, ids: { assetId: number; runId: number }, batches: Row[][]) {
  for (const batch of batches) {
    for (const source of SOURCES) {
      // Keys unique inside a batch (the caller's rule): the last row wins.
      const byKey = new Map<number, Row>();
      for (const r of batch.filter((x) => x.source === source)) byKey.set(r.observedAt.getTime(), r);
      if (byKey.size === 0) continue;
      await db.prisma.$transaction((tx) =>
        upsertObservations(
          tx,
          ids.runId,
          source,
          [...byKey.values()].map((r) => ({ assetId: ids.assetId, record: record(r) })),
        ),
      );
    }
  }
}

/** Candles with the volume rounded: a sum of floats depends on its order (rollups add per source). */
const comparable = (candles: Candle[]) =>
  candles.map((c) => ({ ...c, volume: c.volume === null ? null : Number(c.volume.toPrecision(12)) }));

async function bothWays(
  db: Database,
  assetId: number,
  args: { interval: Interval; from?: Date; to?: Date; sources?: SourceId[] },
) {
  const rolled = await loadCandles(db.prisma, assetId, args, FINALITY);
  const raw = await loadCandles(db.prisma, assetId, { ...args, rollups: false }, FINALITY);
  return { rolled: comparable(rolled), raw: comparable(raw) };
}

const rowArb = (origin: number) =>
  fc.record({
    source: fc.constantFrom(...SOURCES),
    // Minute resolution over three days: several rows share hours, some share keys.
    observedAt: fc.integer({ min: 0, max: 3 * 24 * 60 - 1 }).map((m) => new Date(origin + m * 60_000)),
    price: fc.integer({ min: 1, max: 1_000_000 }).map((p) => p / 100),
    volume: fc.option(fc.integer({ min: 0, max: 1e9 }), { nil: null }),
    barSeconds: fc.constantFrom(null, null, null, 300, 3_600, 86_400, 604_800),
  });

describeOnEachDatabase(
  (kind) => `candle rollups on ${kind}`,
  (scenario) => {
    it("give the candles the raw rows give, for random rows, rewrites and late commits", async () => {
      const origin = Date.UTC(2026, 10, 3, 0, 0);
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.array(rowArb(origin), { minLength: 1, maxLength: 25 }), { minLength: 1, maxLength: 4 }),
          fc.subarray(SOURCES, { minLength: 1 }),
          fc.nat(),
          async (batches, sources, cut) => {
            await scenario.database.reset();
            const ids = await setup(scenario.db);
            const split = cut % (batches.length + 1);
            const check = async () => {
              for (const interval of ["H1", "D1"] as const) {
                const all = await bothWays(scenario.db, ids.assetId, { interval });
                expect(all.rolled).toEqual(all.raw);
                expect(all.rolled.length).toBeGreaterThan(0);
                const some = await bothWays(scenario.db, ids.assetId, { interval, sources });
                expect(some.rolled).toEqual(some.raw);
              }
            };
            // A first run's batches, rolled up at its end; then a second run's (rewrites of the
            // first's keys among them), read while it runs (its buckets from raw rows) and after.
            await write(scenario.db, ids, batches.slice(0, split));
            expect(await rollUpPendingRuns(scenario.db.prisma)).toEqual([ids.runId]);
            const second = await scenario.db.prisma.etlRun.create({
              data: { trigger: "CLI", requested: SOURCES },
            });
            await write(scenario.db, { ...ids, runId: second.id }, batches.slice(split));
            await check();
            await rollUpPendingRuns(scenario.db.prisma);
            await check();
          },
        ),
        { numRuns: 12, seed: 19 },
      );
    });

    it("recompute a bucket whose row a later run corrected: the old high goes", async () => {
      const ids = await setup(scenario.db);
      const at = new Date(Date.UTC(2026, 10, 3, 10, 5));
      const quote = (observedAt: Date, price: number): Row => ({
        source: "COINGECKO",
        observedAt,
        price,
        volume: 10,
        barSeconds: null,
      });
      await write(scenario.db, ids, [[quote(at, 100), quote(new Date(at.getTime() + 60_000), 90)]]);
      await rollUpPendingRuns(scenario.db.prisma);
      const stored = await scenario.db.prisma.candleRollup.findMany({ where: { intervalSeconds: 3_600 } });
      expect(stored.map((r) => r.high)).toEqual([100]);
      const next = await scenario.db.prisma.etlRun.create({
        data: { trigger: "CLI", requested: ["COINGECKO"] },
      });
      await write(scenario.db, { ...ids, runId: next.id }, [[quote(at, 80)]]);
      // While the correcting run goes on, its bucket is read from the raw rows.
      const during = await bothWays(scenario.db, ids.assetId, { interval: "H1" });
      expect(during.rolled).toEqual(during.raw);
      expect(during.rolled[0]).toMatchObject({ open: 80, high: 90, low: 80, close: 90, observations: 2 });
      // Its end recomputes the bucket: the old high is gone from the rollup too.
      await rollUpPendingRuns(scenario.db.prisma);
      const after = await scenario.db.prisma.candleRollup.findMany({ where: { intervalSeconds: 3_600 } });
      expect(after.map((r) => [r.open, r.high, r.low, r.close, r.observations])).toEqual([
        [80, 90, 80, 90, 2],
      ]);
      const rolled = await bothWays(scenario.db, ids.assetId, { interval: "H1" });
      expect(rolled.rolled).toEqual(during.rolled);
    });

    it("read partial buckets at an unaligned from and to from raw rows, whole ones from the rollups, equal to raw", async () => {
      const ids = await setup(scenario.db);
      const origin = Date.UTC(2026, 10, 3);
      const rows: Row[] = Array.from({ length: 60 }, (_, i) => ({
        source: SOURCES[i % 3]!,
        observedAt: new Date(origin + i * 17 * 60_000),
        price: 100 + ((i * 37) % 23),
        volume: i % 4 === 0 ? null : i * 1000,
        barSeconds: null,
      }));
      await write(scenario.db, ids, [rows]);
      await rollUpPendingRuns(scenario.db.prisma);
      const from = new Date(origin + 90 * 60_000);
      const to = new Date(origin + 13 * HOUR + 20 * 60_000);
      const { rolled, raw } = await bothWays(scenario.db, ids.assetId, { interval: "H1", from, to });
      expect(rolled).toEqual(raw);
      // The edge buckets hold only the rows inside the range: 01:00 starts at 01:30.
      expect(rolled[0]?.bucket.toISOString()).toBe(new Date(origin + HOUR).toISOString());
      expect(rolled[0]?.observations).toBe(2);
    });

    it("keep priceHistory's candles once retention dropped the raw month, and the months still stored read the same", async () => {
      const ids = await setup(scenario.db);
      const now = new Date();
      const old = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 6, 14));
      await ensureObservationPartitions(prismaPartitionSql(scenario.db.prisma), old, 0);
      const rows: Row[] = [];
      for (let d = 0; d < 3; d++)
        for (let h = 0; h < 30; h += 5)
          for (const source of SOURCES)
            rows.push({
              source,
              observedAt: new Date(old.getTime() + d * DAY + h * HOUR),
              price: 1000 + d * 10 + h + SOURCES.indexOf(source),
              volume: 5 + h,
              barSeconds: null,
            });
      rows.push({
        source: "CSV",
        observedAt: new Date(old.getTime() - DAY),
        price: 950,
        volume: 7,
        barSeconds: 86_400,
      });
      rows.push({
        source: "COINGECKO",
        observedAt: new Date(now.getTime() - 2 * HOUR),
        price: 2000,
        volume: 1,
        barSeconds: null,
      });
      await write(scenario.db, ids, [rows]);
      const range = { from: new Date(old.getTime() - 2 * DAY), to: new Date(now.getTime() + DAY) };
      const before = {
        H1: comparable(
          await loadCandles(
            scenario.db.prisma,
            ids.assetId,
            { interval: "H1", ...range, rollups: false },
            FINALITY,
          ),
        ),
        D1: comparable(
          await loadCandles(
            scenario.db.prisma,
            ids.assetId,
            { interval: "D1", ...range, rollups: false },
            FINALITY,
          ),
        ),
      };
      expect(before.D1.length).toBeGreaterThanOrEqual(5);
      await rollUpPendingRuns(scenario.db.prisma);

      const outcome = await dropExpiredPartitions(
        scenario.db.prisma,
        { retentionDays: 90, resumeHours: 0 },
        new Date(Date.now() + 1000),
      );
      const month = monthPartition(old.getUTCFullYear(), old.getUTCMonth()).name;
      expect(outcome.dropped).toContain(month);
      // The run's end had rolled every row up already: nothing to rebuild.
      expect(outcome.rebuilt).toEqual([]);
      const left = await scenario.db.prisma.$queryRaw<{ n: number }[]>`
        SELECT count(*)::int AS n FROM market_observation WHERE observed_at >= ${old} AND observed_at < ${new Date(old.getTime() + 3 * DAY)}`;
      expect(left[0]?.n).toBe(0);

      for (const interval of ["H1", "D1"] as const) {
        const after = comparable(
          await loadCandles(scenario.db.prisma, ids.assetId, { interval, ...range }, FINALITY),
        );
        expect(after).toEqual(before[interval]);
      }
    });

    it("rebuild a month's rollups from its rows before dropping it when its run never rolled them up", async () => {
      const ids = await setup(scenario.db);
      const now = new Date();
      const old = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 5, 10, 12));
      await ensureObservationPartitions(prismaPartitionSql(scenario.db.prisma), old, 0);
      await write(scenario.db, ids, [
        [
          { source: "CSV", observedAt: old, price: 10, volume: null, barSeconds: null },
          {
            source: "CSV",
            observedAt: new Date(old.getTime() + HOUR),
            price: 12,
            volume: null,
            barSeconds: null,
          },
        ],
      ]);
      const expected = comparable(
        await loadCandles(scenario.db.prisma, ids.assetId, { interval: "H1", rollups: false }, FINALITY),
      );
      // The run never ended (a crash): nothing was rolled up.
      expect(await scenario.db.prisma.candleRollup.count()).toBe(0);
      const outcome = await dropExpiredPartitions(
        scenario.db.prisma,
        { retentionDays: 90, resumeHours: 0 },
        new Date(Date.now() + 1000),
      );
      expect(outcome.rebuilt).toEqual([monthPartition(old.getUTCFullYear(), old.getUTCMonth()).name]);
      expect(
        comparable(await loadCandles(scenario.db.prisma, ids.assetId, { interval: "H1" }, FINALITY)),
      ).toEqual(expected);
    });

    it("hold a CSV history file's daily candles, which retention never drops", async () => {
      const { runner } = createTestRunner(scenario.db, scenario.replay, { ETL_SOURCES: "csv" });
      await runner.run({ trigger: "CLI", sources: ["CSV"] });
      const btc = await scenario.db.prisma.asset.findFirstOrThrow({ where: { symbol: "BTC" } });
      const daily = await loadCandles(
        scenario.db.prisma,
        btc.id,
        { interval: "D1", from: new Date("2024-01-01T00:00:00Z"), to: new Date("2024-01-08T00:00:00Z") },
        FINALITY,
      );
      expect(daily).toHaveLength(7);
      const rolled = await scenario.db.prisma.candleRollup.count({
        where: { assetId: btc.id, source: "CSV" },
      });
      expect(rolled).toBeGreaterThan(100);
      await dropExpiredPartitions(scenario.db.prisma, { retentionDays: 90, resumeHours: 0 });
      const again = await loadCandles(
        scenario.db.prisma,
        btc.id,
        { interval: "D1", from: new Date("2024-01-01T00:00:00Z"), to: new Date("2024-01-08T00:00:00Z") },
        FINALITY,
      );
      expect(again).toEqual(daily);
      expect(
        await scenario.db.prisma.candleRollup.count({
          where: { assetId: btc.id, source: "CSV" },
        }),
      ).toBe(rolled);
    });
  },
);
