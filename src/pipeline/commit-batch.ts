import type { IdentityResolver } from "../sources/identity.ts";
import type { ParsedItem, Rejection, SourceId } from "../sources/record.ts";
import {
  type ResolvedRecord,
  type Tx,
  updateRanks,
  upsertObservations,
  type WrittenRow,
} from "./batch-writer.ts";

export interface BatchInput {
  runId: number;
  sourceRunId: number;
  source: SourceId;
  /** Contiguous items of one stream, in input order. */
  items: readonly ParsedItem[];
  /** Per-asset watermark (ms) of this source; API sources only. */
  watermarks: Map<number, number> | null;
  /** The CSV checkpoint this batch advances to, committed with it. */
  checkpoint: { stream: string; checksum: string; rowOffset: number } | null;
}

export interface BatchOutcome {
  written: WrittenRow[];
  unchanged: number;
  rejected: number;
  /** Records that reached the upsert (written or unchanged), with their assets. */
  accepted: ResolvedRecord[];
  /** Every asset a valid record of this batch belonged to (also those skipped by the watermark). */
  seen: number[];
}

/**
 * One batch in one transaction: identity (new assets and mappings), the observation upsert with
 * latest prices, canonical ranks, rejected records, the CSV checkpoint and the source run's
 * counters. Either all of it commits or none of it does.
 */
export async function commitBatch(
  tx: Tx,
  input: BatchInput,
  resolver: IdentityResolver,
): Promise<BatchOutcome> {
  const rejections: Rejection[] = input.items.flatMap((i) => (i.ok ? [] : [i.rejection]));
  const resolved: ResolvedRecord[] = [];
  const ranks = new Map<number, number>();
  let unchanged = 0;
  const seen = new Set<number>();

  for (const item of input.items) {
    if (!item.ok) continue;
    const record = item.record;
    const decision = resolver.resolve(record);
    if (decision.kind === "reject") {
      rejections.push({ ...record, reason: decision.reason });
      continue;
    }
    let assetId: number;
    if (decision.kind === "new") {
      const asset = await tx.asset.create({ data: decision.asset, select: { id: true } });
      assetId = asset.id;
      resolver.addAsset({ id: assetId, ...decision.asset, latestPriceUsd: record.priceUsd });
    } else {
      assetId = decision.assetId;
    }
    if (decision.kind !== "existing") {
      await tx.assetSource.create({
        data: {
          assetId,
          source: record.source,
          sourceAssetId: record.sourceAssetId,
          symbol: record.symbol ?? "",
          name: record.name ?? record.symbol ?? record.sourceAssetId,
          matchedBy: decision.matchedBy,
          confidence: decision.confidence,
        },
      });
      resolver.addMapping({ assetId, source: record.source, sourceAssetId: record.sourceAssetId });
    }
    if (
      record.rank !== null &&
      (record.source === "COINGECKO" ||
        (record.source === "COINPAPRIKA" && !resolver.hasMapping(assetId, "COINGECKO")))
    ) {
      ranks.set(assetId, record.rank);
    }
    seen.add(assetId);
    // Incremental: an observation older than the asset's watermark is skipped; at an equal
    // timestamp the upsert's IS DISTINCT FROM guard decides.
    const mark = input.watermarks?.get(assetId);
    if (mark !== undefined && record.observedAt.getTime() < mark) {
      unchanged++;
      continue;
    }
    resolved.push({ record, assetId });
  }

  // Duplicate keys inside one input: the last row wins, the others are rejected.
  const lastByKey = new Map<string, number>();
  for (const [i, r] of resolved.entries()) lastByKey.set(`${r.assetId}|${r.record.observedAt.getTime()}`, i);
  const unique: ResolvedRecord[] = [];
  resolved.forEach((r, i) => {
    const last = lastByKey.get(`${r.assetId}|${r.record.observedAt.getTime()}`)!;
    if (last === i) unique.push(r);
    else rejections.push({ ...r.record, reason: `duplicate of ${resolved[last]!.record.location}` });
  });

  const written = await upsertObservations(tx, input.runId, input.source, unique);
  unchanged += unique.length - written.length;
  await updateRanks(tx, ranks);
  if (rejections.length > 0) {
    await tx.rejectedRecord.createMany({
      data: rejections.map((r) => ({
        runId: input.runId,
        source: input.source,
        location: r.location,
        reason: r.reason,
        raw: toJson(r.raw),
      })),
    });
  }
  if (input.checkpoint) {
    const { stream, checksum, rowOffset } = input.checkpoint;
    await tx.checkpoint.upsert({
      where: { source_stream: { source: input.source, stream } },
      update: { checksum, rowOffset, runId: input.runId },
      create: { source: input.source, stream, checksum, rowOffset, runId: input.runId },
    });
  }
  await tx.sourceRun.update({
    where: { id: input.sourceRunId },
    data: {
      fetched: { increment: input.items.length },
      written: { increment: written.length },
      unchanged: { increment: unchanged },
      rejected: { increment: rejections.length },
    },
  });
  return { written, unchanged, rejected: rejections.length, accepted: unique, seen: [...seen] };
}

/** JSON for the rejected_record.raw column: drops values JSON cannot carry (NUL in text, bigint). */
function toJson(raw: unknown): object {
  try {
    const text = JSON.stringify(raw ?? null, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
    return JSON.parse(text.replaceAll("\\u0000", "")) as object;
  } catch {
    return { unserializable: String(raw) };
  }
}
