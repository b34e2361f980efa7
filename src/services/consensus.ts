import type { Tx } from "../db/database.ts";
import { type Consensus, type ConsensusOptions, computeConsensus } from "../pipeline/consensus.ts";
import type { SourceId } from "../sources/record.ts";

/** The consensus object the API serves: an asset's consensus price and each source's verdict. */
export interface AssetConsensus extends Consensus {
  assetId: number;
}

/** The consensus settings (freshness, deviation, clock skew); `now` is taken per computation. */
export type ConsensusSettings = Omit<ConsensusOptions, "now">;

/** Consensus for several assets in one query (on the client, or inside a transaction). */
export async function loadConsensus(
  prisma: Tx,
  assetIds: readonly number[],
  settings: ConsensusSettings,
): Promise<Map<number, AssetConsensus>> {
  const rows = await prisma.latestPrice.findMany({
    where: { assetId: { in: [...assetIds] } },
    select: { assetId: true, source: true, priceUsd: true, observedAt: true },
    orderBy: [{ assetId: "asc" }, { source: "asc" }],
  });
  return consensusByAsset(rows, settings);
}

export function consensusByAsset(
  rows: readonly { assetId: number; source: SourceId; priceUsd: number; observedAt: Date }[],
  settings: ConsensusSettings,
): Map<number, AssetConsensus> {
  const grouped = new Map<number, (typeof rows)[number][]>();
  for (const r of rows) {
    const list = grouped.get(r.assetId);
    if (list) list.push(r);
    else grouped.set(r.assetId, [r]);
  }
  const now = Date.now();
  const out = new Map<number, AssetConsensus>();
  for (const [assetId, prices] of grouped)
    out.set(assetId, { assetId, ...computeConsensus(prices, { ...settings, now }) });
  return out;
}
