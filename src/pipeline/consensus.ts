import type { SourceId } from "../sources/record.ts";

export interface SourcePrice {
  source: SourceId;
  priceUsd: number;
  observedAt: Date;
}

export interface SourceVerdict extends SourcePrice {
  /** Deviation from the consensus in percent; null when there is no consensus. */
  deviationPct: number | null;
  included: boolean;
  /** Why a source is left out: `stale: …`, `outlier: …` or `future: …`. */
  excludedReason: string | null;
}

export interface Consensus {
  priceUsd: number | null;
  /** The newest observation among the included sources. */
  observedAt: Date | null;
  /** (max − min) / consensus × 100 over the included sources; null without a consensus. */
  spreadPct: number | null;
  /** The included sources disagree by more than the deviation threshold. */
  disputed: boolean;
  sources: SourceVerdict[];
}

export interface ConsensusOptions {
  /** CONSENSUS_FRESHNESS_SECONDS in ms: a source this much older than the newest is left out. */
  freshnessMs: number;
  /** CONSENSUS_DEVIATION_PCT: above it sources disagree (disputed, or an outlier among 3+). */
  deviationPct: number;
  /** MAX_CLOCK_SKEW_SECONDS in ms: a price dated further ahead of `now` is not believed. */
  maxSkewMs: number;
  now?: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const round2 = (n: number) => Math.round(n * 100) / 100;

/**
 * The consensus price of one asset: the median of its sources' latest prices that are fresh, and
 * how sure it is. Freshness is measured from the asset's newest believable observation (so
 * recorded history works), never from one dated ahead of the clock. With three or more fresh
 * sources, one far from the median of the others is an outlier and left out (the farthest first,
 * while three remain); two that disagree give a `disputed` consensus instead of a confident mean.
 */
export function computeConsensus(prices: readonly SourcePrice[], options: ConsensusOptions): Consensus {
  const now = options.now ?? Date.now();
  const reasons = new Map<SourcePrice, string>();
  const believable = prices.filter((p) => {
    const ahead = p.observedAt.getTime() - now;
    if (ahead <= options.maxSkewMs) return true;
    reasons.set(p, `future: observed ${Math.round(ahead / 1000)} s ahead of the server clock`);
    return false;
  });
  if (believable.length === 0) {
    return {
      priceUsd: null,
      observedAt: null,
      spreadPct: null,
      disputed: false,
      sources: prices.map((p) => ({
        ...p,
        deviationPct: null,
        included: false,
        excludedReason: reasons.get(p)!,
      })),
    };
  }
  const newest = Math.max(...believable.map((p) => p.observedAt.getTime()));
  let included = believable.filter((p) => {
    const age = newest - p.observedAt.getTime();
    if (age <= options.freshnessMs) return true;
    reasons.set(
      p,
      `stale: ${Math.round(age / 1000)} s older than the newest observation (window ${options.freshnessMs / 1000} s)`,
    );
    return false;
  });
  while (included.length >= 3) {
    const scored = included.map((p) => {
      const others = median(included.filter((o) => o !== p).map((o) => o.priceUsd));
      return { p, others, off: (Math.abs(p.priceUsd - others) / others) * 100 };
    });
    const worst = scored.sort((a, b) => b.off - a.off)[0]!;
    if (worst.off <= options.deviationPct) break;
    reasons.set(
      worst.p,
      `outlier: ${round2(worst.off)} % from the median of the other sources (${worst.others}), threshold ${options.deviationPct} %`,
    );
    included = included.filter((p) => p !== worst.p);
  }
  const consensus = median(included.map((p) => p.priceUsd));
  const values = included.map((p) => p.priceUsd);
  const spreadPct = ((Math.max(...values) - Math.min(...values)) / consensus) * 100;
  return {
    priceUsd: consensus,
    observedAt: new Date(Math.max(...included.map((p) => p.observedAt.getTime()))),
    spreadPct,
    disputed: included.length >= 2 && spreadPct > options.deviationPct,
    sources: prices.map((p) => ({
      ...p,
      deviationPct: ((p.priceUsd - consensus) / consensus) * 100,
      included: included.includes(p),
      excludedReason: reasons.get(p) ?? null,
    })),
  };
}
