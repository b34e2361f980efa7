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
  excludedReason: string | null;
}

export interface Consensus {
  priceUsd: number | null;
  /** The newest observation among the included sources. */
  observedAt: Date | null;
  sources: SourceVerdict[];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The consensus price of one asset: the median of its sources' latest prices that are fresh,
 * where fresh is measured from the asset's own newest observation (so recorded history works),
 * and each source's deviation from it.
 */
export function computeConsensus(prices: readonly SourcePrice[], freshnessMs: number): Consensus {
  if (prices.length === 0) return { priceUsd: null, observedAt: null, sources: [] };
  const newest = Math.max(...prices.map((p) => p.observedAt.getTime()));
  const fresh = prices.filter((p) => newest - p.observedAt.getTime() <= freshnessMs);
  const consensus = median(fresh.map((p) => p.priceUsd));
  return {
    priceUsd: consensus,
    observedAt: new Date(newest),
    sources: prices.map((p) => {
      const included = fresh.includes(p);
      const ageS = Math.round((newest - p.observedAt.getTime()) / 1000);
      return {
        ...p,
        deviationPct: ((p.priceUsd - consensus) / consensus) * 100,
        included,
        excludedReason: included
          ? null
          : `stale: ${ageS} s older than the newest observation (window ${freshnessMs / 1000} s)`,
      };
    }),
  };
}
