import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { MarketUpdate } from "../../src/graphql/live/market-update.ts";
import { createPgliteTestDatabase, type TestDatabase } from "../support/databases.ts";
import { createTestRunner } from "../support/pipeline.ts";
import { type ReplayServer, startReplayServer } from "../support/replay-server.ts";

let replay: ReplayServer;
let t: TestDatabase;
beforeAll(async () => {
  replay = await startReplayServer();
  t = await createPgliteTestDatabase();
});
afterAll(async () => {
  await t.dispose();
  await replay.close();
});
beforeEach(() => t.reset());

function setup(bufferSize: number) {
  const { app } = createTestRunner(t.db, replay, {
    ETL_BATCH_SIZE: "100",
    SUBSCRIPTION_BUFFER_SIZE: String(bufferSize),
  });
  app.feed.start();
  return { runner: app.runner, feed: app.feed };
}

describe("slow consumers", () => {
  it("LATEST: a consumer that reads nothing holds at most one update per asset, the newest", async () => {
    const { runner, feed } = setup(10);
    const controller = new AbortController();
    const it = feed.subscribe({ symbols: ["BTC", "ETH"] }, { mode: "LATEST" }, controller.signal);
    const first = it.next(); // starts the subscription; the consumer then reads nothing
    await runner.run({ trigger: "CLI" });
    await feed.catchUp();
    expect(feed.buffered).toBeLessThanOrEqual(10);
    const received: MarketUpdate[] = [(await first).value as MarketUpdate];
    while (feed.buffered > 0) received.push((await it.next()).value as MarketUpdate);
    controller.abort();
    feed.stop();
    const newest = await t.db.prisma.marketObservation.groupBy({
      by: ["assetId"],
      where: { asset: { symbol: { in: ["BTC", "ETH"] } } },
      _max: { seq: true },
    });
    for (const n of newest) {
      expect(received.some((u) => u.seq === n._max.seq)).toBe(true);
    }
    const seqs = received.map((u) => u.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => (a < b ? -1 : 1)));
  });

  it("ALL: the overflow becomes one GAP with fromSeq and toSeq to refetch", async () => {
    const { runner, feed } = setup(10);
    const controller = new AbortController();
    const it = feed.subscribe({}, { mode: "ALL" }, controller.signal);
    const first = it.next();
    await runner.run({ trigger: "CLI" });
    await feed.catchUp();
    expect(feed.buffered).toBeLessThanOrEqual(10);
    const received: MarketUpdate[] = [(await first).value as MarketUpdate];
    while (feed.buffered > 0) received.push((await it.next()).value as MarketUpdate);
    controller.abort();
    feed.stop();
    const gap = received.at(-1)!;
    const max = (await t.db.prisma.marketObservation.aggregate({ _max: { seq: true } }))._max.seq!;
    expect(gap).toMatchObject({ kind: "GAP", toSeq: max });
    const updates = received.filter((u) => u.kind === "UPDATE");
    expect(updates).toHaveLength(received.length - 1);
    // Everything between the last update and toSeq is covered by the gap: nothing is lost silently.
    expect(gap.fromSeq).toBeGreaterThan(updates.at(-1)!.seq);
    const count = await t.db.prisma.marketObservation.count();
    expect(updates.length + Number(gap.toSeq! - gap.fromSeq! + 1n)).toBeGreaterThanOrEqual(count);
  });
});
