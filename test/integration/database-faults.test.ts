import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../support/app.ts";
import { createPostgresTestDatabase, postgresAdminUrl, type TestDatabase } from "../support/databases.ts";
import { createTestRunner, snapshot } from "../support/pipeline.ts";
import { type ReplayServer, startReplayServer } from "../support/replay-server.ts";
import { spawnService } from "../support/spawn-service.ts";

let replay: ReplayServer;
beforeAll(async () => {
  replay = await startReplayServer();
});
afterAll(() => replay.close());

const admin = async () => {
  const c = new pg.Client({ connectionString: postgresAdminUrl! });
  await c.connect();
  return c;
};
const dbName = (url: string) => new URL(url).pathname.slice(1);

describe.skipIf(!postgresAdminUrl)("database faults on PostgreSQL", () => {
  let t: TestDatabase;
  let reference: TestDatabase;
  beforeAll(async () => {
    t = await createPostgresTestDatabase();
    reference = await createPostgresTestDatabase();
  });
  afterAll(async () => {
    await t.dispose();
    await reference.dispose();
  });

  it("a run whose connections are terminated mid-run ends FAILED with whole batches only, the server keeps serving, and the next run converges", async () => {
    await createTestRunner(reference.db, replay).runner.run({ trigger: "CLI" });
    const clean = await snapshot(reference.db);

    const app = createTestApp(t.db, replay);
    const http = await app.listen();
    replay.fault("coinpaprika", { kind: "slow", ms: 1500 });
    const started = await app.runner.start({ trigger: "CLI" });
    for (let i = 0; i < 100 && (await t.db.prisma.marketObservation.count()) < 250; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const killer = await admin();
    const killed = await killer.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
      [dbName(t.url!)],
    );
    await killer.end();
    expect(killed.rowCount).toBeGreaterThan(0);
    const summary = await started.done;
    expect(summary.status).toBe("FAILED");
    // CoinGecko's 250 rows were one batch: all of them or none, never part.
    expect([0, 250]).toContain(await t.db.prisma.marketObservation.count({ where: { source: "COINGECKO" } }));
    expect(await t.db.prisma.marketObservation.count({ where: { source: "COINPAPRIKA" } })).toBe(0);
    const health = await fetch(`${http.url}/health`);
    expect(health.status).toBe(200);
    const resumed = await app.runner.run({ trigger: "CLI" });
    expect(resumed.status).toBe("SUCCEEDED");
    expect(await snapshot(t.db)).toEqual(clean);
    await http.server.stop();
    app.stop();
  });

  it("/health reports a database outage with 503 and recovers when it comes back", async () => {
    const app = createTestApp(t.db, replay);
    const http = await app.listen();
    const name = dbName(t.url!);
    const c = await admin();
    try {
      await c.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
      await c.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", [name]);
      const down = await fetch(`${http.url}/health`);
      expect(down.status).toBe(503);
      expect((await down.json()).database.status).toBe("down");
    } finally {
      await c.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      await c.end();
    }
    let status = 0;
    for (let i = 0; i < 40 && status !== 200; i++) {
      status = (await fetch(`${http.url}/health`)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 250));
    }
    expect(status).toBe(200);
    await http.server.stop();
    app.stop();
  });

  it("PostgreSQL unreachable at startup: a clear log line and retries with backoff, not a crash loop", async () => {
    const failed = await spawnService(
      { DATABASE_URL: "postgresql://postgres@127.0.0.1:1/coinflow" },
      9_000,
    ).catch((e: Error) => e);
    expect(failed).toBeInstanceOf(Error);
    const output = (failed as Error).message;
    const retries = [
      ...output.matchAll(/"attempt":(\d+),"retryInMs":(\d+),"msg":"database unreachable, retrying"/g),
    ];
    expect(retries.length).toBeGreaterThanOrEqual(3);
    expect(retries.map((m) => Number(m[2]))).toEqual(
      [...retries.map((m) => Number(m[2]))].sort((a, b) => a - b),
    );
    expect(Number(retries[1]![2])).toBeGreaterThan(Number(retries[0]![2]));
  });
});
