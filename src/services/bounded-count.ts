import type { PrismaClient } from "../db/database.ts";

/**
 * Above this many matching rows totalCount is an estimate, not an exact count: counting stops at
 * threshold + 1 rows, so a totalCount never costs more than reading that many index entries
 * (an exact count(*) over 3 M observations took ~200 ms, ~20 s at a year of data).
 */
export const EXACT_COUNT_THRESHOLD = 10_000;

export interface BoundedCount {
  count: number;
  isEstimate: boolean;
}

/** Tables whose planner statistics an estimate may read (the name is a bound parameter). */
export type CountedTable = "market_observation" | "asset" | "etl_run" | "drift_event";

/**
 * Exact when at most `threshold` rows match. Otherwise an estimate, flagged: for an unfiltered
 * connection the planner's table size (pg_class.reltuples, kept by ANALYZE and autovacuum), never
 * below what was counted; for a filtered one the capped count itself, a lower bound.
 * `countUpTo(take)` counts the connection's rows, reading at most `take` of them.
 */
export async function boundedCount(
  prisma: PrismaClient,
  table: CountedTable,
  unfiltered: boolean,
  countUpTo: (take: number) => Promise<number>,
  threshold = EXACT_COUNT_THRESHOLD,
): Promise<BoundedCount> {
  const counted = await countUpTo(threshold + 1);
  if (counted <= threshold) return { count: counted, isEstimate: false };
  if (!unfiltered) return { count: counted, isEstimate: true };
  // A partitioned table's own entry holds no rows (its reltuples stays -1): its partitions do.
  const rows = await prisma.$queryRaw<{ estimate: number | null }[]>`
    SELECT sum(reltuples) FILTER (WHERE reltuples >= 0)::float8 AS estimate FROM pg_class
    WHERE oid = to_regclass(${table})
      OR oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = to_regclass(${table}))`;
  // reltuples is -1 before the first ANALYZE (PostgreSQL 14+): then the count so far is all we know.
  // totalCount is a GraphQL Int: a table past 2^31 rows reports the largest one, still flagged.
  const estimate = Math.min(Math.round(rows[0]?.estimate ?? -1), 2 ** 31 - 1);
  return { count: Math.max(counted, estimate), isEstimate: true };
}
