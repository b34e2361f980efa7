import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createDatabase } from "../../src/db/database.ts";
import {
  createEmptyPostgresDatabase,
  createPostgresTestDatabase,
  postgresAdminUrl,
  quietLogger,
} from "../support/databases.ts";
import { createTestRunner, SEED_CSV, snapshot } from "../support/pipeline.ts";
import { type ReplayServer, startReplayServer } from "../support/replay-server.ts";
import { runCli, startCli } from "../support/run-cli.ts";

let replay: ReplayServer;
const cleanups: (() => unknown)[] = [];
beforeAll(async () => {
  replay = await startReplayServer();
});
afterAll(() => replay.close());
afterEach(async () => {
  replay.clearFaults();
  while (cleanups.length > 0) await cleanups.pop()?.();
});

const upstream = () => ({
  COINGECKO_BASE_URL: replay.coingeckoBase,
  COINPAPRIKA_BASE_URL: replay.coinpaprikaBase,
  CSV_SOURCE_PATHS: SEED_CSV,
  HTTP_MAX_ATTEMPTS: "2",
  HTTP_BACKOFF_BASE_MS: "10",
  HTTP_TIMEOUT_MS: "20000",
});

function tempDataDir() {
  const root = mkdtempSync(join(tmpdir(), "coinflow-cli-"));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  return join(root, "data");
}

describe("npm run etl (tsx src/main.ts etl) on embedded PGlite", () => {
  it("prints one JSON object as the last stdout line and exits 0 on success", async () => {
    const r = await runCli(["etl", "--json", "--source", "csv"], { ...upstream(), DATA_DIR: tempDataDir() });
    expect(r.code).toBe(0);
    expect(r.json()).toEqual({
      runId: 1,
      status: "SUCCEEDED",
      durationMs: expect.any(Number),
      alreadyRunning: false,
      error: null,
      sources: [
        {
          source: "CSV",
          status: "SUCCEEDED",
          fetched: 1092,
          written: 1092,
          unchanged: 0,
          rejected: 0,
          quarantined: 0,
          error: null,
        },
      ],
    });
    // logs went to stderr as JSON lines
    expect(
      r.stderr
        .trim()
        .split("\n")
        .every((l) => l.startsWith("{")),
    ).toBe(true);
  });

  it("exits non-zero with status FAILED and keeps every key when the run fails", async () => {
    const r = await runCli(["etl", "--json"], {
      ...upstream(),
      DATA_DIR: tempDataDir(),
      ETL_FAIL_AFTER_RECORDS: "10",
    });
    expect(r.code).toBe(1);
    expect(r.json()).toMatchObject({
      status: "FAILED",
      error: "injected failure after 10 records",
      runId: 1,
    });
    expect(Object.keys(r.json())).toEqual([
      "runId",
      "status",
      "durationMs",
      "alreadyRunning",
      "error",
      "sources",
    ]);
  });

  it("exits 0 for a PARTIAL run, and no API key appears in any output", async () => {
    const keys = { COINGECKO_API_KEY: "CG-secret-cli-0001", COINPAPRIKA_API_KEY: "paprika-secret-cli-0002" };
    replay.fault("coinpaprika", { kind: "status", status: 503 }, { always: true });
    replay.requests.length = 0;
    const r = await runCli(["etl", "--json"], {
      ...upstream(),
      ...keys,
      DATA_DIR: tempDataDir(),
      LOG_LEVEL: "debug",
    });
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ status: "PARTIAL" });
    expect(replay.requests.find((q) => q.path.endsWith("/coins/markets"))?.headers["x-cg-demo-api-key"]).toBe(
      keys.COINGECKO_API_KEY,
    );
    expect(replay.requests.find((q) => q.path.endsWith("/tickers"))?.headers.authorization).toBe(
      keys.COINPAPRIKA_API_KEY,
    );
    for (const key of Object.values(keys)) {
      expect(r.stdout).not.toContain(key);
      expect(r.stderr).not.toContain(key);
    }
    expect(r.stderr).toMatch(/COINPAPRIKA transient error/);
  });

  it("refuses an unknown option or source with the usage line", async () => {
    const r = await runCli(["etl", "--source", "binance"], { DATA_DIR: tempDataDir() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown source "binance"[\s\S]*usage: npm run etl/);
  });
});

describe.skipIf(!postgresAdminUrl)("npm run etl killed with SIGKILL mid-run, on PostgreSQL", () => {
  it("leaves a run that the next run marks abandoned, and the resumed database equals a clean run", async () => {
    const reference = await createPostgresTestDatabase();
    cleanups.push(() => reference.dispose());
    await createTestRunner(reference.db, replay).runner.run({ trigger: "CLI" });
    const clean = await snapshot(reference.db);

    const { url, drop } = await createEmptyPostgresDatabase();
    cleanups.push(drop);
    // CoinPaprika answers only after 20 s: the child is killed while waiting, CoinGecko committed.
    replay.fault("coinpaprika", { kind: "hang", ms: 20_000 });
    const child = startCli(["etl", "--json"], { ...upstream(), DATABASE_URL: url });
    const db = await createDatabase({ url, dataDir: "unused", logger: quietLogger });
    cleanups.push(() => db.close());
    const deadline = Date.now() + 30_000;
    for (;;) {
      const n = await db.prisma.marketObservation.count().catch(() => 0);
      if (n >= 250 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    child.child.kill("SIGKILL");
    const killed = await child.result;
    expect(killed.signal).toBe("SIGKILL");
    const dead = await db.prisma.etlRun.findFirstOrThrow({ orderBy: { id: "asc" } });
    expect(dead.status).toBe("RUNNING");
    replay.clearFaults();

    const again = await runCli(["etl", "--json"], { ...upstream(), DATABASE_URL: url });
    expect(again.code).toBe(0);
    expect(again.json()).toMatchObject({ status: "SUCCEEDED" });
    const abandoned = await db.prisma.etlRun.findUniqueOrThrow({ where: { id: dead.id } });
    expect(abandoned.status).toBe("FAILED");
    expect(abandoned.error).toMatch(/abandoned/);
    expect(await snapshot(db)).toEqual(clean);
  });

  it("a second CLI run while one is going waits for it and reports alreadyRunning", async () => {
    const { url, drop } = await createEmptyPostgresDatabase();
    cleanups.push(drop);
    replay.fault("coingecko", { kind: "slow", ms: 3000 });
    const first = startCli(["etl", "--json"], { ...upstream(), DATABASE_URL: url });
    await new Promise((r) => setTimeout(r, 2000));
    const second = await runCli(["etl", "--json"], { ...upstream(), DATABASE_URL: url });
    const one = await first.result;
    expect(one.json()).toMatchObject({ runId: 1, status: "SUCCEEDED", alreadyRunning: false });
    expect(second.json()).toMatchObject({ runId: 1, status: "SUCCEEDED", alreadyRunning: true });
    expect(second.code).toBe(0);
  });
});
