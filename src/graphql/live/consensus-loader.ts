import type { PrismaClient } from "../../db/database.ts";
import { type Consensus, computeConsensus } from "../../pipeline/consensus.ts";

/** The consensus object the API serves: an asset's consensus price and each source's verdict. */
export interface AssetConsensus extends Consensus {
  assetId: number;
}

/** Consensus for several assets in one query. */
export async function loadConsensus(
  prisma: PrismaClient,
  assetIds: readonly number[],
  freshnessMs: number,
): Promise<Map<number, AssetConsensus>> {
  const rows = await prisma.latestPrice.findMany({
    where: { assetId: { in: [...assetIds] } },
    select: { assetId: true, source: true, priceUsd: true, observedAt: true },
    orderBy: [{ assetId: "asc" }, { source: "asc" }],
  });
  return consensusByAsset(rows, freshnessMs);
}

export function consensusByAsset(
  rows: readonly {
    assetId: number;
    source: "COINGECKO" | "COINPAPRIKA" | "CSV";
    priceUsd: number;
    observedAt: Date;
  }[],
  freshnessMs: number,
): Map<number, AssetConsensus> {
  const grouped = new Map<number, typeof rows>();
  for (const r of rows) grouped.set(r.assetId, [...(grouped.get(r.assetId) ?? []), r]);
  const out = new Map<number, AssetConsensus>();
  for (const [assetId, prices] of grouped)
    out.set(assetId, { assetId, ...computeConsensus(prices, freshnessMs) });
  return out;
}
