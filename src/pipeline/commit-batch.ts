import type { Tx } from "../db/database.ts";
import type { NormalizedRecord, ParsedItem, Rejection, SourceId } from "../sources/record.ts";
import {
  type ResolvedRecord,
  rowKey,
  updateAssetNames,
  updateSourceRanks,
  upsertObservations,
  type WrittenRow,
} from "./batch-writer.ts";
import type { IdentityResolver } from "./identity.ts";
import { loadReferencePrices, type ReferenceQuery } from "./reference-prices.ts";
import type { Counts } from "./source-tally.ts";
import { timeProblem } from "./time-sanity.ts";

export interface BatchInput {
  runId: number;
  source: SourceId;
  /** Contiguous items of one stream, in input order (less the surplus rejections). */
  items: readonly ParsedItem[];
  /** Rejected input items of this batch that were counted but not kept (beyond ETL_REJECTED_ROWS_KEPT). */
  surplusRejected?: number;
  /** The watermark rule: an observation this source already has something newer for (APIs). */
  stale: (assetId: number, observedAt: Date) => boolean;
  /** Keys this source run counted unchanged in earlier batches (unchanged-keys.ts). */
  unchangedBefore: (assetId: number, observedAt: Date) => boolean;
  /**
   * Older than what this source has stored for the asset (defaults to `stale`): such a record is
   * history and sets no name or rank. A release writes old records (`stale` off) but keeps this.
   */
  older?: (assetId: number, observedAt: Date) => boolean;
  /** The CSV checkpoint this batch advances to, committed with it. */
  checkpoint: { stream: string; checksum: string; rowOffset: number } | null;
  /** How many rejected rows this batch may still store in full (the rest are only counted). */
  rejectionRoom: number;
}

/** The checks every record passes before it is written. */
export interface BatchRules {
  /** The server clock (ms) the batch is judged against. */
  now: number;
  /** MAX_CLOCK_SKEW_SECONDS in ms: observations dated further ahead are rejected. */
  maxSkewMs: number;
  /** IDENTITY_MAX_PRICE_RATIO: a join whose price is further than this factor from the asset's own is refused. */
  maxPriceRatio: number;
}

export interface BatchOutcome {
  /** Rows that got a new seq (what subscribers are told about). */
  written: WrittenRow[];
  /** What the batch adds to its source run: each key counts as written once per run. */
  counts: Counts;
  /** Rejected rows stored in full (at most BatchInput.rejectionRoom). */
  rejectedKept: number;
  /** Records that reached the upsert (written or unchanged), with their assets. */
  accepted: ResolvedRecord[];
  /** Every asset a valid record of this batch belonged to (also those skipped by the watermark). */
  seen: number[];
  /** The keys this batch counted unchanged. */
  unchangedKeys: { assetId: number; observedAt: Date }[];
}

const API_SOURCE = (s: SourceId) => s !== "CSV";

/**
 * One batch in one transaction: time and identity checks, new assets and mappings, names and
 * ranks that follow the best source, the observation upsert with latest prices, rejected records
 * and the CSV checkpoint; it returns what the batch counts. The caller's transaction stores those
 * counts too: all of it commits or none of it does.
 */
export async function commitBatch(
  tx: Tx,
  input: BatchInput,
  resolver: IdentityResolver,
  rules: BatchRules,
): Promise<BatchOutcome> {
  const rejections: Rejection[] = input.items.flatMap((i) => (i.ok ? [] : [i.rejection]));
  const reject = (record: NormalizedRecord, reason: string) => rejections.push({ ...record, reason });

  const timely: NormalizedRecord[] = [];
  for (const item of input.items) {
    if (!item.ok) continue;
    const problem = timeProblem(item.record.observedAt, rules.now, rules.maxSkewMs);
    if (problem) reject(item.record, problem);
    else timely.push(item.record);
  }

  // Prices to check joins against, read once for the batch: every CSV row (a CSV id proves little)
  // and every API record not mapped yet (an API id, once mapped, is authoritative).
  const queries: ReferenceQuery[] = [];
  for (const record of timely) {
    if (API_SOURCE(record.source) && resolver.isKnown(record)) continue;
    for (const assetId of resolver.candidateAssetIds(record))
      queries.push({ assetId, source: record.source, at: record.observedAt });
  }
  const references = await loadReferencePrices(tx, queries);

  const resolved: ResolvedRecord[] = [];
  const ranks = new Map<number, number | null>();
  const names = new Map<number, { symbol: string; name: string }>();
  let unchanged = 0;
  const seen = new Set<number>();
  const staleKeys = new Set<string>();
  const unchangedKeys: { assetId: number; observedAt: Date }[] = [];

  for (const record of timely) {
    const decision = resolver.resolve(record, {
      reference: (assetId) => references.get(assetId, record.source, record.observedAt),
      maxPriceRatio: rules.maxPriceRatio,
    });
    if (decision.kind === "reject") {
      reject(record, decision.reason);
      continue;
    }
    let assetId: number;
    if (decision.kind === "new") {
      const asset = await tx.asset.create({ data: decision.asset, select: { id: true } });
      assetId = asset.id;
      resolver.addAsset({ id: assetId, ...decision.asset });
    } else {
      assetId = decision.assetId;
    }
    if (decision.kind !== "existing") {
      const mapping = {
        assetId,
        source: record.source,
        file: record.file,
        sourceAssetId: record.sourceAssetId,
        symbol: record.symbol ?? "",
      };
      await tx.assetSource.create({
        data: {
          ...mapping,
          name: record.name ?? record.symbol ?? record.sourceAssetId,
          matchedBy: decision.matchedBy,
          confidence: decision.confidence,
        },
      });
      resolver.addMapping(mapping);
    }
    // Names and ranks are the latest listing's: an older record (a released one) leaves them alone.
    if (!(input.older ?? input.stale)(assetId, record.observedAt)) {
      followBestSource(resolver, record, assetId, names);
      if (API_SOURCE(record.source)) ranks.set(assetId, record.rank);
    }
    seen.add(assetId);
    if (input.stale(assetId, record.observedAt)) {
      const key = rowKey(assetId, record.observedAt);
      if (staleKeys.has(key) || input.unchangedBefore(assetId, record.observedAt)) {
        reject(record, `duplicate of an earlier row of this run (${describeKey(record)})`);
      } else {
        staleKeys.add(key);
        unchangedKeys.push({ assetId, observedAt: record.observedAt });
        unchanged++;
      }
      continue;
    }
    resolved.push({ record, assetId });
  }

  // Duplicate keys inside one batch: the last row wins, the others are rejected.
  const lastByKey = new Map<string, number>();
  for (const [i, r] of resolved.entries()) lastByKey.set(rowKey(r.assetId, r.record.observedAt), i);
  const unique: ResolvedRecord[] = [];
  resolved.forEach((r, i) => {
    const last = lastByKey.get(rowKey(r.assetId, r.record.observedAt))!;
    if (last === i) unique.push(r);
    else reject(r.record, `duplicate of ${resolved[last]!.record.location}`);
  });

  const { written, repeated } = await upsertObservations(tx, input.runId, input.source, unique);
  // Duplicate keys across batches: an earlier batch of this run wrote the key (the upsert tells,
  // by run_id) or counted it unchanged (unchangedBefore). The key keeps the count its first copy
  // got: this row is counted rejected, whether it replaced the earlier values or repeated them.
  let writtenCount = written.length;
  let unchangedInUpsert = unique.length - written.length;
  const writtenKeys = new Set(written.map((w) => rowKey(w.assetId, w.observedAt)));
  for (const r of unique) {
    const key = rowKey(r.assetId, r.record.observedAt);
    const earlier = repeated.has(key)
      ? "written"
      : input.unchangedBefore(r.assetId, r.record.observedAt)
        ? "unchanged"
        : null;
    if (earlier === null) {
      if (!writtenKeys.has(key)) unchangedKeys.push({ assetId: r.assetId, observedAt: r.record.observedAt });
      continue;
    }
    if (writtenKeys.has(key)) {
      writtenCount--;
      reject(
        r.record,
        `duplicate key (${describeKey(r.record)}): replaces an earlier row of this run, which is counted as ${earlier}`,
      );
    } else {
      unchangedInUpsert--;
      reject(r.record, `duplicate of an earlier row of this run (${describeKey(r.record)}, same values)`);
    }
  }
  unchanged += unchangedInUpsert;

  const newRanks = await updateSourceRanks(tx, input.source, ranks);
  for (const [id, rank] of newRanks) resolver.updateAsset(id, { rank });
  await updateAssetNames(tx, names);

  const kept = rejections.slice(0, Math.max(0, input.rejectionRoom));
  if (kept.length > 0) {
    await tx.rejectedRecord.createMany({
      data: kept.map((r) => ({
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
  const surplus = input.surplusRejected ?? 0;
  return {
    written,
    counts: {
      fetched: input.items.length + surplus,
      written: writtenCount,
      unchanged,
      rejected: rejections.length + surplus,
      quarantined: 0,
      rejectedTruncated: rejections.length - kept.length + surplus,
    },
    rejectedKept: kept.length,
    accepted: unique,
    seen: [...seen],
    unchangedKeys,
  };
}

const describeKey = (r: NormalizedRecord) =>
  `${r.symbol ?? r.sourceAssetId} at ${r.observedAt.toISOString()}`;

/**
 * Names and symbols follow the best source that maps the asset: the record updates them when its
 * source is that best source. A CSV row only fills a name that is a placeholder (the symbol).
 */
function followBestSource(
  resolver: IdentityResolver,
  record: NormalizedRecord,
  assetId: number,
  names: Map<number, { symbol: string; name: string }>,
) {
  const asset = resolver.asset(assetId);
  if (!asset || !record.symbol || resolver.bestSource(assetId) !== record.source) return;
  const symbol = record.symbol.toUpperCase();
  let name = record.name ?? asset.name;
  if (record.source === "CSV") {
    if (symbol !== asset.symbol.toUpperCase()) return;
    if (asset.name.toUpperCase() !== asset.symbol.toUpperCase()) name = asset.name;
  }
  if (symbol === asset.symbol && name === asset.name) return;
  names.set(assetId, { symbol, name });
  resolver.updateAsset(assetId, { symbol, name });
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
