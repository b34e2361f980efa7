import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { inject } from "vitest";
import { createDatabase, type Database } from "../../src/db/database.ts";
import { migrate } from "../../src/db/migrator.ts";
import { createLogger, type Logger } from "../../src/logger/logger.ts";

export const postgresAdminUrl = inject("postgresAdminUrl");
export const quietLogger: Logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? "silent" });

/** Creates an empty PostgreSQL database; returns its URL and a function that drops it. */
export async function createEmptyPostgresDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  if (!postgresAdminUrl) throw new Error("PostgreSQL is not reachable");
  const name = `coinflow_test_${process.pid}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: postgresAdminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(postgresAdminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: postgresAdminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export interface TestDatabase {
  db: Database;
  url?: string;
  /** Empties every table (between tests; schema stays). The seq sequence keeps counting up, as it
   *  does in production: a live market feed must never see seq go backwards. */
  reset(): Promise<void>;
  dispose(): Promise<void>;
}

const TABLES = [
  "anomaly",
  "rejected_record",
  "drift_event",
  "drift_baseline",
  "raw_payload_run",
  "raw_payload",
  "checkpoint",
  "source_run",
  "latest_price",
  "run_price",
  "candle_rollup",
  "candle_late_commit",
  "market_observation",
  "asset_source",
  "asset",
  "run_idempotency_key",
  "etl_run",
];

async function resetTables(db: Database) {
  await db.prisma.$executeRawUnsafe(
    `TRUNCATE ${TABLES.map((t) => `"${t}"`).join(", ")} RESTART IDENTITY CASCADE`,
  );
}

/** A migrated PostgreSQL database of its own, dropped on dispose. */
export async function createPostgresTestDatabase(logger: Logger = quietLogger): Promise<TestDatabase> {
  const { url, drop } = await createEmptyPostgresDatabase();
  const db = await createDatabase({ url, dataDir: "unused", logger });
  await migrate(db, logger);
  return {
    db,
    url,
    reset: () => resetTables(db),
    dispose: async () => {
      await db.close();
      await drop();
    },
  };
}

/** A migrated PGlite database copied from the template built in global setup. */
export async function createPgliteTestDatabase(logger: Logger = quietLogger): Promise<TestDatabase> {
  const root = mkdtempSync(join(tmpdir(), "coinflow-pglite-"));
  const dataDir = join(root, "data");
  cpSync(inject("pgliteTemplateDir"), dataDir, { recursive: true });
  const db = await createDatabase({ dataDir, logger });
  return {
    db,
    reset: () => resetTables(db),
    dispose: async () => {
      await db.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** The database kinds a suite runs on: PGlite always, PostgreSQL when reachable. */
export const databaseKinds = [
  { kind: "pglite" as const, create: createPgliteTestDatabase, available: true },
  { kind: "postgres" as const, create: createPostgresTestDatabase, available: postgresAdminUrl !== null },
];
