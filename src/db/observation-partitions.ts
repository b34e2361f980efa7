import type { PrismaClient } from "./database.ts";
import type { SqlRunner } from "./sql-connection.ts";

/**
 * market_observation's partitions (migration 20261203100000_observation_partitions): one per UTC
 * month of observed_at, named market_observation_yYYYYmMM, plus the DEFAULT partition
 * market_observation_history, which holds every row no month covers (CSV history, rows dated in a
 * month retention already dropped) and is never dropped.
 *
 * DDL takes no bind parameters: the names and bounds below are built from integers (year, month),
 * never from input.
 */
export const HISTORY_PARTITION = "market_observation_history";
/** Months created ahead of the current one, by the migrator and after every run. */
export const PARTITION_MONTHS_AHEAD = 2;

const NAME = /^market_observation_y(\d{4})m(\d{2})$/;

export interface MonthPartition {
  name: string;
  /** Inclusive lower bound (a month's first instant, UTC). */
  from: Date;
  /** Exclusive upper bound (the next month's first instant). */
  to: Date;
}

/** Runs statements in one transaction (the migrator's connection, or Prisma's). */
export interface PartitionSql {
  transaction<T>(fn: (tx: SqlRunner) => Promise<T>): Promise<T>;
}

/** Prisma as a PartitionSql: DDL and raw reads in an interactive transaction. */
export function prismaPartitionSql(prisma: PrismaClient): PartitionSql {
  return {
    transaction: (fn) =>
      prisma.$transaction(
        (tx) =>
          fn({
            query: <R>(text: string, params: unknown[] = []) => tx.$queryRawUnsafe<R[]>(text, ...params),
            exec: async (sql: string) => {
              await tx.$executeRawUnsafe(sql);
            },
          }),
        // Moving a month's rows out of the default partition, or a drop waiting for readers.
        { timeout: 300_000, maxWait: 30_000 },
      ),
  };
}

export function monthPartition(year: number, month0: number): MonthPartition {
  const from = new Date(Date.UTC(year, month0, 1));
  const to = new Date(Date.UTC(year, month0 + 1, 1));
  const name = `market_observation_y${from.getUTCFullYear()}m${String(from.getUTCMonth() + 1).padStart(2, "0")}`;
  return { name, from, to };
}

/** The month partitions that exist, oldest first. */
export async function listMonthPartitions(tx: SqlRunner): Promise<MonthPartition[]> {
  const rows = await tx.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'market_observation'::regclass`,
  );
  return rows
    .flatMap((r) => {
      const m = NAME.exec(r.name);
      return m ? [monthPartition(Number(m[1]), Number(m[2]) - 1)] : [];
    })
    .sort((a, b) => a.from.getTime() - b.from.getTime());
}

const literal = (d: Date) => `'${d.toISOString()}'`;

/**
 * Creates the current month's partition and PARTITION_MONTHS_AHEAD more, when missing. Rows the
 * default partition already holds for such a month (the month began while nothing created it) are
 * moved into it in the same transaction, since PostgreSQL refuses a partition whose rows sit in
 * the default one. Returns the names created.
 */
export async function ensureObservationPartitions(
  sql: PartitionSql,
  now: Date = new Date(),
  monthsAhead: number = PARTITION_MONTHS_AHEAD,
): Promise<string[]> {
  // A database migrated only up to before the partitioning (the migrator's own tests) has none.
  const partitioned = await sql.transaction((tx) =>
    tx.query(`SELECT 1 FROM pg_class WHERE oid = to_regclass('market_observation') AND relkind = 'p'`),
  );
  if (partitioned.length === 0) return [];
  const wanted = Array.from({ length: monthsAhead + 1 }, (_, i) =>
    monthPartition(now.getUTCFullYear(), now.getUTCMonth() + i),
  );
  const created: string[] = [];
  for (const p of wanted) {
    await sql.transaction(async (tx) => {
      const existing = await listMonthPartitions(tx);
      if (existing.some((e) => e.name === p.name)) return;
      const range = `observed_at >= ${literal(p.from)} AND observed_at < ${literal(p.to)}`;
      const stranded = await tx.query(`SELECT 1 FROM "${HISTORY_PARTITION}" WHERE ${range} LIMIT 1`);
      if (stranded.length > 0) {
        await tx.exec(`CREATE TEMP TABLE observation_move (LIKE market_observation) ON COMMIT DROP`);
        await tx.exec(
          `WITH moved AS (DELETE FROM "${HISTORY_PARTITION}" WHERE ${range} RETURNING *)
           INSERT INTO observation_move SELECT * FROM moved`,
        );
      }
      await tx.exec(
        `CREATE TABLE IF NOT EXISTS "${p.name}" PARTITION OF market_observation FOR VALUES FROM (${literal(p.from)}) TO (${literal(p.to)})`,
      );
      if (stranded.length > 0) await tx.exec(`INSERT INTO market_observation SELECT * FROM observation_move`);
      created.push(p.name);
    });
  }
  return created;
}
