import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { TEST_API_KEY } from "../support/app.ts";
import { createEmptyPostgresDatabase, postgresAdminUrl } from "../support/databases.ts";
import { SEED_CSV } from "../support/pipeline.ts";
import {
  COINGECKO_TOP250,
  loadFixture,
  type ReplayServer,
  startReplayServer,
} from "../support/replay-server.ts";
import { runCli } from "../support/run-cli.ts";
import { type ServiceProcess, spawnService } from "../support/spawn-service.ts";
import { collect, wsClient } from "../support/ws-client.ts";

type Item = Record<string, unknown>;
let replay: ReplayServer;
const cleanups: (() => unknown)[] = [];
beforeAll(async () => {
  replay = await startReplayServer();
});
afterAll(() => replay.close());
afterEach(async () => {
  replay.clearFaults();
  replay.setCoinGeckoPages([loadFixture<Item[]>(COINGECKO_TOP250)]);
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function cluster(extra: Record<string, string> = {}) {
  const { url, drop } = await createEmptyPostgresDatabase();
  cleanups.push(drop);
  const env = {
    DATABASE_URL: url,
    ETL_API_KEY: TEST_API_KEY,
    COINGECKO_BASE_URL: replay.coingeckoBase,
    COINPAPRIKA_BASE_URL: replay.coinpaprikaBase,
    CSV_SOURCE_PATHS: SEED_CSV,
    SUBSCRIPTION_BUFFER_SIZE: "10000",
    ETL_BATCH_SIZE: "100",
    ...extra,
  };
  const a = await spawnService(env);
  cleanups.push(() => a.stop());
  const b = await spawnService(env);
  cleanups.push(() => b.stop());
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  cleanups.push(() => db.end());
  return { a, b, db, env };
}

async function trigger(service: ServiceProcess, sources?: string[]) {
  const res = await fetch(`${service.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${TEST_API_KEY}` },
    body: JSON.stringify({
      query: "mutation($s: [Source!]) { triggerEtl(input: { sources: $s }) { run { id } } }",
      variables: { s: sources },
    }),
  });
  return Number((await res.json()).data.triggerEtl.run.id);
}

async function waitIdle(db: pg.Client) {
  for (let i = 0; i < 600; i++) {
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM etl_run WHERE status = 'RUNNING'`);
    if (rows[0].n === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("runs did not finish");
}

const allSeqs = async (db: pg.Client) =>
  (await db.query(`SELECT seq::int AS seq FROM market_observation ORDER BY seq`)).rows.map(
    (r) => r.seq as number,
  );

describe.skipIf(!postgresAdminUrl)("several server processes on one PostgreSQL", () => {
  it("delivers a run triggered through A, and one from npm run etl, to subscribers on B", async () => {
    const { a, b, db, env } = await cluster({ ETL_INTERVAL_SECONDS: "0" });
    const client = wsClient(`ws://127.0.0.1:${b.port}/graphql`);
    cleanups.push(() => client.dispose());
    const updates = collect(client, `subscription { marketUpdates(mode: ALL) { kind seq } }`);
    const runs = collect(client, `subscription { etlRunEvents { runId status } }`);
    await new Promise((r) => setTimeout(r, 500));
    const runId = await trigger(a);
    await waitIdle(db);
    const firstRun = await allSeqs(db);
    await updates.until(firstRun.length, 30_000);
    await runs.until((es) =>
      es.some((e) => e.etlRunEvents.runId === String(runId) && e.etlRunEvents.status === "SUCCEEDED"),
    );

    replay.setCoinGeckoPages([
      loadFixture<Item[]>(COINGECKO_TOP250).map((i) => ({
        ...i,
        current_price: (i.current_price as number) * 1.1,
      })),
    ]);
    const cli = await runCli(["etl", "--json", "--source", "coingecko"], { ...env });
    expect(cli.json()).toMatchObject({ status: "SUCCEEDED", sources: [{ written: 250 }] });
    // Rewritten rows get new seqs: B receives the first run's seqs, then the CLI run's new ones.
    const expected = [...firstRun, ...(await allSeqs(db)).filter((s) => s > firstRun.at(-1)!)];
    const events = await updates.until(expected.length, 30_000);
    expect(events.every((e) => e.marketUpdates.kind === "UPDATE")).toBe(true);
    expect(events.map((e) => e.marketUpdates.seq)).toEqual(expected);
  });

  it("loses nothing when B's LISTEN connection is terminated mid-stream", async () => {
    const { a, b, db } = await cluster({ ETL_INTERVAL_SECONDS: "0" });
    const client = wsClient(`ws://127.0.0.1:${b.port}/graphql`);
    cleanups.push(() => client.dispose());
    const updates = collect(client, `subscription { marketUpdates(mode: ALL) { seq } }`);
    await new Promise((r) => setTimeout(r, 500));
    await trigger(a);
    await updates.until(200, 30_000);
    const killed = await db.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'coinflow-listen' AND datname = current_database()`,
    );
    expect(killed.rowCount).toBe(2);
    await waitIdle(db);
    const expected = await allSeqs(db);
    const events = await updates.until(expected.length, 30_000);
    expect(events.map((e) => e.marketUpdates.seq)).toEqual(expected);
    expect(b.output()).toMatch(/event listener reconnected/);
  });

  it("runs the schedule once per interval across two processes, not twice", async () => {
    const { db } = await cluster({ ETL_INTERVAL_SECONDS: "4", ETL_SOURCES: "csv" });
    await new Promise((r) => setTimeout(r, 10_000));
    await waitIdle(db);
    const { rows } = await db.query(
      `SELECT schedule_slot::text AS slot, count(*)::int AS n FROM etl_run WHERE trigger = 'SCHEDULE' GROUP BY 1 ORDER BY 1`,
    );
    expect(rows.length).toBeGreaterThanOrEqual(2);
    for (const r of rows) expect(r.n).toBe(1);
  });
});
