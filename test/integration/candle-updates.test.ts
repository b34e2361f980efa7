import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { upsertObservations } from "../../src/pipeline/batch-writer.ts";
import { EMPTY_MARKET_FIELDS } from "../../src/sources/record.ts";
import { createTestApp } from "../support/app.ts";
import { databaseKinds, type TestDatabase } from "../support/databases.ts";
import { createPriceWriter } from "../support/price-writer.ts";
import { type ReplayServer, startReplayServer } from "../support/replay-server.ts";
import { collect, wsClient } from "../support/ws-client.ts";

// candleUpdates over a real graphql-ws client: the forming candle on each commit, finality after
// CANDLE_FINALITY_SECONDS, revisions from late observations, and priceHistory agreeing with the
// last update of each bucket.
const CANDLE = "bucket open high low close observations final revision";
const SUBSCRIPTION = `subscription($asset: String!) {
  candleUpdates(asset: $asset, interval: M5) { final revision candle { ${CANDLE} } }
}`;
const STEP = 300_000;

let replay: ReplayServer;
beforeAll(async () => {
  replay = await startReplayServer();
});
afterAll(() => replay?.close());

describe.each(databaseKinds.filter((k) => k.available))("candleUpdates on $kind", ({ create }) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await create();
  });
  afterAll(() => t?.dispose());
  beforeEach(() => t.reset());

  /**
   * The previous M5 bucket has ended; the finality delay is chosen so that it becomes final about
   * six seconds from now: long enough to commit into it while forming (three seconds were not,
   * on a machine running several suites at once), short enough to wait for.
   */
  function timeline() {
    const now = Date.now();
    const current = Math.floor(now / STEP) * STEP;
    const previous = current - STEP;
    const finalitySeconds = Math.ceil((now - current) / 1000) + 6;
    return { previous, finalitySeconds, at: (s: number) => new Date(previous + s * 1000) };
  }

  async function serve(finalitySeconds: number) {
    const app = createTestApp(t.db, replay, { env: { CANDLE_FINALITY_SECONDS: String(finalitySeconds) } });
    const http = await app.listen();
    const client = wsClient(http.wsUrl);
    return {
      app,
      client,
      async close() {
        await client.dispose();
        await app.app.stop("test over");
        await http.server.stop();
      },
    };
  }

  it("pushes the forming candle on each commit, once more when final, then each late commit as a revision", async () => {
    const { previous, finalitySeconds, at } = timeline();
    const s = await serve(finalitySeconds);
    const writer = await createPriceWriter(t.db, s.app.bus, ["CDA", "CDB"]);
    try {
      await writer.commitRows([{ asset: 0, observedAt: at(10), priceUsd: 100 }]);
      const sub = collect(s.client, SUBSCRIPTION, { asset: "CDA" });
      const events = () => sub.events.map((e) => e.candleUpdates);
      await sub.until(1);
      expect(events()[0]).toMatchObject({
        final: false,
        revision: 0,
        candle: { bucket: new Date(previous).toISOString(), open: 100, high: 100, low: 100, close: 100 },
      });
      // Another asset's commit touches none of this subscription's buckets: nothing is sent.
      await writer.commitRows([{ asset: 1, observedAt: at(15), priceUsd: 7 }]);
      await writer.commitRows([{ asset: 0, observedAt: at(20), priceUsd: 110 }]);
      await sub.until(2);
      expect(events()[1]).toMatchObject({
        final: false,
        revision: 0,
        candle: { open: 100, high: 110, low: 100, close: 110, observations: 2, final: false },
      });
      // Finality: the same numbers again, final, without any commit.
      await sub.until(3, finalitySeconds * 1000 + 10_000);
      expect(events()[2]).toEqual({
        final: true,
        revision: 0,
        candle: { ...events()[1].candle, final: true },
      });
      expect(Date.now()).toBeGreaterThanOrEqual(previous + STEP + finalitySeconds * 1000);
      // A late observation inside the final bucket: recomputed, revision 1; a second, revision 2.
      await writer.commitRows([{ asset: 0, observedAt: at(30), priceUsd: 90 }]);
      await sub.until(4);
      expect(events()[3]).toMatchObject({
        final: true,
        revision: 1,
        candle: { open: 100, high: 110, low: 90, close: 90, observations: 3, final: true, revision: 1 },
      });
      await writer.commitRows([{ asset: 0, observedAt: at(5), priceUsd: 95 }]);
      await sub.until(5);
      expect(events()[4]).toMatchObject({ revision: 2, candle: { open: 95, close: 90, observations: 4 } });
      // priceHistory returns the last update of the bucket, finality and revision included.
      const history = await s.app.gql<{ priceHistory: unknown[] }>(
        `{ priceHistory(asset: "CDA", interval: M5) { ${CANDLE} } }`,
      );
      expect(history.body.errors).toBeUndefined();
      expect(history.body.data?.priceHistory).toEqual([events()[4].candle]);
      await new Promise((r) => setTimeout(r, 300));
      expect(events()).toHaveLength(5);
      expect(sub.errors).toEqual([]);
      sub.stop();
    } finally {
      await s.close();
    }
  });

  it("a backfill into several final buckets pushes each one once, oldest first", async () => {
    const s = await serve(60);
    const writer = await createPriceWriter(t.db, s.app.bus, ["CDC"]);
    try {
      const old = Math.floor(Date.now() / STEP) * STEP - 10 * STEP;
      await writer.commitRows([{ asset: 0, observedAt: new Date(old + 5 * STEP), priceUsd: 50 }]);
      const sub = collect(s.client, SUBSCRIPTION, { asset: "CDC" });
      await sub.until(1);
      // One commit, three buckets (one of them twice): three updates, each revision 1.
      await writer.commitRows([
        { asset: 0, observedAt: new Date(old + 2 * STEP + 1_000), priceUsd: 20 },
        { asset: 0, observedAt: new Date(old + 60_000), priceUsd: 10 },
        { asset: 0, observedAt: new Date(old + 2 * STEP + 9_000), priceUsd: 21 },
        { asset: 0, observedAt: new Date(old + 5 * STEP + 1_000), priceUsd: 51 },
      ]);
      const events = (await sub.until(4)).map((e) => e.candleUpdates);
      expect(
        events.slice(1).map((u) => [new Date(u.candle.bucket).getTime() - old, u.revision, u.candle.close]),
      ).toEqual([
        [0, 1, 10],
        [2 * STEP, 1, 21],
        [5 * STEP, 2, 51],
      ]);
      expect(events.every((u) => u.final)).toBe(true);
      await new Promise((r) => setTimeout(r, 300));
      expect(sub.events).toHaveLength(4);
      sub.stop();
    } finally {
      await s.close();
    }
  });

  it("counts every late commit, a rewrite of the same row too, and never lowers the revision", async () => {
    const s = await serve(0);
    const writer = await createPriceWriter(t.db, s.app.bus, ["CDR"]);
    try {
      const old = Math.floor(Date.now() / STEP) * STEP - 10 * STEP;
      const a = new Date(old + 10_000);
      const b = new Date(old + 20_000);
      const sub = collect(s.client, SUBSCRIPTION, { asset: "CDR" });
      await writer.commitRows([{ asset: 0, observedAt: a, priceUsd: 10 }]);
      await sub.until(1);
      await writer.commitRows([{ asset: 0, observedAt: a, priceUsd: 11 }]);
      await sub.until(2);
      await writer.commitRows([{ asset: 0, observedAt: b, priceUsd: 20 }]);
      await sub.until(3);
      await writer.commitRows([
        { asset: 0, observedAt: a, priceUsd: 12 },
        { asset: 0, observedAt: b, priceUsd: 21 },
      ]);
      const events = (await sub.until(4)).map((e) => e.candleUpdates);
      expect(events.map((u) => [u.revision, u.candle.close])).toEqual([
        [1, 10],
        [2, 11],
        [3, 20],
        [4, 21],
      ]);
      sub.stop();
      const history = await s.app.gql<{ priceHistory: { revision: number }[] }>(
        `{ priceHistory(asset: "CDR", interval: M5) { revision } }`,
      );
      expect(history.body.data?.priceHistory).toEqual([{ revision: 4 }]);
    } finally {
      await s.close();
    }
  });

  it("sends every forming bucket final, and a batch writing across the final moment is in it or a revision", async () => {
    const { previous, finalitySeconds, at } = timeline();
    const s = await serve(finalitySeconds);
    const writer = await createPriceWriter(t.db, s.app.bus, ["CDF"]);
    try {
      // Two buckets not final yet: the previous one (final in ~3 s) and the current one.
      await writer.commitRows([
        { asset: 0, observedAt: at(10), priceUsd: 100 },
        { asset: 0, observedAt: new Date(previous + STEP + 1_000), priceUsd: 105 },
      ]);
      const sub = collect(s.client, SUBSCRIPTION, { asset: "CDF" });
      const events = () => sub.events.map((e) => e.candleUpdates);
      await sub.until(1);
      expect(events()[0]).toMatchObject({ final: false, candle: { close: 105 } });
      // A batch that writes into the previous bucket before its final moment and commits after it.
      const run = await t.db.prisma.etlRun.create({ data: { trigger: "CLI", requested: ["CSV"] } });
      const finalMoment = previous + STEP + finalitySeconds * 1000;
      const record = (observedAt: Date, priceUsd: number) => ({
        assetId: writer.assets[0]!.id,
        record: {
          source: "CSV" as const,
          sourceAssetId: "cdf",
          file: "slow.csv",
          idColumn: null,
          symbol: "CDF",
          name: null,
          observedAt,
          priceUsd,
          ...EMPTY_MARKET_FIELDS,
          position: 0,
          location: "slow",
          raw: null,
        },
      });
      await t.db.prisma.$transaction(
        async (tx) => {
          await upsertObservations(tx, run.id, "CSV", [record(at(40), 50)]);
          await new Promise((r) => setTimeout(r, Math.max(0, finalMoment - Date.now()) + 1_500));
        },
        { timeout: 30_000 },
      );
      s.app.bus.publish("batchCommitted", { runId: run.id, source: "CSV", seqFrom: 0n, seqTo: 0n });
      // Its final candle holds the slow batch's low: it waited for the batch to commit.
      await sub.until(2, finalitySeconds * 1000 + 10_000);
      expect(events()[1]).toMatchObject({ final: true, revision: 0, candle: { low: 50, close: 50 } });
      // The same batch shape after the final moment: a revision.
      await writer.commitRows([{ asset: 0, observedAt: at(50), priceUsd: 40 }]);
      await sub.until(3);
      expect(events()[2]).toMatchObject({ final: true, revision: 1, candle: { low: 40 } });
      await new Promise((r) => setTimeout(r, 300));
      expect(events()).toHaveLength(3);
      sub.stop();
    } finally {
      await s.close();
    }
  });

  it("brings many subscriptions of one asset, whose reads are shared, to the database's candles", async () => {
    const s = await serve(0);
    const writer = await createPriceWriter(t.db, s.app.bus, ["CDS"]);
    try {
      const old = Math.floor(Date.now() / STEP) * STEP - 4 * STEP;
      await writer.commitRows([{ asset: 0, observedAt: new Date(old + 1_000), priceUsd: 1 }]);
      const subs = Array.from({ length: 8 }, () => collect(s.client, SUBSCRIPTION, { asset: "CDS" }));
      await Promise.all(subs.map((sub) => sub.until(1)));
      for (let i = 0; i < 5; i++)
        await writer.commitRows([
          { asset: 0, observedAt: new Date(old + 2_000 + i), priceUsd: 2 + i },
          { asset: 0, observedAt: new Date(old + STEP + i), priceUsd: 20 + i },
        ]);
      const expected = await s.app.gql<{ priceHistory: unknown[] }>(
        `{ priceHistory(asset: "CDS", interval: M5) { ${CANDLE} } }`,
      );
      // Each ends at the database's candles (how many updates it took depends on when it read).
      const last = (events: { candleUpdates: { candle: { bucket: string } } }[]) => {
        const byBucket = new Map<string, unknown>();
        for (const e of events) byBucket.set(e.candleUpdates.candle.bucket, e.candleUpdates.candle);
        return [...byBucket.values()];
      };
      for (const sub of subs)
        await sub.until(
          (events) => JSON.stringify(last(events)) === JSON.stringify(expected.body.data?.priceHistory),
        );
      expect(subs.every((sub) => sub.errors.length === 0)).toBe(true);
      for (const sub of subs) sub.stop();
    } finally {
      await s.close();
    }
  });

  it("an unknown asset is a BAD_USER_INPUT naming it, and no event", async () => {
    const s = await serve(60);
    try {
      const sub = collect(s.client, SUBSCRIPTION, { asset: "NOPE" });
      await expect(sub.until(1, 5_000)).rejects.toThrow(/BAD_USER_INPUT/);
      expect(JSON.stringify(sub.errors)).toContain('no asset \\"NOPE\\"');
      expect(sub.events).toEqual([]);
    } finally {
      await s.close();
    }
  });
});
