// Candle bookkeeping for the detail chart, no DOM: merging candleUpdates into what priceHistory
// returned, and the scales the chart draws with.

export const INTERVAL_MS = { M5: 300_000, H1: 3_600_000, D1: 86_400_000 };

/**
 * How far along a bucket's candle is: a final candle is past a forming one, a higher revision
 * past a lower one, and a forming candle with more observations past one with fewer (a forming
 * candle's revision stays 0). Compared left to right.
 */
const progress = (c) => [c.final ? 1 : 0, c.revision ?? 0, c.observations ?? 0];

/** True when `a` is an older state of the bucket than `b`. */
export function olderThan(a, b) {
  const pa = progress(a);
  const pb = progress(b);
  for (let i = 0; i < pa.length; i++) if (pa[i] !== pb[i]) return pa[i] < pb[i];
  return false;
}

/**
 * The candles with `incoming` applied: it replaces its bucket unless it is an older state of it
 * (an update that was in flight while priceHistory was read), or joins in bucket order. Only the
 * newest `limit` buckets are kept. Returns a new array; the input is not changed.
 * @template {{ bucket: string }} C
 * @param {C[]} candles
 * @param {C} incoming
 * @param {number} [limit]
 * @returns {C[]}
 */
export function mergeCandle(candles, incoming, limit = Number.POSITIVE_INFINITY) {
  const at = Date.parse(incoming.bucket);
  const i = candles.findIndex((c) => Date.parse(c.bucket) >= at);
  const next = [...candles];
  if (i >= 0 && Date.parse(candles[i].bucket) === at) {
    if (olderThan(incoming, candles[i])) return candles;
    next[i] = incoming;
  } else if (i >= 0) {
    next.splice(i, 0, incoming);
  } else {
    next.push(incoming);
  }
  return next.length > limit ? next.slice(next.length - limit) : next;
}

/** The round step nearest span/target: 1, 2 or 5 times a power of ten. */
export function niceStep(span, target = 5) {
  if (!(span > 0)) return 1;
  const raw = span / target;
  const power = 10 ** Math.floor(Math.log10(raw));
  const f = raw / power;
  const unit = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  return Number((unit * power).toPrecision(12));
}

/**
 * The price range and ticks of a chart of these candles: low to high with a margin, ticks on
 * round values. A flat series gets a range around its price.
 */
export function priceScale(candles, target = 5) {
  let lo = Math.min(...candles.map((c) => c.low));
  let hi = Math.max(...candles.map((c) => c.high));
  if (!(hi > lo)) {
    const pad = Math.abs(hi) * 0.005 || 1;
    lo -= pad;
    hi += pad;
  }
  const margin = (hi - lo) * 0.06;
  lo -= margin;
  hi += margin;
  const step = niceStep(hi - lo, target);
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi; t += step) ticks.push(Number(t.toPrecision(12)));
  return { lo, hi, step, ticks };
}

/** Indexes i where candle i does not follow candle i-1 directly: buckets without data between. */
export function gaps(candles, interval) {
  const step = INTERVAL_MS[interval];
  const out = [];
  for (let i = 1; i < candles.length; i++) {
    if (Date.parse(candles[i].bucket) - Date.parse(candles[i - 1].bucket) > step) out.push(i);
  }
  return out;
}
