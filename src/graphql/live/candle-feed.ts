import type { PrismaClient } from "../../db/database.ts";
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

export interface CandleUpdate {
  candle: Candle;
  final: boolean;
  revision: number;
}

export interface CandleFeedOptions {
  prisma: PrismaClient;
  bus: EventBus;
  finality: Finality;
}

/** The longest a subscription sleeps between two checks of finality (a timer far ahead is fine too). */
const MAX_WAIT_MS = 60_000;

/**
 * One asset's live candles of one interval. First the newest bucket (the forming candle a chart
 * draws at once), then, after each commit, every bucket its rows touched, recomputed from the
 * database by loadCandles: what priceHistory returns, with the same final and revision. A bucket
 * sent while forming is sent once more when it becomes final. Commits are read by seq, so a missed
 * wake-up (a dropped LISTEN connection) delays an update, never loses one.
 */
export async function* candleUpdates(
  options: CandleFeedOptions,
  assetId: number,
  interval: Interval,
  io: { signal: AbortSignal; backpressure?: () => Promise<void> },
): AsyncGenerator<CandleUpdate> {
  const { prisma, bus, finality } = options;
  const step = INTERVAL_SECONDS[interval];
  const now = () => (finality.now?.() ?? new Date()).getTime();
  const drained = io.backpressure ?? (() => Promise.resolve());
  let changed = true;
  let wake: (() => void) | null = null;
  const poke = () => {
    changed = true;
    wake?.();
  };
  const offBatch = bus.subscribe("batchCommitted", poke);
  const offReconnect = bus.onReconnect(poke);
  const onAbort = () => wake?.();
  io.signal.addEventListener("abort", onAbort);
  /** Buckets sent while not final, by start (ms): each is sent again once it becomes final. */
  const forming = new Set<number>();
  const load = (from: Date, to: Date, limit?: number) =>
    loadCandles(prisma, assetId, { interval, from, to, limit }, finality);
  try {
    // The seq read first: whatever commits after it is read as a change below, so nothing
    // committed while the first candle is read is missed.
    changed = false;
    let cursor = await topSeq(prisma);
    const [newest] = await loadCandles(prisma, assetId, { interval, limit: 1 }, finality);
    if (newest) {
      if (!newest.final) forming.add(newest.bucket.getTime());
      await drained();
      yield toUpdate(newest);
    }
    while (!io.signal.aborted) {
      if (changed) {
        changed = false;
        const touched = await touchedBuckets(prisma, assetId, step, cursor);
        cursor = touched.top;
        for (const range of bucketRanges(touched.buckets, step)) {
          for (const candle of await load(range.from, range.to)) {
            if (!touched.buckets.has(candle.bucket.getTime())) continue;
            if (candle.final) forming.delete(candle.bucket.getTime());
            else forming.add(candle.bucket.getTime());
            if (io.signal.aborted) return;
            await drained();
            yield toUpdate(candle);
          }
        }
        continue;
      }
      const due = [...forming].filter((b) => finalAt(new Date(b), interval, finality.seconds) <= now());
      for (const bucket of due.sort((a, b) => a - b)) {
        forming.delete(bucket);
        const [candle] = await load(new Date(bucket), new Date(bucket + step * 1000));
        if (!candle || io.signal.aborted) continue;
        await drained();
        yield toUpdate(candle);
      }
      if (changed || io.signal.aborted) continue;
      const next = Math.min(...[...forming].map((b) => finalAt(new Date(b), interval, finality.seconds)));
      const waitMs = Number.isFinite(next) ? Math.min(Math.max(0, next - now()), MAX_WAIT_MS) : MAX_WAIT_MS;
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, waitMs);
      });
      clearTimeout(timer);
      wake = null;
    }
  } finally {
    offBatch();
    offReconnect();
    io.signal.removeEventListener("abort", onAbort);
  }
}

function toUpdate(candle: Candle): CandleUpdate {
  return { candle, final: candle.final, revision: candle.revision };
}

async function topSeq(prisma: PrismaClient): Promise<bigint> {
  const r = await prisma.marketObservation.aggregate({ _max: { seq: true } });
  return r._max.seq ?? 0n;
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
