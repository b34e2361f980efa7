import type { PrismaClient } from "../db/database.ts";
import type { FetchedPayload, SourceId } from "../sources/record.ts";

/**
 * Stores a fetched page or file as received, in its own transaction, before normalization, so a
 * failed run keeps its evidence. The same content is stored once and linked to every run that saw it.
 */
export async function archivePayload(
  prisma: PrismaClient,
  runId: number,
  source: SourceId,
  payload: FetchedPayload,
): Promise<number> {
  return prisma.$transaction(async (tx) => {
    const stored = await tx.rawPayload.upsert({
      where: { contentHash: payload.contentHash },
      update: {},
      create: {
        source,
        contentHash: payload.contentHash,
        request: payload.request,
        status: payload.status,
        contentType: payload.contentType,
        // PostgreSQL text cannot hold NUL bytes; a payload containing them is kept escaped.
        body: payload.body.includes("\u0000") ? payload.body.replaceAll("\u0000", "\\u0000") : payload.body,
        sizeBytes: payload.sizeBytes,
      },
      select: { id: true },
    });
    await tx.rawPayloadRun.upsert({
      where: { payloadId_runId: { payloadId: stored.id, runId } },
      update: {},
      create: { payloadId: stored.id, runId },
    });
    return stored.id;
  });
}
