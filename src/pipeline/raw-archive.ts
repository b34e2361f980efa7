import type { Database } from "../db/database.ts";
import type { FetchedPayload, SourceId } from "../sources/record.ts";

/**
 * Stores a fetched page or file as received, before normalization, so a failed run keeps its
 * evidence. The same content is stored once and linked to every run that saw it.
 */
export async function archivePayload(
  db: Database,
  runId: number,
  source: SourceId,
  payload: FetchedPayload,
): Promise<number> {
  const known = await db.prisma.rawPayload.findUnique({
    where: { contentHash: payload.contentHash },
    select: { id: true },
  });
  let id = known?.id;
  if (id === undefined) {
    // PostgreSQL text cannot hold NUL bytes; a payload containing them is kept escaped.
    const body = payload.body.includes("\u0000")
      ? payload.body.replaceAll("\u0000", "\\u0000")
      : payload.body;
    // Through the driver, not Prisma: Prisma's parameter handling keeps several copies of a large
    // body (a 23 MB CSV cost ~150 MB of heap that way, ~35 MB through the driver) and walks it
    // synchronously. One statement; ON CONFLICT settles two runs archiving the same content.
    const conn = await db.connect({ applicationName: "coinflow-archive" });
    try {
      const rows = await conn.query<{ id: number }>(
        `INSERT INTO raw_payload (source, content_hash, request, status, content_type, body, size_bytes)
         VALUES ($1::"Source", $2, $3::jsonb, $4, $5, $6, $7)
         ON CONFLICT (content_hash) DO UPDATE SET content_hash = EXCLUDED.content_hash
         RETURNING id`,
        [
          source,
          payload.contentHash,
          JSON.stringify(payload.request),
          payload.status,
          payload.contentType,
          body,
          payload.sizeBytes,
        ],
      );
      id = Number(rows[0]!.id);
    } finally {
      await conn.release();
    }
  }
  await db.prisma.rawPayloadRun.upsert({
    where: { payloadId_runId: { payloadId: id, runId } },
    update: {},
    create: { payloadId: id, runId },
  });
  return id;
}
