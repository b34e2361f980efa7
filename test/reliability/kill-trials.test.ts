import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

const TRIALS = 20;
let replay: ReplayServer;
beforeAll(async () => {
  replay = await startReplayServer();
});
afterAll(() => replay.close());

/** Deterministic kill points: trial k waits a seeded 0.3–6 s before SIGKILL. */
function killDelay(seed: number): number {
  let x = (seed * 2654435761) >>> 0;
  x ^= x >>> 13;
  x = Math.imul(x, 0x5bd1e995) >>> 0;
  return 300 + (x % 5700);
}

describe.skipIf(!postgresAdminUrl)(`${TRIALS} seeded SIGKILLs of npm run etl`, () => {
  it("after a resume run, the database equals a clean run every time", async () => {
    const reference = await createPostgresTestDatabase();
    await createTestRunner(reference.db, replay, { ETL_BATCH_SIZE: "100" }).runner.run({ trigger: "CLI" });
    const clean = await snapshot(reference.db);
    await reference.dispose();

    const env = {
      COINGECKO_BASE_URL: replay.coingeckoBase,
      COINPAPRIKA_BASE_URL: replay.coinpaprikaBase,
      CSV_SOURCE_PATHS: SEED_CSV,
      ETL_BATCH_SIZE: "100",
      HTTP_MAX_ATTEMPTS: "2",
    };
    const outcomes: string[] = [];
    for (let trial = 1; trial <= TRIALS; trial++) {
      const { url, drop } = await createEmptyPostgresDatabase();
      replay.fault("coingecko", { kind: "slow", ms: 800 });
      replay.fault("coinpaprika", { kind: "slow", ms: 1500 });
      const child = startCli(["etl", "--json"], { ...env, DATABASE_URL: url });
      const delay = killDelay(trial);
      await new Promise((r) => setTimeout(r, delay));
      child.child.kill("SIGKILL");
      const killed = await child.result;
      replay.clearFaults();
      const resumed = await runCli(["etl", "--json"], { ...env, DATABASE_URL: url });
      expect(resumed.json(), `trial ${trial}`).toMatchObject({ status: "SUCCEEDED" });
      const db = await createDatabase({ url, dataDir: "unused", logger: quietLogger });
      expect(await snapshot(db), `trial ${trial} (killed after ${delay} ms)`).toEqual(clean);
      const runs = await db.prisma.etlRun.findMany({ orderBy: { id: "asc" } });
      outcomes.push(
        `${trial}:${delay}ms:${killed.signal ?? `exit ${killed.code}`}:${runs.map((r) => r.status).join(">")}`,
      );
      await db.close();
      await drop();
    }
    process.stderr.write(`kill trials: ${outcomes.join(" ")}\n`);
    expect(outcomes).toHaveLength(TRIALS);
  });
});
