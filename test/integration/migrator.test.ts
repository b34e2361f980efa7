import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createDatabase } from "../../src/db/database.ts";
import { DEFAULT_MIGRATIONS_DIR, MigrationError, migrate } from "../../src/db/migrator.ts";
import { loadCandles } from "../../src/services/candles.ts";
import { createEmptyPostgresDatabase, postgresAdminUrl, quietLogger } from "../support/databases.ts";

const migrationCount = readdirSync(DEFAULT_MIGRATIONS_DIR, { withFileTypes: true }).filter((d) =>
  d.isDirectory(),
).length;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function emptyPostgres() {
  const { url, drop } = await createEmptyPostgresDatabase();
  cleanups.push(drop);
  return url;
}

async function open(url: string) {
  const db = await createDatabase({ url, dataDir: "unused", logger: quietLogger });
  cleanups.push(() => db.close());
  return db;
}

async function finishedRows(db: Awaited<ReturnType<typeof open>>) {
  const conn = await db.connect();
  try {
    return await conn.query<{ migration_name: string; checksum: string; applied_steps_count: number }>(
      `SELECT migration_name, checksum, applied_steps_count FROM "_prisma_migrations" WHERE finished_at IS NOT NULL`,
    );
  } finally {
    await conn.release();
  }
}

/**
 * Runs finished before run_price existed get their aggregate from its migration: the newest price
 * of each (asset, source) committed by each run's end; a run still RUNNING gets none.
 */
async function checkRunPriceBackfill(db: Awaited<ReturnType<typeof open>>) {
  const all = readdirSync(DEFAULT_MIGRATIONS_DIR).filter((n) => !n.endsWith(".toml"));
  const last = "20261203000000_run_prices";
  const dir = mkdtempSync(join(tmpdir(), "coinflow-mig-backfill-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  for (const name of all.filter((n) => n < last)) {
    cpSync(join(DEFAULT_MIGRATIONS_DIR, name), join(dir, name), { recursive: true });
  }
  await migrate(db, quietLogger, dir);
  const p = db.prisma;
  await p.$executeRaw`INSERT INTO asset (id, symbol, name) VALUES (1, 'BTC', 'Bitcoin')`;
  await p.$executeRaw`
    INSERT INTO etl_run (id, trigger, status, requested, started_at, finished_at) VALUES
      (1, 'CLI', 'SUCCEEDED', ARRAY['COINGECKO']::"Source"[], '2026-01-01T00:00Z', '2026-01-01T01:00Z'),
      (2, 'CLI', 'FAILED', ARRAY['COINGECKO']::"Source"[], '2026-01-02T00:00Z', '2026-01-02T01:00Z'),
      (3, 'CLI', 'RUNNING', ARRAY['COINGECKO']::"Source"[], '2026-01-03T00:00Z', NULL)`;
  await p.$executeRaw`
    INSERT INTO market_observation (seq, asset_id, source, observed_at, price_usd, run_id, committed_at) VALUES
      (1, 1, 'COINGECKO', '2025-12-31T23:00Z', 100, 1, '2026-01-01T00:30Z'),
      (2, 1, 'COINGECKO', '2026-01-01T23:00Z', 200, 2, '2026-01-02T00:30Z'),
      (3, 1, 'COINGECKO', '2026-01-02T23:00Z', 300, 3, '2026-01-03T00:30Z')`;
  cpSync(join(DEFAULT_MIGRATIONS_DIR, last), join(dir, last), { recursive: true });
  expect((await migrate(db, quietLogger, dir)).applied).toHaveLength(1);
  const rows = await p.$queryRaw<{ run_id: number; price_usd: number }[]>`
    SELECT run_id, price_usd FROM run_price ORDER BY run_id`;
  expect(rows.map((r) => [Number(r.run_id), Number(r.price_usd)])).toEqual([
    [1, 100],
    [2, 200],
  ]);
}

/**
 * The partitioning migration converts a populated table: every row kept (ids, seqs, values,
 * commit times), each in its month or, older than the months it creates, the default partition;
 * the id sequence goes on counting; the migrator creates the months ahead.
 */
async function checkPartitionConversion(db: Awaited<ReturnType<typeof open>>) {
  const all = readdirSync(DEFAULT_MIGRATIONS_DIR).filter((n) => !n.endsWith(".toml"));
  const partitions = "20261203100000_observation_partitions";
  const dir = mkdtempSync(join(tmpdir(), "coinflow-mig-partitions-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  for (const name of all.filter((n) => n < partitions)) {
    cpSync(join(DEFAULT_MIGRATIONS_DIR, name), join(dir, name), { recursive: true });
  }
  await migrate(db, quietLogger, dir);
  const p = db.prisma;
  const now = new Date();
  const month = (offset: number, day: number) =>
    new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, day, 12)).toISOString();
  await p.$executeRaw`INSERT INTO asset (id, symbol, name) VALUES (1, 'BTC', 'Bitcoin')`;
  await p.$executeRaw`INSERT INTO etl_run (id, trigger, requested) VALUES (1, 'CLI', ARRAY['COINGECKO']::"Source"[])`;
  const rows = [
    [10, 1, "CSV", "2013-04-28T00:00:00.000Z", 135.3, 86400],
    [11, 2, "COINGECKO", month(-2, 3), 60000.5, null],
    [12, 3, "COINPAPRIKA", month(-1, 20), 61000.25, null],
    [13, 4, "COINGECKO", month(0, 1), 62000, null],
  ] as const;
  for (const [id, seq, source, observedAt, price, bar] of rows) {
    await p.$executeRaw`
      INSERT INTO market_observation (id, seq, asset_id, source, observed_at, price_usd, bar_seconds, run_id, committed_at)
      VALUES (${id}::bigint, ${seq}::bigint, 1, ${source}::"Source", ${observedAt}::timestamptz, ${price}, ${bar}::int, 1,
              '2026-01-01T00:00:00Z')`;
  }
  await p.$executeRaw`SELECT setval('market_observation_id_seq', 13)`;
  const read = () =>
    p.$queryRaw<Record<string, unknown>[]>`
      SELECT id::int, seq::int, source::text, observed_at, price_usd, bar_seconds, committed_at,
             tableoid::regclass::text AS part
      FROM market_observation ORDER BY id`;
  const before = await read();
  for (const name of all.filter((n) => n >= partitions)) {
    cpSync(join(DEFAULT_MIGRATIONS_DIR, name), join(dir, name), { recursive: true });
  }
  await migrate(db, quietLogger, dir);
  const after = await read();
  const monthName = (offset: number) => {
    const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 1));
    return `market_observation_y${d.getUTCFullYear()}m${String(d.getUTCMonth() + 1).padStart(2, "0")}`;
  };
  expect(after.map(({ part: _, ...r }) => r)).toEqual(before.map(({ part: _, ...r }) => r));
  expect(after.map((r) => r.part)).toEqual([
    "market_observation_history",
    monthName(-2),
    monthName(-1),
    monthName(0),
  ]);
  const names = (
    await p.$queryRaw<{ name: string }[]>`
      SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'market_observation'::regclass ORDER BY 1`
  ).map((r) => r.name);
  expect(names).toEqual(
    [
      monthName(-2),
      monthName(-1),
      monthName(0),
      monthName(1),
      monthName(2),
      "market_observation_history",
    ].sort(),
  );
  // The rollups' migration backfilled the rows stored before it: the same candles either way.
  for (const interval of ["H1", "D1"] as const) {
    const rolled = await loadCandles(p, 1, { interval }, { seconds: 60 });
    expect(rolled.length).toBeGreaterThanOrEqual(interval === "H1" ? 3 : 4);
    expect(rolled).toEqual(await loadCandles(p, 1, { interval, rollups: false }, { seconds: 60 }));
  }
  const rollups = await p.$queryRaw<{ interval_seconds: number; n: number }[]>`
    SELECT interval_seconds, sum(observations)::int AS n FROM candle_rollup GROUP BY 1 ORDER BY 1`;
  expect(rollups.map((r) => [Number(r.interval_seconds), Number(r.n)])).toEqual([
    [3600, 3],
    [86400, 1],
  ]);
  const next = await p.$queryRaw<{ id: bigint }[]>`
    INSERT INTO market_observation (seq, asset_id, source, observed_at, price_usd, run_id)
    VALUES (5, 1, 'CSV', now(), 1, 1) RETURNING id`;
  expect(Number(next[0]?.id)).toBe(14);
}

describe.skipIf(!postgresAdminUrl)("migrator on PostgreSQL", () => {
  it("partitions a populated market_observation by month and keeps every row", async () => {
    await checkPartitionConversion(await open(await emptyPostgres()));
  });

  it("backfills run_price for runs finished before the migration", async () => {
    await checkRunPriceBackfill(await open(await emptyPostgres()));
  });

  it("applies every migration once, records it like Prisma, and is a no-op when re-run", async () => {
    const db = await open(await emptyPostgres());
    const first = await migrate(db, quietLogger);
    expect(first.applied).toHaveLength(migrationCount);
    const rows = await finishedRows(db);
    expect(rows).toHaveLength(migrationCount);
    for (const r of rows) {
      expect(r.checksum).toMatch(/^[0-9a-f]{64}$/);
      expect(r.applied_steps_count).toBe(1);
    }
    const second = await migrate(db, quietLogger);
    expect(second.applied).toEqual([]);
    expect(await finishedRows(db)).toHaveLength(migrationCount);
  });

  it("applies each migration once when two migrators start at the same time", async () => {
    const url = await emptyPostgres();
    const [a, b] = [await open(url), await open(url)];
    const results = await Promise.all([migrate(a, quietLogger), migrate(b, quietLogger)]);
    expect(results.map((r) => r.applied.length).sort()).toEqual([0, migrationCount]);
    expect(await finishedRows(a)).toHaveLength(migrationCount);
  });

  it("refuses with a clear error when an applied migration's file was changed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "coinflow-migrations-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    cpSync(DEFAULT_MIGRATIONS_DIR, dir, { recursive: true });
    const db = await open(await emptyPostgres());
    await migrate(db, quietLogger, dir);
    const first = readdirSync(dir).filter((n) => !n.endsWith(".toml"))[0]!;
    writeFileSync(join(dir, first, "migration.sql"), "-- tampered\nSELECT 1;\n");
    const error = await migrate(db, quietLogger, dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toContain(first);
    expect((error as Error).message).toMatch(/modified after it was applied/);
  });

  it("rolls back a failing migration entirely and records nothing for it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "coinflow-migrations-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    cpSync(DEFAULT_MIGRATIONS_DIR, dir, { recursive: true });
    const broken = join(dir, "99990101000000_broken");
    cpSync(join(dir, readdirSync(dir).filter((n) => !n.endsWith(".toml"))[0]!), broken, { recursive: true });
    writeFileSync(
      join(broken, "migration.sql"),
      'CREATE TABLE "half_done" (id int);\nSELECT no_such_function();\n',
    );
    const db = await open(await emptyPostgres());
    await expect(migrate(db, quietLogger, dir)).rejects.toThrow(/no_such_function/);
    const rows = await finishedRows(db);
    expect(rows.map((r) => r.migration_name)).not.toContain("99990101000000_broken");
    const conn = await db.connect();
    const tables = await conn.query(`SELECT 1 FROM information_schema.tables WHERE table_name = 'half_done'`);
    await conn.release();
    expect(tables).toHaveLength(0);
  });
});

describe("migrator on PGlite", () => {
  it("partitions a populated market_observation by month and keeps every row", async () => {
    const root = mkdtempSync(join(tmpdir(), "coinflow-pglite-mig-"));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const db = await createDatabase({ dataDir: join(root, "data"), logger: quietLogger });
    cleanups.push(() => db.close());
    await checkPartitionConversion(db);
  });

  it("backfills run_price for runs finished before the migration", async () => {
    const root = mkdtempSync(join(tmpdir(), "coinflow-pglite-mig-"));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const db = await createDatabase({ dataDir: join(root, "data"), logger: quietLogger });
    cleanups.push(() => db.close());
    await checkRunPriceBackfill(db);
  });

  it("migrates an empty embedded database, then re-runs as a no-op", async () => {
    const root = mkdtempSync(join(tmpdir(), "coinflow-pglite-mig-"));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const db = await createDatabase({ dataDir: join(root, "data"), logger: quietLogger });
    cleanups.push(() => db.close());
    expect((await migrate(db, quietLogger)).applied).toHaveLength(migrationCount);
    expect((await migrate(db, quietLogger)).applied).toEqual([]);
    expect(await finishedRows(db)).toHaveLength(migrationCount);
  });
});
