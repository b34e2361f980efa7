import type { Asset, MarketObservation } from "../../generated/prisma/client.ts";
import type { AssetConsensus } from "../../services/consensus.ts";

export type ObservationWithAsset = MarketObservation & { asset: Asset };

/**
 * One event of marketUpdates: UPDATE (an observation), RESYNC (refetch, resume at seq), GAP
 * (refetch fromSeq..toSeq), SNAPSHOT (every subscribed asset's consensus as of seq), HEARTBEAT
 * (idle: the latest committed seq, at serverTime), RECONNECT (shutting down: resume with afterSeq = seq), LIVE (a paced replay ended at seq).
 */
export interface MarketUpdate {
  kind: "UPDATE" | "RESYNC" | "GAP" | "SNAPSHOT" | "HEARTBEAT" | "RECONNECT" | "LIVE";
  seq: bigint;
  fromSeq?: bigint | null;
  toSeq?: bigint | null;
  observation: ObservationWithAsset | null;
  latestPrice: AssetConsensus | null;
  snapshot?: AssetConsensus[] | null;
  serverTime?: Date | null;
}

export interface MarketFilter {
  symbols?: string[] | null;
  assetIds?: number[] | null;
  sources?: ("COINGECKO" | "COINPAPRIKA" | "CSV")[] | null;
}

export function matches(filter: MarketFilter, o: ObservationWithAsset): boolean {
  if (filter.sources?.length && !filter.sources.includes(o.source)) return false;
  const bySymbol = filter.symbols?.length
    ? filter.symbols.some((s) => s.toUpperCase() === o.asset.symbol.toUpperCase())
    : null;
  const byId = filter.assetIds?.length ? filter.assetIds.includes(o.assetId) : null;
  if (bySymbol === null && byId === null) return true;
  return bySymbol === true || byId === true;
}

/** The same filter as a Prisma where, for replay queries. */
export function filterWhere(filter: MarketFilter) {
  const or = [
    ...(filter.symbols?.length
      ? [{ asset: { symbol: { in: filter.symbols.map((s) => s.toUpperCase()) } } }]
      : []),
    ...(filter.assetIds?.length ? [{ assetId: { in: filter.assetIds } }] : []),
  ];
  return {
    ...(filter.sources?.length ? { source: { in: filter.sources } } : {}),
    ...(or.length > 0 ? { OR: or } : {}),
  };
}
