import { createHash, randomUUID } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../logger/logger.ts";
import type { Database } from "./database.ts";
import { ensureObservationPartitions } from "./observation-partitions.ts";

/** Prisma Migrate's own advisory-lock key: our migrator and `prisma migrate deploy` exclude each other. */
export const PRISMA_MIGRATE_LOCK_KEY = 72707369;

export const DEFAULT_MIGRATIONS_DIR = "prisma/migrations";

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MigrationError";
  }
}

interface MigrationFile {
  name: string;
  sql: string;
  checksum: string;
}

interface AppliedRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
}

// Same table as Prisma Migrate creates, so `prisma migrate status/deploy` agree with us.
const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum" VARCHAR(64) NOT NULL,
  "finished_at" TIMESTAMPTZ,
  "migration_name" VARCHAR(255) NOT NULL,
  "logs" TEXT,
  "rolled_back_at" TIMESTAMPTZ,
  "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`;

export function readMigrations(dir: string): MigrationFile[] {
  return readdirSync(dir)
    .filter((name) => statSync(join(dir, name)).isDirectory())
    .sort()
    .map((name) => {
      const sql = readFileSync(join(dir, name, "migration.sql"), "utf8");
      return { name, sql, checksum: createHash("sha256").update(sql).digest("hex") };
    });
}

// PGlite is one process's database (DATA_DIR lock); a promise chain serializes in-process callers.
let pgliteQueue: Promise<unknown> = Promise.resolve();

/**
 * Applies prisma/migrations/*\/migration.sql in order, each in its own transaction, recording
 * them in _prisma_migrations, then creates market_observation's partitions ahead. No-op when up
 * to date; refuses when an applied migration's file changed; safe when several processes start at
 * once (advisory lock on PostgreSQL).
 */
export async function migrate(
  db: Database,
  logger: Logger,
  dir: string = DEFAULT_MIGRATIONS_DIR,
): Promise<{ applied: string[] }> {
  const run = async () => {
    const migrations = readMigrations(dir);
    const conn = await db.connect();
    try {
      if (db.kind === "postgres") await conn.query("SELECT pg_advisory_lock($1)", [PRISMA_MIGRATE_LOCK_KEY]);
      await conn.exec(CREATE_TABLE);
      const rows = await conn.query<AppliedRow>(
        `SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" WHERE rolled_back_at IS NULL`,
      );
      const byName = new Map(rows.map((r) => [r.migration_name, r]));
      for (const m of migrations) {
        const row = byName.get(m.name);
        if (row && row.finished_at === null) {
          throw new MigrationError(
            `Migration ${m.name} started earlier but did not finish. Inspect the database, then mark it ` +
              "rolled back (prisma migrate resolve --rolled-back) before retrying.",
          );
        }
        if (row && row.checksum !== m.checksum) {
          throw new MigrationError(
            `Migration ${m.name} was modified after it was applied (checksum ${row.checksum.slice(0, 12)}… in ` +
              `the database, ${m.checksum.slice(0, 12)}… on disk). Restore the file and add a new migration instead.`,
          );
        }
      }
      const known = new Set(migrations.map((m) => m.name));
      for (const name of byName.keys()) {
        if (!known.has(name)) logger.warn({ migration: name }, "applied migration missing from disk");
      }
      const applied: string[] = [];
      for (const m of migrations.filter((m) => !byName.has(m.name))) {
        await conn.transaction(async (tx) => {
          const id = randomUUID();
          await tx.query(
            `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count)
             VALUES ($1, $2, $3, now(), 0)`,
            [id, m.checksum, m.name],
          );
          await tx.exec(m.sql);
          await tx.query(
            `UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1`,
            [id],
          );
        });
        logger.info({ migration: m.name }, "migration applied");
        applied.push(m.name);
      }
      if (applied.length === 0) logger.debug("database schema up to date");
      // Every start creates the months ahead too, not only the migration that partitioned the table.
      const partitions = await ensureObservationPartitions(conn);
      if (partitions.length > 0) logger.info({ partitions }, "observation partitions created");
      return { applied };
    } finally {
      if (db.kind === "postgres") {
        await conn.query("SELECT pg_advisory_unlock($1)", [PRISMA_MIGRATE_LOCK_KEY]).catch(() => undefined);
      }
      await conn.release();
    }
  };
  if (db.kind === "postgres") return run();
  const result = pgliteQueue.then(run, run);
  pgliteQueue = result.catch(() => undefined);
  return result;
}
