import type { PrismaClient } from "../db/database.ts";
import { UpstreamError } from "../sources/upstream-error.ts";
import type { Counts } from "./source-tally.ts";

/** Faults of the source itself (network, upstream, unreadable file): the source fails, the run goes on. */
export function isSourceFault(error: unknown): boolean {
  if (error instanceof UpstreamError) return true;
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return typeof code === "string" && ["ENOENT", "EACCES", "EISDIR", "ENOTDIR", "EMFILE"].includes(code);
}

const errorKind = (error: unknown) =>
  error instanceof UpstreamError ? error.kind : isSourceFault(error) ? "permanent" : "fatal";

/** A source run's end: its status, counts, error (scrubbed) and kind, checkpoint and listing. */
export async function finishSourceRun(
  prisma: PrismaClient,
  scrub: (text: string) => string,
  id: number,
  end: {
    counts: Counts;
    started: number;
    failure: unknown;
    nullRates: Record<string, number> | null;
    checkpointAfter: object | null;
    seenAssetIds: ReadonlySet<number>;
  },
) {
  const error = end.failure;
  await prisma.sourceRun.update({
    where: { id },
    data: {
      status: error ? "FAILED" : "SUCCEEDED",
      finishedAt: new Date(),
      durationMs: Math.round(performance.now() - end.started),
      // The tally's totals: what the batches stored plus what never reached one (checkpoint
      // skips, held streams).
      ...end.counts,
      error: error ? scrub(error instanceof Error ? error.message : String(error)) : null,
      errorKind: error ? errorKind(error) : null,
      nullRates: end.nullRates ?? undefined,
      checkpointAfter: end.checkpointAfter ?? undefined,
      seenAssetIds: [...end.seenAssetIds].sort((a, b) => a - b),
    },
  });
}
