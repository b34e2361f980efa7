import { expect, it } from "vitest";
import type { PrismaClient } from "../../src/db/database.ts";
import { ETL_STATS_DEFAULT_RUNS, ETL_STATS_MAX_RUNS } from "../../src/services/etl-stats.ts";
import { createTestApp } from "../support/app.ts";
import { describeOnEachDatabase } from "../support/scenario.ts";

const BASE = Date.UTC(2026, 10, 1);
const MINUTE = 60_000;

/**
 * `count` finished runs, run i started i minutes after BASE and lasting 1000 + 10 i ms; each with a
 * COINGECKO source run (fetched i, written 1); the first `csvRuns` also with a CSV source run; the
 * run at `failedAt` (1-based) FAILED, the others SUCCEEDED; then one RUNNING run whose COINGECKO
 * source run has finished (FAILED).
 */
async function addRuns(prisma: PrismaClient, count: number, options: { csvRuns: number; failedAt: number }) {
  for (let i = 1; i <= count; i++) {
    const startedAt = new Date(BASE + i * MINUTE);
    const finishedAt = new Date(startedAt.getTime() + 1000 + 10 * i);
    const status = i === options.failedAt ? "FAILED" : "SUCCEEDED";
    const sources = [
      { source: "COINGECKO" as const, durationMs: 900 + 10 * i },
      ...(i <= options.csvRuns ? [{ source: "CSV" as const, durationMs: 50 }] : []),
    ];
    await prisma.etlRun.create({
      data: {
        trigger: "SCHEDULE",
        status,
        requested: sources.map((s) => s.source),
        startedAt,
        finishedAt,
        durationMs: 1000 + 10 * i,
        fetched: i,
        written: 1,
        sources: {
          create: sources.map((s) => ({
            source: s.source,
            status,
            startedAt,
            finishedAt,
            durationMs: s.durationMs,
            fetched: i,
            written: 1,
          })),
        },
      },
    });
  }
  // Still running, with one source already finished (FAILED, slow, many records): as during any
  // scheduled run once its first source is done. None of it is in the window.
  const at = new Date(BASE + (count + 1) * MINUTE);
  await prisma.etlRun.create({
    data: {
      trigger: "API",
      requested: ["COINGECKO", "CSV"],
      startedAt: at,
      sources: {
        create: [
          {
            source: "COINGECKO",
            status: "FAILED",
            startedAt: at,
            finishedAt: at,
            durationMs: 999_999,
            fetched: 5,
            written: 0,
          },
        ],
      },
    },
  });
}

const QUERY = `query ($n: Int) {
  etlStats(lastRuns: $n) {
    lastRuns since
    overall { runs recordsProcessed recordsWritten lastSuccessAt lastFailureAt lastDurationMs meanDurationMs p95DurationMs lastRun { id } }
    sources { source runs recordsProcessed lastFailureAt lastDurationMs meanDurationMs p95DurationMs lastRun { id } }
  }
}`;

/** percentile_cont(0.95) of an ascending list, as PostgreSQL computes it. */
function p95(sorted: number[]) {
  const pos = 0.95 * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return Math.round(sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo));
}

describeOnEachDatabase(
  (kind) => `etlStats' window of recent runs on ${kind}`,
  (scenario) => {
    it("covers the newest lastRuns finished runs only: counts, durations, last success and failure, sources that ran", async () => {
      // 30 runs; CSV ran in the first 5 only; run 3 failed; a 31st is still running.
      await addRuns(scenario.db.prisma, 30, { csvRuns: 5, failedAt: 3 });
      const runIds = (
        await scenario.db.prisma.etlRun.findMany({ orderBy: { id: "asc" }, select: { id: true } })
      ).map((r) => String(r.id));
      const app = createTestApp(scenario.db, scenario.replay);
      const r = await app.gql<{ etlStats: any }>(QUERY, { n: 10 });
      expect(r.body.errors, JSON.stringify(r.body.errors)).toBeUndefined();
      const stats = r.body.data!.etlStats;
      // Runs 21..30: durations 1210..1300.
      const window = Array.from({ length: 10 }, (_, j) => 21 + j);
      const durations = window.map((i) => 1000 + 10 * i);
      expect(stats.lastRuns).toBe(10);
      expect(stats.since).toBe(new Date(BASE + 21 * MINUTE).toISOString());
      expect(stats.overall).toEqual({
        runs: 10,
        recordsProcessed: window.reduce((a, i) => a + i, 0),
        recordsWritten: 10,
        lastSuccessAt: new Date(BASE + 30 * MINUTE + 1300).toISOString(),
        // Run 3's failure is outside the window.
        lastFailureAt: null,
        lastDurationMs: 1300,
        meanDurationMs: Math.round(durations.reduce((a, b) => a + b, 0) / 10),
        p95DurationMs: p95(durations),
        lastRun: { id: runIds[29] },
      });
      // CSV ran only before the window: not listed.
      expect(stats.sources).toEqual([
        {
          source: "COINGECKO",
          runs: 10,
          recordsProcessed: window.reduce((a, i) => a + i, 0),
          lastFailureAt: null,
          lastDurationMs: 900 + 300,
          meanDurationMs: Math.round(window.reduce((a, i) => a + 900 + 10 * i, 0) / 10),
          p95DurationMs: p95(window.map((i) => 900 + 10 * i)),
          lastRun: { id: runIds[29] },
        },
      ]);

      // The default window covers every run here: the failure and CSV appear.
      const all = await app.gql<{ etlStats: any }>(QUERY);
      expect(all.body.errors).toBeUndefined();
      const wide = all.body.data!.etlStats;
      expect(wide.lastRuns).toBe(ETL_STATS_DEFAULT_RUNS);
      expect(wide.since).toBe(new Date(BASE + MINUTE).toISOString());
      expect(wide.overall.runs).toBe(30);
      expect(wide.overall.lastFailureAt).toBe(new Date(BASE + 3 * MINUTE + 1030).toISOString());
      expect(wide.sources.map((s: any) => [s.source, s.runs])).toEqual([
        ["COINGECKO", 30],
        ["CSV", 5],
      ]);
      expect(wide.sources[1].lastRun).toEqual({ id: runIds[4] });
      await app.app.stop("test over");
    });

    it("answers with empty statistics before any run has finished", async () => {
      await scenario.db.prisma.etlRun.create({ data: { trigger: "API", requested: ["COINGECKO"] } });
      const app = createTestApp(scenario.db, scenario.replay);
      const r = await app.gql<{ etlStats: any }>(QUERY, { n: 5 });
      expect(r.body.errors).toBeUndefined();
      expect(r.body.data!.etlStats).toMatchObject({
        lastRuns: 5,
        since: null,
        overall: { runs: 0, recordsProcessed: 0, lastRun: null, meanDurationMs: null, p95DurationMs: null },
        sources: [],
      });
      await app.app.stop("test over");
    });

    it(`refuses a window below 1 or above ${ETL_STATS_MAX_RUNS} runs with BAD_USER_INPUT`, async () => {
      const app = createTestApp(scenario.db, scenario.replay);
      for (const n of [0, ETL_STATS_MAX_RUNS + 1]) {
        const r = await app.gql(QUERY, { n });
        expect(r.body.errors?.[0]?.extensions).toMatchObject({
          code: "BAD_USER_INPUT",
          argument: "lastRuns",
        });
      }
      await app.app.stop("test over");
    });
  },
);
