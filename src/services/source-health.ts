import type { PrismaClient } from "../db/database.ts";
import type { SourceId } from "../sources/record.ts";

type Source = SourceId;

export interface SourceHealthRow {
  source: Source;
  status: "UP" | "DEGRADED" | "DOWN" | "UNKNOWN";
  lastSuccessAt: Date | null;
  lastRunAt: Date | null;
  dataAgeSeconds: number | null;
  consecutiveFailures: number;
  lastError: string | null;
}

/** UP when the last run of the source succeeded, DEGRADED after 1–2 failures in a row, DOWN after 3. */
export async function loadSourceHealth(
  prisma: PrismaClient,
  sources: readonly Source[],
): Promise<SourceHealthRow[]> {
  const newest = await prisma.latestPrice.groupBy({ by: ["source"], _max: { observedAt: true } });
  return Promise.all(
    sources.map(async (source) => {
      const recent = await prisma.sourceRun.findMany({
        where: { source, status: { not: "RUNNING" } },
        orderBy: { id: "desc" },
        take: 20,
        select: { status: true, finishedAt: true, error: true },
      });
      const firstOk = recent.findIndex((r) => r.status === "SUCCEEDED");
      const consecutiveFailures = firstOk === -1 ? recent.length : firstOk;
      const lastSuccess =
        firstOk === -1
          ? await prisma.sourceRun.findFirst({
              where: { source, status: "SUCCEEDED" },
              orderBy: { id: "desc" },
              select: { finishedAt: true },
            })
          : recent[firstOk];
      const observed = newest.find((x) => x.source === source)?._max.observedAt ?? null;
      return {
        source,
        status:
          recent.length === 0
            ? "UNKNOWN"
            : consecutiveFailures === 0
              ? "UP"
              : consecutiveFailures < 3
                ? "DEGRADED"
                : "DOWN",
        lastSuccessAt: lastSuccess?.finishedAt ?? null,
        lastRunAt: recent[0]?.finishedAt ?? null,
        dataAgeSeconds: observed ? Math.max(0, Math.round((Date.now() - observed.getTime()) / 1000)) : null,
        consecutiveFailures,
        lastError: recent.find((r) => r.status !== "SUCCEEDED")?.error ?? null,
      } satisfies SourceHealthRow;
    }),
  );
}
