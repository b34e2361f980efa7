import type { PrismaClient } from "../db/database.ts";
import { loadSourceHealth, type SourceHealthRow } from "../services/source-health.ts";
import type { SourceId } from "../sources/record.ts";

export interface HealthReport {
  status: "ok" | "unavailable";
  database: { status: "up" | "down"; latencyMs: number; error?: string };
  lastRun: {
    id: number;
    status: string;
    startedAt: string;
    finishedAt: string | null;
    /** Why it failed (a timed-out run says so). */
    error: string | null;
  } | null;
  sources: Pick<SourceHealthRow, "source" | "status" | "lastSuccessAt" | "consecutiveFailures">[];
}

const TIMEOUT_MS = 2_000;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Liveness + readiness: 200 while the database answers. A PARTIAL or failed run does not make
 * the service unhealthy (DESIGN.md); it is reported so operators see it.
 */
export async function checkHealth(
  prisma: PrismaClient,
  sources: readonly SourceId[] = [],
): Promise<HealthReport> {
  const started = performance.now();
  try {
    await withTimeout(prisma.$queryRaw`SELECT 1`, TIMEOUT_MS);
  } catch (error) {
    return {
      status: "unavailable",
      database: {
        status: "down",
        latencyMs: Math.round(performance.now() - started),
        error: describeDatabaseError(error),
      },
      lastRun: null,
      sources: [],
    };
  }
  const latencyMs = Math.round(performance.now() - started);
  const run = await withTimeout(
    prisma.etlRun.findFirst({
      orderBy: { id: "desc" },
      select: { id: true, status: true, startedAt: true, finishedAt: true, error: true },
    }),
    TIMEOUT_MS,
  ).catch(() => null);
  const health = await withTimeout(loadSourceHealth(prisma, sources), TIMEOUT_MS).catch(() => []);
  return {
    status: "ok",
    database: { status: "up", latencyMs },
    lastRun: run && {
      id: run.id,
      status: run.status,
      startedAt: run.startedAt.toISOString(),
      finishedAt: run.finishedAt?.toISOString() ?? null,
      error: run.error,
    },
    sources: health.map(({ source, status, lastSuccessAt, consecutiveFailures }) => ({
      source,
      status,
      lastSuccessAt,
      consecutiveFailures,
    })),
  };
}

/** A one-line reason: driver errors for refused connections often have an empty message. */
export function describeDatabaseError(error: unknown): string {
  if (!(error instanceof Error)) return "unreachable";
  const e = error as Error & { code?: string; cause?: unknown; errors?: unknown[] };
  const first = e.message.split("\n")[0]?.trim();
  if (first) return first;
  if (e.code) return e.code;
  const inner = e.cause ?? e.errors?.[0];
  return inner ? describeDatabaseError(inner) : e.name || "unreachable";
}
