import { readFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../support/app.ts";
import { createPgliteTestDatabase, type TestDatabase } from "../support/databases.ts";
import {
  COINGECKO_TOP250,
  loadFixture,
  type ReplayServer,
  startReplayServer,
} from "../support/replay-server.ts";
import { wsClient } from "../support/ws-client.ts";

const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);

const loadAverage = () => {
  try {
    return readFileSync("/proc/loadavg", "utf8").split(" ")[0];
  } catch {
    return "n/a";
  }
};

/**
 * This thread's CPU time in ms (Linux: /proc, 10 ms ticks), null elsewhere. On a machine whose
 * cores other work shares, a stall's wall time is partly waiting for a core; the CPU the main
 * thread itself spent in it is what an idle machine would have stalled.
 */
function mainThreadCpuMs(): number | null {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10; // utime + stime (fields 14, 15)
  } catch {
    return null;
  }
}
const SUBSCRIBERS = 200;
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

describe(`soak: ${SECONDS} s of queries, ${SUBSCRIBERS} subscribers and a run every 5 s`, () => {
  it("answers everything, delivers every update, and memory does not trend up", async () => {
    let errors = 0;
    const app = createTestApp(t.db, replay, { env: { ETL_SOURCES: "coingecko" }, bufferSize: 100_000 });
    const http = await app.listen();
    const clients = Array.from({ length: 10 }, () => wsClient(http.wsUrl));
    // Counters, not collectors: the soak measures the server's memory, not the test's.
    const counts = new Array<number>(SUBSCRIBERS).fill(0);
    const stops = counts.map((_, i) =>
      clients[i % clients.length]!.subscribe(
        { query: "subscription { marketUpdates(mode: ALL) { kind seq } }" },
        { next: () => void counts[i]!++, error: () => void errors++, complete: () => undefined },
      ),
    );
    await new Promise((r) => setTimeout(r, 1000));
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    // The most CPU the main thread spent between two turns of a 10 ms timer.
    let busiest = 0;
    let lastCpu = mainThreadCpuMs();
    const cpuSampler = setInterval(() => {
      const cpu = mainThreadCpuMs();
      if (cpu !== null && lastCpu !== null) busiest = Math.max(busiest, cpu - lastCpu);
      lastCpu = cpu;
    }, 10);
    const rss: number[] = [];
    let queries = 0;
    let runs = 0;
    const deadline = Date.now() + SECONDS * 1000;
    const items = loadFixture<Record<string, unknown>[]>(COINGECKO_TOP250);
    const runLoop = (async () => {
      while (Date.now() < deadline) {
        runs++;
        // Each run moves prices at a new timestamp, so every run writes 250 rows.
        const at = new Date(Date.UTC(2023, 5, 1) + runs * 60_000).toISOString();
        replay.setCoinGeckoPages([
          items.map((i) => ({
            ...i,
            current_price: (i.current_price as number) * (1 + runs / 1000),
            last_updated: at,
          })),
        ]);
        const r = await app.runner.run({ trigger: "CLI" });
        if (r.status !== "SUCCEEDED") errors++;
        await new Promise((res) => setTimeout(res, 5000));
      }
    })();
    const queryLoop = (async () => {
      while (Date.now() < deadline) {
        const r = await fetch(`${http.url}/graphql`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            query:
              '{ latestPrices(symbols: ["BTC", "ETH"]) { priceUsd } marketData(first: 50) { edges { node { priceUsd asset { symbol } } } } }',
          }),
        });
        const body = await r.json();
        queries++;
        if (r.status !== 200 || body.errors) errors++;
      }
    })();
    const sampler = setInterval(() => rss.push(process.memoryUsage().rss), 2000);
    await Promise.all([runLoop, queryLoop]);
    clearInterval(sampler);
    clearInterval(cpuSampler);
    delay.disable();
    const written = await t.db.prisma.marketObservation.count();
    const expected = runs * 250;
    for (let i = 0; i < 600 && counts.some((c) => c < expected); i++)
      await new Promise((r) => setTimeout(r, 100));
    for (const stop of stops) stop();
    await Promise.all(clients.map((c) => c.dispose()));
    await http.server.stop();
    app.stop();

    // No upward trend after warm-up: the last third's mean within 15 % of the middle third's.
    const third = Math.floor(rss.length / 3);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const middle = mean(rss.slice(third, 2 * third));
    const last = mean(rss.slice(2 * third));
    process.stderr.write(
      `soak: ${runs} runs, ${queries} queries, ${errors} errors, ${written} rows, ` +
        `RSS middle ${(middle / 2 ** 20).toFixed(0)} MB → last ${(last / 2 ** 20).toFixed(0)} MB, ` +
        `longest stall ${(delay.max / 1e6).toFixed(0)} ms (p99 ${(delay.percentile(99) / 1e6).toFixed(0)} ms; ` +
        `most main-thread CPU between two 10 ms timer turns: ${lastCpu === null ? "n/a" : `${busiest} ms`}; ` +
        `load average ${loadAverage()})\n`,
    );
    expect(errors).toBe(0);
    expect(written).toBeGreaterThanOrEqual(expected);
    expect(counts.every((c) => c === expected)).toBe(true);
    expect(last).toBeLessThan(middle * 1.15);
  });
});
