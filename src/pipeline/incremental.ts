import type { PrismaClient } from "../db/database.ts";
import type { MarketSource, SourceId } from "../sources/record.ts";

/**
 * What a source ingested already, by the source's checkpoint kind, and both incremental rules:
 * - `file` (CSV): a stream with the checksum of its checkpoint resumes after the committed row
 *   offset; a changed file is read from the start;
 * - `watermark` (APIs): an observation older than its asset's newest from this source is
 *   skipped; at an equal timestamp the upsert's IS DISTINCT FROM guard decides.
 */
export async function loadIncremental(prisma: PrismaClient, source: MarketSource) {
  const kind = source.checkpoint;
  const [checkpoints, latest] = await Promise.all([
    kind === "file" ? prisma.checkpoint.findMany({ where: { source: source.id } }) : [],
    kind === "watermark"
      ? prisma.latestPrice.findMany({
          where: { source: source.id },
          select: { assetId: true, observedAt: true },
        })
      : [],
  ]);
  const offsets = new Map(checkpoints.map((c) => [c.stream, c]));
  const watermarks = new Map(latest.map((l) => [l.assetId, l.observedAt.getTime()]));
  const describe = (rows: { stream: string; checksum: string | null; rowOffset: number }[]) =>
    kind === "file"
      ? Object.fromEntries(rows.map((c) => [c.stream, { checksum: c.checksum, rowOffset: c.rowOffset }]))
      : { watermarks: watermarks.size };
  const before = describe(checkpoints);

  return {
    kind,
    /** Rows before this position of the stream were committed by an earlier run. */
    committedBefore(stream: string, checksum: string): number {
      const cp = offsets.get(stream);
      return cp && cp.checksum === checksum ? cp.rowOffset : 0;
    },
    /** An API observation older than the asset's watermark. */
    stale(assetId: number, observedAt: Date): boolean {
      const mark = watermarks.get(assetId);
      return mark !== undefined && observedAt.getTime() < mark;
    },
    /** After a commit: the watermarks move to the newest observations written or unchanged. */
    advance(accepted: readonly { assetId: number; record: { observedAt: Date } }[]) {
      if (kind !== "watermark") return;
      for (const { assetId, record } of accepted)
        watermarks.set(assetId, Math.max(watermarks.get(assetId) ?? -1, record.observedAt.getTime()));
    },
    /** The checkpoint a batch of a file moves to, committed with it (null for watermarks). */
    checkpointAt(stream: string, checksum: string, rowOffset: number) {
      return kind === "file" ? { stream, checksum, rowOffset } : null;
    },
    /** For SourceRun.checkpointBefore/After. */
    before: () => before,
    async after(db: PrismaClient, id: SourceId) {
      return describe(kind === "file" ? await db.checkpoint.findMany({ where: { source: id } }) : []);
    },
  };
}

export type Incremental = Awaited<ReturnType<typeof loadIncremental>>;
