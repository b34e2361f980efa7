import type { PrismaClient } from "../db/database.ts";
import {
  ensureObservationPartitions,
  listMonthPartitions,
  type PartitionSql,
  prismaPartitionSql,
} from "../db/observation-partitions.ts";
import type { Logger } from "../logger/logger.ts";

export interface ObservationRetention {
  /** OBSERVATION_RETENTION_DAYS: a month partition goes once its newest instant is this old; 0 = never. */
  retentionDays: number;
  /** MARKET_UPDATES_RETENTION_HOURS: rows committed this recently are kept whatever their date. */
  resumeHours: number;
}

export interface RetentionOutcome {
  created: string[];
  dropped: string[];
  /** Partitions past retention that were kept, with the reason. */
  kept: { name: string; reason: string }[];
}

/**
 * Drops the month partitions whose whole range is older than the retention, unless a row in one
 * was committed within the marketUpdates resume window (a CSV file of last quarter loaded an hour
 * ago: a subscriber may still replay it); such a partition goes at a later run. The default
 * partition (history) is never dropped.
 */
export async function dropExpiredPartitions(
  sql: PartitionSql,
  retention: ObservationRetention,
  now: Date = new Date(),
): Promise<Pick<RetentionOutcome, "dropped" | "kept">> {
  const dropped: string[] = [];
  const kept: RetentionOutcome["kept"] = [];
  if (retention.retentionDays <= 0) return { dropped, kept };
  const cutoff = now.getTime() - retention.retentionDays * 86_400_000;
  const resumeFrom = new Date(now.getTime() - retention.resumeHours * 3_600_000);
  const expired = (await sql.transaction(listMonthPartitions)).filter((p) => p.to.getTime() <= cutoff);
  for (const p of expired) {
    const outcome = await sql.transaction(async (tx) => {
      // Partition names come from the catalog and match NAME: safe to quote as identifiers.
      const recent = await tx.query(
        `SELECT 1 FROM "${p.name}" WHERE committed_at >= $1::timestamptz LIMIT 1`,
        [resumeFrom.toISOString()],
      );
      if (recent.length > 0) return "rows committed within MARKET_UPDATES_RETENTION_HOURS";
      await tx.exec(`DROP TABLE "${p.name}"`);
      return null;
    });
    if (outcome === null) dropped.push(p.name);
    else kept.push({ name: p.name, reason: outcome });
  }
  return { dropped, kept };
}

/**
 * After each run (under the run lock, beside the raw archive's pruning): the months ahead are
 * created, expired months dropped. A failure is logged and retried by the next run; rows never
 * lack a home (the default partition takes what no month covers).
 */
export async function maintainObservations(
  prisma: PrismaClient,
  retention: ObservationRetention,
  logger: Logger,
  now: Date = new Date(),
): Promise<RetentionOutcome> {
  const sql = prismaPartitionSql(prisma);
  const created = await ensureObservationPartitions(sql, now);
  const { dropped, kept } = await dropExpiredPartitions(sql, retention, now);
  if (created.length > 0 || dropped.length > 0 || kept.length > 0)
    logger.info({ created, dropped, kept }, "observation partitions maintained");
  return { created, dropped, kept };
}
