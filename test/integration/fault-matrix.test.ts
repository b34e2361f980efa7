import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createPgliteTestDatabase, type TestDatabase } from "../support/databases.ts";
import { createTestRunner } from "../support/pipeline.ts";
import {
  COINGECKO_TOP250,
  COINPAPRIKA_TICKERS,
  loadFixture,
  type ReplayRoute,
  type ReplayServer,
  startReplayServer,
} from "../support/replay-server.ts";

type Item = Record<string, unknown>;
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
beforeEach(async () => {
  await t.reset();
  replay.clearFaults();
  replay.setCoinGeckoPages([loadFixture<Item[]>(COINGECKO_TOP250)]);
  replay.setCoinPaprikaTickers(loadFixture<Item[]>(COINPAPRIKA_TICKERS));
});

const ENV = {
  ETL_SOURCES: "coingecko,coinpaprika",
  // One attempt more than the longest burst (2): a burst then success must succeed even when the
  // loaded machine costs one more attempt (seen in full-suite runs only, twice).
  HTTP_MAX_ATTEMPTS: "4",
  // The deadline covers the whole body: 400 ms was too tight for a healthy 250-coin page on a
  // loaded 2-core machine (a retried case failed as PARTIAL). One hang case per source pays it.
  HTTP_TIMEOUT_MS: "1000",
  HTTP_BACKOFF_BASE_MS: "10",
  HTTP_BACKOFF_MAX_MS: "20",
  HTTP_RETRY_AFTER_MAX_MS: "1500",
};
const FULL = { COINGECKO: 250, COINPAPRIKA: 500 } as const;

type Expect = "retried" | "failed-transient" | "failed-permanent" | "empty" | "drift";
const CASES: [string, (route: ReplayRoute) => void, Expect][] = [
  [
    "429 with Retry-After seconds",
    (r) => replay.fault(r, { kind: "status", status: 429, headers: { "retry-after": "1" } }),
    "retried",
  ],
  [
    "429 with Retry-After as an HTTP date",
    (r) =>
      replay.fault(r, {
        kind: "status",
        status: 429,
        headers: { "retry-after": new Date(Date.now() + 1000).toUTCString() },
      }),
    "retried",
  ],
  [
    "a burst of 503 then success",
    (r) => replay.fault(r, { kind: "status", status: 503 }, { times: 2 }),
    "retried",
  ],
  [
    "permanent 500",
    (r) => replay.fault(r, { kind: "status", status: 500 }, { always: true }),
    "failed-transient",
  ],
  ["hang past the timeout", (r) => replay.fault(r, { kind: "hang" }, { always: true }), "failed-transient"],
  ["connection reset", (r) => replay.fault(r, { kind: "reset" }, { always: true }), "failed-transient"],
  ["truncated JSON", (r) => replay.fault(r, { kind: "truncated" }), "failed-permanent"],
  ["an HTML error page", (r) => replay.fault(r, { kind: "html" }, { always: true }), "failed-transient"],
  [
    "an empty array",
    (r) => (r === "coingecko" ? replay.setCoinGeckoPages([[]]) : replay.setCoinPaprikaTickers([])),
    "empty",
  ],
  [
    "a drifted payload",
    (r) =>
      r === "coingecko"
        ? replay.setCoinGeckoPages([
            loadFixture<Item[]>(COINGECKO_TOP250).map(({ total_volume, ...i }) => ({
              ...i,
              volume_total: total_volume,
            })),
          ])
        : replay.setCoinPaprikaTickers(
            loadFixture<Item[]>(COINPAPRIKA_TICKERS).map(({ rank, ...i }) => ({ ...i, rank_position: rank })),
          ),
    "drift",
  ],
];

describe.each([
  ["COINGECKO", "coingecko"],
  ["COINPAPRIKA", "coinpaprika"],
] as const)("upstream fault matrix: %s", (source, route) => {
  const other = source === "COINGECKO" ? "COINPAPRIKA" : "COINGECKO";

  it.each(CASES)("%s", async (_name, inject, expected) => {
    const { runner } = createTestRunner(t.db, replay, ENV);
    await runner.run({ trigger: "CLI" }); // the baseline run (drift baseline, previous counts)
    inject(route);
    const run = await runner.run({ trigger: "CLI" });
    const mine = await t.db.prisma.sourceRun.findFirstOrThrow({ where: { runId: run.runId, source } });
    const theirs = await t.db.prisma.sourceRun.findFirstOrThrow({
      where: { runId: run.runId, source: other },
    });
    // The other source is never affected.
    expect(theirs).toMatchObject({ status: "SUCCEEDED", fetched: FULL[other] });
    // Never a partial batch: this source's rows are all there (from the baseline run), or more.
    expect(await t.db.prisma.marketObservation.count({ where: { source } })).toBe(FULL[source]);
    switch (expected) {
      case "retried":
        // The source's error in the message: what made a retried case fail, if one ever does.
        expect(run.status, String(mine.error)).toBe("SUCCEEDED");
        expect(mine).toMatchObject({ status: "SUCCEEDED", fetched: FULL[source] });
        break;
      case "failed-transient":
      case "failed-permanent":
        expect(run.status).toBe("PARTIAL");
        expect(mine).toMatchObject({
          status: "FAILED",
          errorKind: expected === "failed-transient" ? "transient" : "permanent",
        });
        expect(mine.error).toMatch(new RegExp(`^${source} (transient|permanent) error`));
        break;
      case "empty":
        expect(mine).toMatchObject({ status: "SUCCEEDED", fetched: 0 });
        expect(
          await t.db.prisma.anomaly.count({ where: { runId: run.runId, kind: "COUNT_DROP", source } }),
        ).toBe(1);
        break;
      case "drift":
        expect(mine.status).toBe("SUCCEEDED");
        expect(
          await t.db.prisma.driftEvent.count({ where: { runId: run.runId, source, kind: "RENAMED" } }),
        ).toBe(1);
        break;
    }
  });
});
