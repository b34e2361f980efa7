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
import { loadCandles } from "../../src/services/candles.ts";
import { EMPTY_MARKET_FIELDS, type SourceId } from "../../src/sources/record.ts";
import { createTestApp } from "../support/app.ts";
import { describeOnEachDatabase } from "../support/scenario.ts";

// priceHistory through GraphQL (yoga.fetch) over ranges whose buckets come from every place the
// service reads them: rollups of a month retention dropped, rollups of stored rows, raw partial
// buckets at an unaligned from and to, raw buckets of a run not rolled up yet. The expected
// candles are computed here, in plain code, from the observations written (the bucket rules of
// loadCandles' doc comment), not by the service.

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const SOURCE_ORDER: SourceId[] = ["COINGECKO", "COINPAPRIKA", "CSV"];

interface Row {
  source: SourceId;
  observedAt: number;
  price: number;
  volume: number | null;
  /** An OHLC bar of this length, or null for a point quote. */
  barSeconds: number | null;
}

const bar = (r: Row) =>
  r.barSeconds === null
    ? { open: null, high: null, low: null, close: null }
    : { open: r.price - 1, high: r.price + 7, low: r.price - 5, close: r.price + 2 };

interface Expected {
  bucket: string;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number | null;
  volume24hUsd: number | null;
  sources: SourceId[];
  observations: number;
  final: boolean;
}

/** The candles of `rows` in [from, to), by the documented bucket rules. */
function candlesOf(rows: Row[], stepMs: number, from: number, to: number, sources?: SourceId[]): Expected[] {
  const rank = (s: SourceId) => SOURCE_ORDER.indexOf(s);
  const feeding = rows.filter(
    (r) =>
      r.observedAt >= from &&
      r.observedAt < to &&
      (r.barSeconds === null || r.barSeconds * 1000 <= stepMs) &&
      (!sources || sources.includes(r.source)),
  );
  const buckets = new Map<number, Row[]>();
  for (const r of feeding) {
    const b = Math.floor(r.observedAt / stepMs) * stepMs;
    buckets.set(b, [...(buckets.get(b) ?? []), r]);
  }
  return [...buckets.entries()]
    .sort(([a], [b]) => a - b)
    .map(([b, rs]) => {
      const ohlc = rs.map((r) => ({ r, ...bar(r), end: r.observedAt + (r.barSeconds ?? 0) * 1000 }));
      const first = [...ohlc].sort(
        (x, y) => x.r.observedAt - y.r.observedAt || rank(x.r.source) - rank(y.r.source),
      )[0]!;
      const last = [...ohlc].sort(
        (x, y) => y.end - x.end || rank(x.r.source) - rank(y.r.source) || y.r.observedAt - x.r.observedAt,
      )[0]!;
      const bars = rs.filter((r) => r.barSeconds !== null);
      const barVolumes = bars.flatMap((r) => (r.volume === null ? [] : [r.volume]));
      const quotes = rs
        .filter((r) => r.barSeconds === null && r.volume !== null)
        .sort((x, y) => y.observedAt - x.observedAt || rank(x.source) - rank(y.source));
      const lastVolume = quotes[0]?.volume ?? null;
      return {
        bucket: new Date(b).toISOString(),
        open: first.open ?? first.r.price,
        high: Math.max(...ohlc.map((x) => Math.max(x.high ?? x.r.price, x.r.price))),
        low: Math.min(...ohlc.map((x) => Math.min(x.low ?? x.r.price, x.r.price))),
        close: last.close ?? last.r.price,
        volume:
          bars.length > 0
            ? barVolumes.length > 0
              ? barVolumes.reduce((a, v) => a + v, 0)
              : null
            : stepMs === DAY
              ? lastVolume
              : null,
        volume24hUsd: lastVolume,
        sources: [...new Set(rs.map((r) => r.source))].sort(),
        observations: rs.length,
        final: true,
      };
    });
}

/** One run's rows through the real write path: a transaction per source, as a run commits. */
async function write(db: Database, assetId: number, runId: number, rows: Row[]) {
  for (const source of SOURCE_ORDER) {
    const mine = rows.filter((r) => r.source === source);
    if (mine.length === 0) continue;
    await db.prisma.$transaction((tx) =>
      upsertObservations(
        tx,
        runId,
        source,
        mine.map((r, i) => ({
          assetId,
          record: {
            source,
            sourceAssetId: "btc",
            file: source === "CSV" ? "h.csv" : "",
            idColumn: null,
            symbol: "BTC",
            name: "Bitcoin",
            observedAt: new Date(r.observedAt),
            ...EMPTY_MARKET_FIELDS,
            priceUsd: r.price,
            volume24hUsd: r.volume,
            ...bar(r),
            barSeconds: r.barSeconds,
            position: i,
            location: `row ${i}`,
            raw: null,
          },
        })),
      ),
    );
  }
}

/** Three days of quotes from both APIs every 20 minutes (ties at the same instant), CSV bars of 5 minutes to a day. */
function days(start: number, n: number, seed: number): Row[] {
  const rows: Row[] = [];
  for (let t = start; t < start + n * DAY; t += 20 * MINUTE) {
    const i = (t - start) / (20 * MINUTE);
    const price = 1000 + ((i * 37 + seed) % 101);
    rows.push({
      source: "COINGECKO",
      observedAt: t,
      price,
      volume: i % 5 === 0 ? null : 100 + i,
      barSeconds: null,
    });
    rows.push({ source: "COINPAPRIKA", observedAt: t, price: price + 3, volume: 200 + i, barSeconds: null });
    if (i % 9 === 0)
      rows.push({ source: "CSV", observedAt: t + 5 * MINUTE, price: price - 2, volume: 7, barSeconds: 300 });
    if (i % 7 === 0)
      rows.push({
        source: "CSV",
        observedAt: t + 2 * MINUTE,
        price: price + 11,
        volume: null,
        barSeconds: 3_600,
      });
  }
  for (let d = 0; d < n; d++) {
    rows.push({
      source: "CSV",
      observedAt: start + d * DAY,
      price: 990 + d,
      volume: 5_000 + d,
      barSeconds: 86_400,
    });
  }
  return rows;
}

const QUERY = `query ($from: DateTime, $to: DateTime, $interval: Interval!, $sources: [Source!]) {
  priceHistory(asset: "BTC", interval: $interval, from: $from, to: $to, sources: $sources) {
    bucket open high low close volume volume24hUsd sources observations final revision
  }
}`;

describeOnEachDatabase(
  (kind) => `priceHistory over GraphQL across rollups and raw rows on ${kind}`,
  (scenario) => {
    it("gives exactly the candles of the raw observations, H1 and D1, wherever each bucket is read from", async () => {
      const db = scenario.db;
      const asset = await db.prisma.asset.create({ data: { symbol: "BTC", name: "Bitcoin", rank: 1 } });
      const newRun = () =>
        db.prisma.etlRun.create({ data: { trigger: "CLI", requested: SOURCE_ORDER } }).then((r) => r.id);
      const now = new Date();
      // An old month (retention drops its rows, its rollups stay) and the last three days.
      const oldStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 6, 10);
      await ensureObservationPartitions(prismaPartitionSql(db.prisma), new Date(oldStart), 0);
      const recentStart = Math.floor(now.getTime() / DAY) * DAY - 3 * DAY;
      const stored = new Map<string, Row>();
      const keep = (rows: Row[]) => {
        for (const r of rows) stored.set(`${r.source}|${r.observedAt}`, r);
      };

      // Run 1: the old month and the first two recent days, rolled up at its end.
      const first = [...days(oldStart, 2, 1), ...days(recentStart, 2, 2)];
      await write(db, asset.id, await newRun(), first);
      keep(first);
      expect(await rollUpPendingRuns(db.prisma)).toHaveLength(1);
      const dropped = await dropExpiredPartitions(
        db.prisma,
        { retentionDays: 90, resumeHours: 0 },
        new Date(Date.now() + 1000),
      );
      expect(dropped.dropped).toContain(
        monthPartition(new Date(oldStart).getUTCFullYear(), new Date(oldStart).getUTCMonth()).name,
      );

      // Run 2, not rolled up yet: the third day, and corrections of run 1's rows in the second.
      const corrections = days(recentStart + DAY, 1, 2)
        .filter((_, i) => i % 11 === 0)
        .map((r) => ({ ...r, price: r.price + 40, volume: r.volume === null ? 1 : r.volume + 1 }));
      const second = [...days(recentStart + 2 * DAY, 1, 3), ...corrections];
      await write(db, asset.id, await newRun(), second);
      keep(second);
      const rows = [...stored.values()];
      // Where the buckets live: the old month in the rollups only, run 2's buckets in raw rows only.
      const old = { gte: new Date(oldStart), lt: new Date(oldStart + 2 * DAY) };
      expect(await db.prisma.marketObservation.count({ where: { observedAt: old } })).toBe(0);
      expect(await db.prisma.candleRollup.count({ where: { bucket: old } })).toBeGreaterThan(0);
      expect(await db.prisma.etlRun.count({ where: { rolledUpAt: null } })).toBe(1);

      const app = createTestApp(db, scenario.replay);
      const ranges = [
        // Unaligned edges, rolled-up and raw buckets of the recent days between them.
        { from: recentStart + 5 * HOUR + 30 * MINUTE, to: recentStart + 2 * DAY + 17 * HOUR + 10 * MINUTE },
        // From a whole day of the dropped month (rollups only; a partial bucket there could not be
        // read: its raw rows are gone) to an unaligned instant in the day run 2 wrote.
        { from: oldStart + DAY, to: recentStart + 2 * DAY + 5 * HOUR + 35 * MINUTE },
        // Everything.
        { from: null, to: null },
      ];
      const check = async () => {
        for (const interval of ["H1", "D1"] as const) {
          const stepMs = interval === "H1" ? HOUR : DAY;
          for (const range of ranges) {
            for (const sources of [undefined, ["COINPAPRIKA", "CSV"] as SourceId[]]) {
              const r = await app.gql<{ priceHistory: (Expected & { revision: number })[] }>(QUERY, {
                interval,
                from: range.from === null ? null : new Date(range.from).toISOString(),
                to: range.to === null ? null : new Date(range.to).toISOString(),
                sources: sources ?? null,
              });
              expect(r.body.errors, JSON.stringify(r.body.errors)).toBeUndefined();
              const got = r.body.data!.priceHistory;
              const expected = candlesOf(
                rows,
                stepMs,
                range.from ?? 0,
                range.to ?? Number.MAX_SAFE_INTEGER,
                sources,
              );
              expect(got.length).toBeGreaterThan(0);
              expect(got.map(({ revision: _, ...c }) => c)).toEqual(expected);
              // Revisions (commits into ended buckets) as the raw rows count them.
              const raw = await loadCandles(
                db.prisma,
                asset.id,
                {
                  interval,
                  from: range.from === null ? null : new Date(range.from),
                  to: range.to === null ? null : new Date(range.to),
                  sources: sources ?? null,
                  rollups: false,
                },
                app.services.candleFinality,
              );
              // (The dropped month has no raw rows left: its buckets' revisions are the rollups' business.)
              const rawRevision = new Map(raw.map((c) => [c.bucket.toISOString(), c.revision]));
              for (const c of got) {
                if (rawRevision.has(c.bucket)) expect(c.revision).toBe(rawRevision.get(c.bucket));
              }
            }
          }
        }
      };
      await check();
      // Run 2's end rolls its buckets up: every whole bucket now comes from the rollups.
      expect(await rollUpPendingRuns(db.prisma)).toHaveLength(1);
      await check();
      await app.app.stop("test over");
    });

    it("with a limit gives the newest candles of the whole range, also across gaps wider than its first window", async () => {
      const db = scenario.db;
      const asset = await db.prisma.asset.create({ data: { symbol: "BTC", name: "Bitcoin", rank: 1 } });
      const run = await db.prisma.etlRun.create({ data: { trigger: "CLI", requested: SOURCE_ORDER } });
      const now = Math.floor(Date.now() / HOUR) * HOUR;
      // Bursts of rows separated by gaps of days to months (the service was off, a CSV's old file).
      const rows: Row[] = [];
      for (const [k, at] of [
        now - 200 * DAY,
        now - 40 * DAY,
        now - 39 * DAY,
        now - 3 * DAY,
        now - 2 * HOUR,
      ].entries()) {
        for (let m = 0; m < 3; m++) {
          rows.push({
            source: "COINGECKO",
            observedAt: at + m * 25 * MINUTE,
            price: 100 + k * 10 + m,
            volume: 5,
            barSeconds: null,
          });
        }
        rows.push({
          source: "CSV",
          observedAt: Math.floor(at / DAY) * DAY,
          price: 90 + k,
          volume: 50,
          barSeconds: 86_400,
        });
      }
      await ensureObservationPartitions(prismaPartitionSql(db.prisma), new Date(now - 200 * DAY), 0);
      await ensureObservationPartitions(prismaPartitionSql(db.prisma), new Date(now - 40 * DAY), 1);
      await write(db, asset.id, run.id, rows);
      await rollUpPendingRuns(db.prisma);
      const app = createTestApp(db, scenario.replay);
      const q = `query ($interval: Interval!, $limit: Int, $sources: [Source!], $to: DateTime) {
        priceHistory(asset: "BTC", interval: $interval, limit: $limit, sources: $sources, to: $to) { bucket open close observations }
      }`;
      for (const interval of ["M5", "H1", "D1"] as const) {
        for (const sources of [null, ["CSV"]]) {
          for (const to of [null, new Date(now - 10 * DAY).toISOString()]) {
            const all = await app.gql<{ priceHistory: unknown[] }>(q, { interval, limit: null, sources, to });
            expect(all.body.errors, JSON.stringify(all.body.errors)).toBeUndefined();
            const whole = all.body.data!.priceHistory;
            for (const limit of [1, 2, 4, 7, 50]) {
              const r = await app.gql<{ priceHistory: unknown[] }>(q, { interval, limit, sources, to });
              expect(r.body.errors, JSON.stringify(r.body.errors)).toBeUndefined();
              expect(r.body.data!.priceHistory).toEqual(whole.slice(Math.max(0, whole.length - limit)));
            }
          }
        }
      }
      await app.app.stop("test over");
    });
  },
);
