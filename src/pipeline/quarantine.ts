import type { PrismaClient } from "../db/database.ts";
import type { FetchedPayload, Renames, SourceId, SourceStream } from "../sources/record.ts";

/** Held streams to ingest again (releaseQuarantine): their archived payloads and the renames to apply. */
export interface ReleasePlan {
  fromRunId: number;
  /** The quarantined_stream rows the plan releases. */
  ids: number[];
  streams: { name: string; payload: FetchedPayload }[];
  renames: Renames;
}

/**
 * Holds a stream whose required fields vanished: it stays in the raw archive (the payload row)
 * and is listed for release. Returns how many items it held.
 */
export async function holdStream(
  prisma: PrismaClient,
  held: { runId: number; source: SourceId; stream: SourceStream; payloadId: number; missing: string[] },
): Promise<number> {
  let records = 0;
  for await (const chunk of held.stream.chunks()) records += chunk.length;
  await prisma.quarantinedStream.create({
    data: {
      runId: held.runId,
      source: held.source,
      stream: held.stream.name,
      payloadId: held.payloadId,
      records,
      missingFields: held.missing,
    },
  });
  return records;
}

/** What a run held for a source and has not released yet, with the renames its drift (or an earlier held run's) found. */
export async function releasePlan(
  prisma: PrismaClient,
  fromRunId: number,
  source: SourceId,
): Promise<ReleasePlan> {
  const held = await prisma.quarantinedStream.findMany({
    where: { runId: fromRunId, source, releasedAt: null },
    include: { payload: true },
    orderBy: { id: "asc" },
  });
  // The renames of every held run up to this one: drift is reported once, by the first run that
  // saw it, so a later run held for the same change has no RENAMED events of its own.
  const oldest = await prisma.quarantinedStream.findFirst({
    where: { source, releasedAt: null, runId: { lte: fromRunId } },
    orderBy: { runId: "asc" },
    select: { runId: true },
  });
  const renamed = await prisma.driftEvent.findMany({
    where: {
      runId: { gte: oldest?.runId ?? fromRunId, lte: fromRunId },
      source,
      kind: "RENAMED",
      renamedFrom: { not: null },
    },
    select: { renamedFrom: true, path: true },
    orderBy: { id: "asc" },
  });
  return {
    fromRunId,
    ids: held.map((h) => h.id),
    renames: Object.fromEntries(renamed.map((r) => [r.renamedFrom!, r.path])),
    streams: held.map((h) => ({
      name: h.stream,
      payload: {
        request: h.payload.request as FetchedPayload["request"],
        status: h.payload.status,
        contentType: h.payload.contentType,
        body: h.payload.body,
        contentHash: h.payload.contentHash,
        sizeBytes: h.payload.sizeBytes,
      },
    })),
  };
}

export async function markReleased(prisma: PrismaClient, plan: ReleasePlan, releaseRunId: number) {
  await prisma.quarantinedStream.updateMany({
    where: { id: { in: plan.ids } },
    data: { releasedAt: new Date(), releaseRunId },
  });
}
