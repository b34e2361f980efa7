import type { PrismaClient } from "../../db/database.ts";
import type { Logger } from "../../logger/logger.ts";
import { SEQ_LOCK_KEY } from "../../pipeline/batch-writer.ts";
import type { EventBus } from "../../pipeline/events.ts";
import {
  type Candle,
  type Finality,
  finalAt,
  INTERVAL_SECONDS,
  type Interval,
  loadCandles,
  MAX_CANDLES,
} from "../../services/candles.ts";
import { maxSeq } from "./max-seq.ts";
import { sharedRead } from "./shared-read.ts";

export interface CandleUpdate {
  candle: Candle;
  final: boolean;
  revision: number;
}

export interface CandleFeedOptions {
  prisma: PrismaClient;
  bus: EventBus;
  finality: Finality;
  logger?: Logger;
}

/** The longest a subscription sleeps between two checks of finality (a timer far ahead is fine too). */
const MAX_WAIT_MS = 60_000;
/** After a failed read, the next try (the commits it missed are read then, by seq). */
const RETRY_MS = 1_000;
/** A bucket the database's clock does not call final yet (clocks differ by a little): look again. */
const RECHECK_MS = 250;
const SENT_KEPT = 512;

/**
 * One asset's live candles of one interval. First the newest bucket (the forming candle a chart
 * draws at once), then, after each commit, every bucket its rows touched, recomputed by
 * loadCandles: what priceHistory returns, with the same final and revision. Every bucket that was
 * not final when the subscription started or when it was sent is sent once more when it becomes
 * final. Commits are read by seq, so a missed wake-up or a failed read delays an update, never
 * loses one. When commits come faster than they are read, one update carries their sum (the
 * revision then rises by more than one).
 */
export async function* candleUpdates(
  options: CandleFeedOptions,
  assetId: number,
  interval: Interval,
  io: { signal: AbortSignal; backpressure?: () => Promise<void> | undefined },
): AsyncGenerator<CandleUpdate> {
  const { prisma, bus, finality } = options;
  const log = options.logger?.child({ module: "candle-feed", assetId, interval });
  const step = INTERVAL_SECONDS[interval];
  const drained = io.backpressure ?? (() => Promise.resolve());
  let changed = false;
  let wake: (() => void) | null = null;
  const poke = () => {
    changed = true;
    wake?.();
  };
  const offBatch = bus.subscribe("batchCommitted", poke);
  const offReconnect = bus.onReconnect(poke);
  const onAbort = () => wake?.();
  io.signal.addEventListener("abort", onAbort);
  /** Buckets not final yet, by start (ms): each is sent once it becomes final. */
  const forming = new Set<number>();
  /**
   * What was last sent per bucket (the newest few hundred): a commit read after the final push
   * that fenced it, or a wake-up with nothing new for the bucket, does not send the same candle twice.
   */
  const sent = new Map<number, string>();
  const fresh = (candle: Candle) => {
    const key = candle.bucket.getTime();
    const state = JSON.stringify(candle);
    if (sent.get(key) === state) return false;
    sent.delete(key);
    sent.set(key, state);
    if (sent.size > SENT_KEPT) sent.delete(sent.keys().next().value as number);
    return true;
  };
  const finalAtOf = (bucket: number) => finalAt(new Date(bucket), interval, finality.seconds);
  const sleep = async (ms: number) => {
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, ms);
    });
    clearTimeout(timer);
    wake = null;
  };
  try {
    // One snapshot: the seq the change reads start after, the newest candle, and every bucket
    // still waiting to be final (with a long CANDLE_FINALITY_SECONDS, more than the newest).
    const start = await prisma.$transaction(
      async (tx) => {
        const top = await maxSeq(tx);
        const recent = await loadCandles(
          tx,
          assetId,
          { interval, from: new Date(Date.now() - (step + finality.seconds) * 1000 - step * 1000) },
          finality,
        );
        const [newest] = recent.length
          ? [recent.at(-1)]
          : await loadCandles(tx, assetId, { interval, limit: 1 }, finality);
        return { top, recent, newest };
      },
      { isolationLevel: "RepeatableRead" },
    );
    let cursor = start.top;
    for (const c of start.recent) if (!c.final) forming.add(c.bucket.getTime());
    if (start.newest && fresh(start.newest)) {
      await drained();
      yield toUpdate(start.newest);
    }
    while (!io.signal.aborted) {
      if (changed) {
        changed = false;
        try {
          const after = cursor;
          const touched = await sharedRead(prisma, `t:${assetId}:${step}:${after}`, () =>
            touchedBuckets(prisma, assetId, step, after),
          );
          const candles: Candle[] = [];
          for (const range of bucketRanges(touched.buckets, step)) {
            const key = `c:${assetId}:${interval}:${range.from.getTime()}:${range.to.getTime()}:${touched.top}`;
            const loaded = await sharedRead(prisma, key, () =>
              loadCandles(prisma, assetId, { interval, ...range }, finality),
            );
            for (const c of loaded) if (touched.buckets.has(c.bucket.getTime())) candles.push(c);
          }
          cursor = touched.top;
          for (const candle of candles) {
            if (candle.final) forming.delete(candle.bucket.getTime());
            else forming.add(candle.bucket.getTime());
            if (io.signal.aborted) return;
            if (!fresh(candle)) continue;
            await drained();
            yield toUpdate(candle);
          }
        } catch (error) {
          log?.warn({ err: (error as Error).message }, "could not read committed candles; retrying");
          changed = true;
          await sleep(RETRY_MS);
        }
        continue;
      }
      const due = [...forming].filter((b) => finalAtOf(b) <= Date.now()).sort((a, b) => a - b);
      for (const bucket of due) {
        let candle: Candle | undefined;
        try {
          candle = await settledCandle(prisma, assetId, interval, bucket, finality);
        } catch (error) {
          log?.warn({ err: (error as Error).message }, "could not read a final candle; retrying");
          break;
        }
        // Not final by the database's clock yet (the clocks differ a little): looked at again shortly.
        if (candle && !candle.final) continue;
        forming.delete(bucket);
        if (!candle || !fresh(candle)) continue;
        if (io.signal.aborted) return;
        await drained();
        yield toUpdate(candle);
      }
      if (changed || io.signal.aborted) continue;
      const next = Math.min(...[...forming].map(finalAtOf));
      const waitMs = Number.isFinite(next)
        ? Math.min(Math.max(RECHECK_MS, next - Date.now()), MAX_WAIT_MS)
        : MAX_WAIT_MS;
      await sleep(waitMs);
    }
  } finally {
    offBatch();
    offReconnect();
    io.signal.removeEventListener("abort", onAbort);
  }
}

/**
 * A bucket's candle read after every batch that was writing when it became final has committed:
 * batches hold the seq lock until they commit, so taking it once fences them. A batch that takes
 * it later records its commit time after the final moment, which makes it a revision; the final
 * candle sent here therefore changes only by a revision.
 */
async function settledCandle(
  prisma: PrismaClient,
  assetId: number,
  interval: Interval,
  bucket: number,
  finality: Finality,
): Promise<Candle | undefined> {
  await prisma.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${SEQ_LOCK_KEY})`;
  });
  const step = INTERVAL_SECONDS[interval];
  const [candle] = await loadCandles(
    prisma,
    assetId,
    { interval, from: new Date(bucket), to: new Date(bucket + step * 1000) },
    finality,
  );
  return candle;
}

function toUpdate(candle: Candle): CandleUpdate {
  return { candle, final: candle.final, revision: candle.revision };
}

/**
 * The buckets of this interval that rows committed after `after` touched for the asset (an OHLC bar
 * longer than the interval feeds none of them), and the highest seq committed: both from one
 * statement, so one snapshot, so the next read starts exactly where this one ended.
 */
async function touchedBuckets(
  prisma: PrismaClient,
  assetId: number,
  step: number,
  after: bigint,
): Promise<{ buckets: Set<number>; top: bigint }> {
  const [row] = await prisma.$queryRaw<{ top: bigint | null; buckets: Date[] | null }[]>`
    SELECT (SELECT max(seq) FROM market_observation) AS top,
      ARRAY(SELECT DISTINCT date_bin(make_interval(secs => ${step}), observed_at,
          TIMESTAMPTZ '2000-01-01 00:00:00+00')
        FROM market_observation
        WHERE seq > ${after} AND asset_id = ${assetId} AND (bar_seconds IS NULL OR bar_seconds <= ${step})
      ) AS buckets`;
  const top = row?.top == null ? after : BigInt(row.top);
  return {
    buckets: new Set((row?.buckets ?? []).map((b) => new Date(b).getTime())),
    top: top > after ? top : after,
  };
}

/**
 * Time ranges covering the touched buckets, each at most MAX_CANDLES buckets long, so a backfill
 * of years is read in pages rather than cut to its newest 5,000 buckets.
 */
function bucketRanges(buckets: Set<number>, step: number): { from: Date; to: Date }[] {
  const sorted = [...buckets].sort((a, b) => a - b);
  const ranges: { from: Date; to: Date }[] = [];
  const span = MAX_CANDLES * step * 1000;
  for (let i = 0; i < sorted.length; ) {
    const from = sorted[i]!;
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1]! < from + span) j++;
    ranges.push({ from: new Date(from), to: new Date(sorted[j]! + step * 1000) });
    i = j + 1;
  }
  return ranges;
}
