import type { PrismaClient } from "../db/database.ts";
import {
  ensureObservationPartitions,
  listMonthPartitions,
  prismaPartitionSql,
} from "../db/observation-partitions.ts";
import type { Logger } from "../logger/logger.ts";
import { rebuildRollups, rollUpPendingRuns } from "./candle-rollups.ts";

export interface ObservationRetention {
  /** OBSERVATION_RETENTION_DAYS: a month partition goes once its newest instant is this old; 0 = never. */
  retentionDays: number;
  /** MARKET_UPDATES_RETENTION_HOURS: rows committed this recently are kept whatever their date. */
  resumeHours: number;
}

export interface RetentionOutcome {
  /** Runs whose buckets were rolled up (this one, and any that crashed before their end). */
  rolledUp: number[];
  created: string[];
  dropped: string[];
  /** Partitions past retention that were kept, with the reason. */
  kept: { name: string; reason: string }[];
  /** Dropped partitions whose rollups were rebuilt from their rows first (counts differed). */
  rebuilt: string[];
}

/**
 * Drops the month partitions whose whole range is older than the retention, once their candles are
 * in the rollups (the rollups' counts equal the month's rows, or the month's rollups are rebuilt
 * from its rows first, in the same transaction), unless a row in one was committed within the
 * marketUpdates resume window (a CSV file of last quarter loaded an hour ago: a subscriber may
 * still replay it); such a partition goes at a later run. The default partition is never dropped.
 */
export async function dropExpiredPartitions(
  prisma: PrismaClient,
  retention: ObservationRetention,
  now: Date = new Date(),
): Promise<Pick<RetentionOutcome, "dropped" | "kept" | "rebuilt">> {
  const dropped: string[] = [];
  const kept: RetentionOutcome["kept"] = [];
  const rebuilt: string[] = [];
  if (retention.retentionDays <= 0) return { dropped, kept, rebuilt };
  const sql = prismaPartitionSql(prisma);
  const cutoff = now.getTime() - retention.retentionDays * 86_400_000;
  const resumeFrom = new Date(now.getTime() - retention.resumeHours * 3_600_000);
  const expired = (await sql.transaction(listMonthPartitions)).filter((p) => p.to.getTime() <= cutoff);
  for (const p of expired) {
    const outcome = await prisma.$transaction(
      async (tx) => {
        // Partition names come from the catalog and match the month pattern: safe as identifiers.
        const recent = await tx.$queryRawUnsafe<unknown[]>(
          `SELECT 1 FROM "${p.name}" WHERE committed_at >= $1::timestamptz LIMIT 1`,
          resumeFrom.toISOString(),
        );
        if (recent.length > 0) return "rows committed within MARKET_UPDATES_RETENTION_HOURS";
        // Buckets never straddle months (a day starts at UTC midnight), so the month's rollups
        // count exactly its rows.
        const [counts] = await tx.$queryRawUnsafe<
          { raw_h: number; raw_d: number; roll_h: number; roll_d: number }[]
        >(
          `SELECT
             (SELECT count(*) FILTER (WHERE bar_seconds IS NULL OR bar_seconds <= 3600) FROM "${p.name}")::int AS raw_h,
             (SELECT count(*) FILTER (WHERE bar_seconds > 3600 AND bar_seconds <= 86400) FROM "${p.name}")::int AS raw_d,
             (SELECT coalesce(sum(observations), 0) FROM candle_rollup WHERE interval_seconds = 3600
                AND bucket >= $1::timestamptz AND bucket < $2::timestamptz)::int AS roll_h,
             (SELECT coalesce(sum(observations), 0) FROM candle_rollup WHERE interval_seconds = 86400
                AND bucket >= $1::timestamptz AND bucket < $2::timestamptz)::int AS roll_d`,
          p.from.toISOString(),
          p.to.toISOString(),
        );
        if (!counts || counts.raw_h !== counts.roll_h || counts.raw_d !== counts.roll_d) {
          await rebuildRollups(tx, p.from, p.to);
          rebuilt.push(p.name);
        }
        await tx.$executeRawUnsafe(`DROP TABLE "${p.name}"`);
        return null;
      },
      { timeout: 600_000, maxWait: 30_000 },
    );
    if (outcome === null) dropped.push(p.name);
    else kept.push({ name: p.name, reason: outcome });
  }
  return { dropped, kept, rebuilt };
}

/**
 * After each run (under the run lock, beside the raw archive's pruning): the run's buckets rolled
 * up (candle-rollups.ts), the months ahead created, expired months dropped. A failure is logged and retried by the next run; rows never
 * lack a home (the default partition takes what no month covers).
 */
export async function maintainObservations(
  prisma: PrismaClient,
  retention: ObservationRetention,
  logger: Logger,
  now: Date = new Date(),
): Promise<RetentionOutcome> {
  const rolledUp = await rollUpPendingRuns(prisma);
  const created = await ensureObservationPartitions(prismaPartitionSql(prisma), now);
  const { dropped, kept, rebuilt } = await dropExpiredPartitions(prisma, retention, now);
  if (created.length > 0 || dropped.length > 0 || kept.length > 0 || rolledUp.length > 1)
    logger.info({ created, dropped, kept, rebuilt, rolledUp }, "observation partitions maintained");
  return { rolledUp, created, dropped, kept, rebuilt };
}
