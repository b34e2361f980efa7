import type { Database } from "../db/database.ts";
import type { ParsedItem, SourceId, SourceStream } from "../sources/record.ts";
import { type BatchOutcome, type BatchRules, commitBatch } from "./commit-batch.ts";
import type { EventBus } from "./events.ts";
import type { FailureInjector } from "./failure-injection.ts";
import type { IdentityResolver } from "./identity.ts";
import type { Incremental } from "./incremental.ts";
import type { Counts, Tally } from "./source-tally.ts";
import { createUnchangedKeys } from "./unchanged-keys.ts";

export interface SourceBatchesDeps {
  db: Database;
  bus: EventBus;
  injector: FailureInjector;
  signal: AbortSignal;
  runId: number;
  sourceRunId: number;
  source: SourceId;
  resolver: IdentityResolver;
  rules: Omit<BatchRules, "now">;
  incremental: Incremental;
  tally: Tally;
  /** ETL_BATCH_SIZE: input items per write transaction, whatever their fate. */
  batchSize: number;
  /** ETL_REJECTED_ROWS_KEPT: rejected rows stored in full per source run; the rest are counted. */
  rejectedRowsKept: number;
  /** A release of held streams: old records are written (no watermark), as history (commit-batch.ts). */
  release: boolean;
  /** After each commit (statistics, metrics, progress). */
  onCommitted: (outcome: BatchOutcome) => void;
}

const positionOf = (item: ParsedItem) => (item.ok ? item.record.position : item.rejection.position);
const TX_OPTIONS = { timeout: 120_000, maxWait: 60_000 };

/**
 * A source run's items in batches, and the unit of work that commits one. A batch closes after
 * `batchSize` input items, accepted or not: memory, transaction size and checkpoint progress are
 * bounded by the batch, never by the input. Both incremental rules apply here (incremental.ts):
 * rows a file's checkpoint covers never reach a batch, observations older than a watermark are
 * counted unchanged. Rejected rows beyond what is stored in full are counted, not held.
 */
export function createSourceBatches(deps: SourceBatchesDeps) {
  const { tally, incremental } = deps;
  const unchangedKeys = createUnchangedKeys();
  let rejectedKept = 0;
  let commits = 0;

  /** One batch, one transaction: its rows, its checkpoint, its counts, its event. */
  async function commitSourceBatch(
    stream: SourceStream,
    items: ParsedItem[],
    surplus: number,
    end: number,
  ): Promise<void> {
    deps.signal.throwIfAborted();
    deps.injector.beforeWrite(items.filter((i) => i.ok).length);
    const outcome = await deps.bus.transaction(
      deps.db.prisma,
      async (tx, stage) => {
        const o = await commitBatch(
          tx,
          {
            runId: deps.runId,
            source: deps.source,
            items,
            surplusRejected: surplus,
            stale: deps.release ? () => false : incremental.stale,
            older: incremental.stale,
            unchangedBefore: unchangedKeys.has,
            checkpoint: incremental.checkpointAt(stream.name, stream.payload.contentHash, end),
            rejectionRoom: deps.rejectedRowsKept - rejectedKept,
          },
          deps.resolver,
          { ...deps.rules, now: Date.now() },
        );
        const store = tally.toStore(o.counts);
        await tx.sourceRun.update({ where: { id: deps.sourceRunId }, data: increments(store) });
        const [first, last] = [o.written[0], o.written.at(-1)];
        if (first && last) {
          await stage("batchCommitted", {
            runId: deps.runId,
            source: deps.source,
            seqFrom: first.seq,
            seqTo: last.seq,
          });
        }
        return o;
      },
      TX_OPTIONS,
    );
    commits++;
    rejectedKept += outcome.rejectedKept;
    tally.committed(outcome.counts);
    incremental.advance(outcome.accepted);
    unchangedKeys.add(outcome.unchangedKeys);
    deps.onCommitted(outcome);
  }

  return {
    get commits() {
      return commits;
    },
    /** Feeds one stream's items through batches; resolves when its last batch has committed. */
    async write(stream: SourceStream, chunks: AsyncIterable<ParsedItem[]>) {
      const skipBelow = incremental.committedBefore(stream.name, stream.payload.contentHash);
      let batch: ParsedItem[] = [];
      let size = 0;
      let surplus = 0;
      let heldRejections = 0;
      let end = 0;
      for await (const chunk of chunks) {
        for (const item of chunk) {
          if (positionOf(item) < skipBelow) {
            // Committed by an earlier run (same file, same checksum): already ingested.
            tally.note({ fetched: 1, unchanged: 1 });
            continue;
          }
          if (!item.ok && rejectedKept + heldRejections >= deps.rejectedRowsKept) surplus++;
          else {
            batch.push(item);
            if (!item.ok) heldRejections++;
          }
          size++;
          end = positionOf(item) + 1;
          if (size >= deps.batchSize) {
            await commitSourceBatch(stream, batch, surplus, end);
            batch = [];
            size = 0;
            surplus = 0;
            heldRejections = 0;
          }
        }
      }
      if (size > 0) await commitSourceBatch(stream, batch, surplus, end);
    },
  };
}

function increments(c: Counts) {
  return {
    fetched: { increment: c.fetched },
    written: { increment: c.written },
    unchanged: { increment: c.unchanged },
    rejected: { increment: c.rejected },
    quarantined: { increment: c.quarantined },
    rejectedTruncated: { increment: c.rejectedTruncated },
  };
}
