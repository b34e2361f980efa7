import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { REPLAY_PAUSE_MAX_MS } from "../../src/graphql/live/market-feed.ts";
import { createTestApp } from "../support/app.ts";
import { createPostgresTestDatabase, postgresAdminUrl, type TestDatabase } from "../support/databases.ts";
import { createFakeClock } from "../support/fake-clock.ts";
import { createPriceWriter } from "../support/price-writer.ts";
import { type ReplayServer, startReplayServer } from "../support/replay-server.ts";
import { collect, wsClient } from "../support/ws-client.ts";

// marketUpdates' snapshot, heartbeat and shutdown events, over a real graphql-ws client against
// real PostgreSQL: concurrent commits there run on separate connections, as in production.
const SYMBOLS = ["SNA", "SNB", "SNC"];

let replay: ReplayServer;
let t: TestDatabase;

describe.runIf(postgresAdminUrl !== null)("marketUpdates live events on PostgreSQL", () => {
  beforeAll(async () => {
    replay = await startReplayServer();
    t = await createPostgresTestDatabase();
  });
  afterAll(async () => {
    await t?.dispose();
    await replay?.close();
  });
  beforeEach(() => t.reset());

  async function serve(env: Record<string, string> = {}) {
    const app = createTestApp(t.db, replay, { env, bufferSize: 100_000 });
    const http = await app.listen();
    return {
      app,
      http,
      async close() {
        await app.app.stop("test over");
        await http.server.stop();
      },
    };
  }
  /** Subscribes with bad arguments: a BAD_USER_INPUT naming the argument, and no event. */
  async function expectRefused(query: string, variables: Record<string, unknown>, message: string) {
    const s = await serve();
    const client = wsClient(s.http.wsUrl);
    try {
      const sub = collect(client, query, variables);
      await expect(sub.until(1, 5_000)).rejects.toThrow(/BAD_USER_INPUT/);
      expect(JSON.stringify(sub.errors)).toContain(message);
      expect(sub.events).toEqual([]);
    } finally {
      await client.dispose();
      await s.close();
    }
  }

  const priceOf = (sources: { source: string; priceUsd: number }[]) =>
    sources.find((s) => s.source === "CSV")!.priceUsd;

  describe("snapshot: true", () => {
    const SNAPSHOT = `subscription($symbols: [String!]) {
      marketUpdates(symbols: $symbols, snapshot: true) {
        kind seq
        snapshot { id sources { source priceUsd } }
        observation { priceUsd asset { id } }
      }
    }`;

    it("starts with every asset's consensus as of seq N, then every update after N, while batches commit", async () => {
      const s = await serve();
      const writer = await createPriceWriter(t.db, s.app.bus, SYMBOLS);
      const client = wsClient(s.http.wsUrl);
      const loop = writer.loop(2);
      try {
        while (loop.count < 5) await new Promise((r) => setTimeout(r, 10));
        const sub = collect(client, SNAPSHOT, { symbols: SYMBOLS });
        await sub.until(1);
        // Keep writing after the snapshot: the seam is where a lost or repeated update would be.
        const at = loop.count;
        while (loop.count < at + 10) await new Promise((r) => setTimeout(r, 10));
        await loop.stop();
        const all = await t.db.prisma.marketObservation.findMany({ orderBy: { seq: "asc" } });
        const [first] = sub.events;
        const n = BigInt(first.marketUpdates.seq);
        const after = all.filter((o) => o.seq > n).map((o) => Number(o.seq));
        expect(after.length).toBeGreaterThan(0);
        expect(all.some((o) => o.seq <= n)).toBe(true);
        const events = await sub.until(1 + after.length);
        sub.stop();
        expect(first.marketUpdates.kind).toBe("SNAPSHOT");
        // As of N exactly: each asset's price is its last observation at or below N, none later.
        const asOfN = new Map<string, number>();
        for (const o of all) if (o.seq <= n) asOfN.set(String(o.assetId), o.priceUsd);
        const snap = first.marketUpdates.snapshot as {
          id: string;
          sources: { source: string; priceUsd: number }[];
        }[];
        expect(new Map(snap.map((p) => [p.id, priceOf(p.sources)]))).toEqual(asOfN);
        const rest = events.slice(1).map((e) => e.marketUpdates);
        expect(rest.every((u) => u.kind === "UPDATE")).toBe(true);
        // Nothing missing, nothing twice, nothing at or below N.
        expect(rest.map((u) => u.seq)).toEqual(after);
        // The snapshot overwritten by the updates is what the database holds now.
        const prices = new Map(asOfN);
        for (const u of rest) prices.set(String(u.observation.asset.id), u.observation.priceUsd);
        const latest = await t.db.prisma.latestPrice.findMany({ where: { source: "CSV" } });
        expect(prices).toEqual(new Map(latest.map((l) => [String(l.assetId), l.priceUsd])));
        expect(sub.errors).toEqual([]);
      } finally {
        await loop.stop();
        await client.dispose();
        await s.close();
      }
    });

    it("refuses snapshot with afterSeq: BAD_USER_INPUT naming snapshot", () =>
      expectRefused(
        "subscription { marketUpdates(snapshot: true, afterSeq: 3) { kind seq } }",
        {},
        "snapshot: cannot be combined with afterSeq",
      ));
  });

  describe("heartbeat", () => {
    const LIVE = `subscription($symbols: [String!]) { marketUpdates(symbols: $symbols) { kind seq serverTime } }`;

    it("an idle subscription gets a HEARTBEAT every SUBSCRIPTION_HEARTBEAT_SECONDS with the latest committed seq, none while updates flow", async () => {
      const s = await serve({ SUBSCRIPTION_HEARTBEAT_SECONDS: "1" });
      const writer = await createPriceWriter(t.db, s.app.bus, SYMBOLS);
      const client = wsClient(s.http.wsUrl);
      try {
        const sub = collect(client, LIVE, { symbols: SYMBOLS });
        await new Promise((r) => setTimeout(r, 300));
        // Updates every 200 ms for 2.5 s: never idle for a second, so no heartbeat.
        const busyUntil = Date.now() + 2_500;
        while (Date.now() < busyUntil) {
          await writer.commit();
          await new Promise((r) => setTimeout(r, 200));
        }
        const max = (await t.db.prisma.marketObservation.aggregate({ _max: { seq: true } }))._max.seq!;
        await sub.until((es) => es.some((e) => Number(e.marketUpdates.seq) === Number(max)));
        const busy = sub.events.length;
        expect(sub.events.map((e) => e.marketUpdates.kind)).toEqual(sub.events.map(() => "UPDATE"));
        // Then idle for 2.5 s: two heartbeats, a second apart, at the latest committed seq.
        const idleFrom = Date.now();
        await new Promise((r) => setTimeout(r, 2_500));
        sub.stop();
        const beats = sub.events.slice(busy).map((e) => e.marketUpdates);
        expect(beats.length).toBeGreaterThanOrEqual(2);
        expect(beats.length).toBeLessThanOrEqual(3);
        const times = beats.map((b) => Date.parse(b.serverTime));
        for (const b of beats) expect(b).toMatchObject({ kind: "HEARTBEAT", seq: Number(max) });
        expect(times[0]! - idleFrom).toBeGreaterThan(500);
        for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(950);
        expect(sub.errors).toEqual([]);
      } finally {
        await client.dispose();
        await s.close();
      }
    });
  });
  describe("shutdown", () => {
    const LIVE = `subscription($symbols: [String!], $afterSeq: BigInt) {
      marketUpdates(symbols: $symbols, afterSeq: $afterSeq) { kind seq }
    }`;

    it("sends every subscriber RECONNECT at the last seq it was sent, then completes; afterSeq = it resumes gap-free on a new instance", async () => {
      const a = await serve();
      const writer = await createPriceWriter(t.db, a.app.bus, SYMBOLS);
      const client = wsClient(a.http.wsUrl);
      const sub = collect(client, LIVE, { symbols: SYMBOLS });
      await new Promise((r) => setTimeout(r, 300));
      for (let i = 0; i < 3; i++) await writer.commit();
      await sub.until(9);
      // The in-process shutdown path of main.ts: the app (feed) first, then the server (1001).
      await a.app.app.stop("shutting down");
      await a.http.server.stop();
      const events = await sub.until(10);
      await new Promise((r) => setTimeout(r, 200));
      const sent = events.slice(0, 9).map((e) => e.marketUpdates);
      expect(sent.every((u) => u.kind === "UPDATE")).toBe(true);
      expect(events[9].marketUpdates).toEqual({ kind: "RECONNECT", seq: sent.at(-1)!.seq });
      expect(events).toHaveLength(10);
      // The subscription completed after RECONNECT, so this lazy client closes first (1000); the
      // server's 1001 close is signals.test.ts's.
      await client.dispose();
      // Written while no instance serves.
      for (let i = 0; i < 2; i++) await writer.commit();
      const b = await serve();
      const again = wsClient(b.http.wsUrl);
      try {
        const resumed = collect(again, LIVE, { symbols: SYMBOLS, afterSeq: events[9].marketUpdates.seq });
        const missed = (await t.db.prisma.marketObservation.findMany({ orderBy: { seq: "asc" } }))
          .map((o) => Number(o.seq))
          .filter((q) => q > events[9].marketUpdates.seq);
        expect(missed).toHaveLength(6);
        const got = await resumed.until(6);
        await new Promise((r) => setTimeout(r, 200));
        expect(got.map((e) => e.marketUpdates.seq)).toEqual(missed);
        const all = (await t.db.prisma.marketObservation.findMany({ orderBy: { seq: "asc" } })).map((o) =>
          Number(o.seq),
        );
        expect([...sent.map((u) => u.seq), ...got.map((e) => e.marketUpdates.seq)]).toEqual(all);
      } finally {
        await again.dispose();
        await b.close();
      }
    });
  });
  describe("pacing", () => {
    const PACED = `subscription($symbols: [String!], $throttleMs: Int, $minMoveBps: Int, $maxSilenceSeconds: Int, $mode: MarketUpdateMode) {
      marketUpdates(symbols: $symbols, throttleMs: $throttleMs, minMoveBps: $minMoveBps, maxSilenceSeconds: $maxSilenceSeconds, mode: $mode) {
        kind seq observation { priceUsd }
      }
    }`;
    const prices = (es: any[]) => es.map((e) => e.marketUpdates.observation.priceUsd);

    it("throttleMs: the first update at once, then one per window, the newest; a plain subscriber gets all", async () => {
      const s = await serve();
      const writer = await createPriceWriter(t.db, s.app.bus, ["PCA"]);
      const client = wsClient(s.http.wsUrl);
      try {
        const paced = collect(client, PACED, { symbols: ["PCA"], throttleMs: 1000 });
        const plain = collect(client, PACED, { symbols: ["PCA"] });
        await new Promise((r) => setTimeout(r, 300));
        const path = [100, 101, 102, 103];
        for (const p of path) await writer.commit(() => p);
        await plain.until(4);
        expect(prices(plain.events)).toEqual(path);
        await paced.until(2, 5_000);
        await new Promise((r) => setTimeout(r, 1_500));
        expect(prices(paced.events)).toEqual([100, 103]);
        expect([...paced.errors, ...plain.errors]).toEqual([]);
      } finally {
        await client.dispose();
        await s.close();
      }
    });

    it("minMoveBps: only moves of at least that many bps since the last one sent; maxSilenceSeconds sends the newest held one after the silence", async () => {
      const s = await serve();
      const writer = await createPriceWriter(t.db, s.app.bus, ["PCB"]);
      const client = wsClient(s.http.wsUrl);
      try {
        const deviation = collect(client, PACED, { symbols: ["PCB"], minMoveBps: 100 });
        const silence = collect(client, PACED, { symbols: ["PCB"], minMoveBps: 100, maxSilenceSeconds: 1 });
        await new Promise((r) => setTimeout(r, 300));
        // 100 → +50 bps (held) → +100 bps from 100 (sent) → +20 bps (held)
        const started = Date.now();
        // A pause per commit: an update carries the consensus as the feed read it, so two batches
        // read in one pass would both carry the newer consensus.
        for (const p of [100, 100.5, 101, 101.2]) {
          await writer.commit(() => p);
          await new Promise((r) => setTimeout(r, 150));
        }
        // Pacing runs on the real clock: the exact silence emissions hold when the path was
        // written within the 1 s silence (a loaded machine may not manage it).
        const quick = Date.now() - started < 900;
        await deviation.until(2, 5_000);
        await silence.until(3, 5_000);
        await new Promise((r) => setTimeout(r, 300));
        expect(prices(deviation.events)).toEqual([100, 101]);
        if (quick) expect(prices(silence.events)).toEqual([100, 101, 101.2]);
        else expect(prices(silence.events).at(-1)).toBe(101.2);
        expect([...deviation.errors, ...silence.errors]).toEqual([]);
      } finally {
        await client.dispose();
        await s.close();
      }
    });

    it.each([
      [{ throttleMs: -1 }, "throttleMs: must be between 1 and 3600000"],
      [{ minMoveBps: 0 }, "minMoveBps: must be between 1 and 10000"],
      [{ minMoveBps: 10, maxSilenceSeconds: 999_999 }, "maxSilenceSeconds: must be between 1 and 86400"],
      [{ maxSilenceSeconds: 5 }, "maxSilenceSeconds: only applies with minMoveBps"],
      [{ throttleMs: 1000, mode: "ALL" }, "mode: ALL delivers every update"],
    ])("refuses %o with BAD_USER_INPUT", (variables, message) => expectRefused(PACED, variables, message));
  });
  describe("replaySpeed", () => {
    const REPLAY = `subscription($symbols: [String!], $afterSeq: BigInt, $replaySpeed: Float) {
      marketUpdates(symbols: $symbols, afterSeq: $afterSeq, replaySpeed: $replaySpeed) { kind seq }
    }`;

    it("replays missed batches as far apart as they committed, divided by the speed (fake clock), then LIVE, then live updates", async () => {
      const clock = createFakeClock();
      const app = createTestApp(t.db, replay, { bufferSize: 100_000, clock });
      const http = await app.listen();
      const writer = await createPriceWriter(t.db, app.bus, SYMBOLS);
      const client = wsClient(http.wsUrl);
      try {
        const batches: number[][] = [];
        for (let i = 0; i < 3; i++) batches.push((await writer.commit()).map(Number));
        // Commit times 10 s then 20 s apart (a batch's rows share its transaction's now()).
        const base = Date.now() - 60_000;
        for (const [i, offset] of [0, 10_000, 30_000].entries())
          await t.db.prisma.marketObservation.updateMany({
            where: { seq: { in: batches[i]!.map(BigInt) } },
            data: { committedAt: new Date(base + offset) },
          });
        const sub = collect(client, REPLAY, { symbols: SYMBOLS, afterSeq: 0, replaySpeed: 10 });
        const waitFor = async (ms: number) => {
          for (let i = 0; i < 500 && !clock.pending.includes(ms); i++)
            await new Promise((r) => setTimeout(r, 10));
          expect(clock.pending).toContain(ms);
        };
        await waitFor(1_000);
        await new Promise((r) => setTimeout(r, 100));
        expect(sub.events.map((e) => e.marketUpdates.seq)).toEqual(batches[0]);
        clock.advance(1_000);
        await waitFor(2_000);
        await new Promise((r) => setTimeout(r, 100));
        expect(sub.events.map((e) => e.marketUpdates.seq)).toEqual([...batches[0]!, ...batches[1]!]);
        clock.advance(2_000);
        const replayed = await sub.until(10);
        expect(replayed[9].marketUpdates).toEqual({ kind: "LIVE", seq: batches[2]!.at(-1) });
        expect(replayed.slice(0, 9).map((e) => e.marketUpdates.seq)).toEqual(batches.flat());
        const live = (await writer.commit()).map(Number);
        const all = await sub.until(13);
        expect(all.slice(10).map((e) => e.marketUpdates)).toEqual(
          live.map((seq) => ({ kind: "UPDATE", seq })),
        );
        expect(sub.errors).toEqual([]);
      } finally {
        await client.dispose();
        await http.server.stop();
        await app.stop();
      }
    });

    it("caps a replay's pause at REPLAY_PAUSE_MAX_MS, and a shutdown during it sends RECONNECT at once (no LIVE)", async () => {
      const clock = createFakeClock();
      const app = createTestApp(t.db, replay, { bufferSize: 100_000, clock });
      const http = await app.listen();
      const writer = await createPriceWriter(t.db, app.bus, SYMBOLS);
      const client = wsClient(http.wsUrl);
      try {
        const first = (await writer.commit()).map(Number);
        const second = (await writer.commit()).map(Number);
        // A night between the two batches: 8 h at speed 0.01 would be a pause of 33 days.
        await t.db.prisma.marketObservation.updateMany({
          where: { seq: { in: second.map(BigInt) } },
          data: { committedAt: new Date(Date.now() + 8 * 3_600_000) },
        });
        const sub = collect(client, REPLAY, { symbols: SYMBOLS, afterSeq: 0, replaySpeed: 0.01 });
        for (let i = 0; i < 500 && !clock.pending.includes(REPLAY_PAUSE_MAX_MS); i++)
          await new Promise((r) => setTimeout(r, 10));
        expect(clock.pending).toEqual([REPLAY_PAUSE_MAX_MS]);
        const stopped = Date.now();
        await app.stop();
        // Never advanced: only the shutdown can have ended the pause, well inside the 2 s flush.
        expect(Date.now() - stopped).toBeLessThan(1_900);
        const events = await sub.until(first.length + 1);
        expect(events.map((e) => e.marketUpdates)).toEqual([
          ...first.map((seq) => ({ kind: "UPDATE", seq })),
          { kind: "RECONNECT", seq: first.at(-1) },
        ]);
      } finally {
        await client.dispose();
        await http.server.stop();
        await app.stop();
      }
    });

    it.each([
      [{ afterSeq: 0, replaySpeed: 0 }, "replaySpeed: must be at least 0.01"],
      [{ afterSeq: 0, replaySpeed: 0.001 }, "replaySpeed: must be at least 0.01"],
      [{ replaySpeed: 2 }, "replaySpeed: only applies with afterSeq"],
    ])("refuses %o with BAD_USER_INPUT", (variables, message) => expectRefused(REPLAY, variables, message));
  });
});
