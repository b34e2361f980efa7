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
    const known = await tx.rawPayload.findUnique({
      where: { contentHash: payload.contentHash },
      select: { id: true },
    });
    // PostgreSQL text cannot hold NUL bytes; a payload containing them is kept escaped.
    const body = payload.body.includes("\u0000")
      ? payload.body.replaceAll("\u0000", "\\u0000")
      : payload.body;
    // A raw statement: Prisma's model create walks a 2 MB body argument synchronously (~35 ms the
    // first time in a process, 5-9 ms after), a raw parameter is passed through as it is.
    const id =
      known?.id ??
      (
        await tx.$queryRaw<{ id: number }[]>`
          INSERT INTO raw_payload (source, content_hash, request, status, content_type, body, size_bytes)
          VALUES (${source}::"Source", ${payload.contentHash}, ${JSON.stringify(payload.request)}::jsonb,
            ${payload.status}, ${payload.contentType}, ${body}, ${payload.sizeBytes})
          ON CONFLICT (content_hash) DO UPDATE SET content_hash = EXCLUDED.content_hash
          RETURNING id`
      )[0]!.id;
    await tx.rawPayloadRun.upsert({
      where: { payloadId_runId: { payloadId: id, runId } },
      update: {},
      create: { payloadId: id, runId },
    });
    return id;
  });
}
