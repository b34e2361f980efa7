import type { PrismaClient } from "../../db/database.ts";
import { type AssetConsensus, type ConsensusSettings, loadConsensus } from "../../services/consensus.ts";
import { filterWhere, type MarketFilter } from "./market-update.ts";

/**
 * The consensus of every asset a filter subscribes to, as of seq: one REPEATABLE READ
 * transaction reads max(seq) and latest_price from the same database snapshot. Seqs are taken
 * under an advisory lock held to commit (batch-writer.ts), so what a snapshot sees is exactly the
 * commits up to its max(seq): streaming from afterSeq = seq then neither misses nor repeats one.
 * Two statements outside such a transaction could see different commits (READ COMMITTED).
 */
export function readSnapshot(
  prisma: PrismaClient,
  filter: MarketFilter,
  settings: ConsensusSettings,
): Promise<{ seq: bigint; prices: AssetConsensus[] }> {
  return prisma.$transaction(
    async (tx) => {
      const max = await tx.marketObservation.aggregate({ _max: { seq: true } });
      // An asset belongs to the snapshot when one of its latest prices matches the filter (the
      // same rule as an observation belonging to the stream); its consensus spans every source.
      const assets = await tx.latestPrice.findMany({
        where: filterWhere(filter),
        select: { assetId: true },
        distinct: ["assetId"],
      });
      const consensus = await loadConsensus(
        tx,
        assets.map((a) => a.assetId),
        settings,
      );
      return { seq: max._max.seq ?? 0n, prices: [...consensus.values()] };
    },
    { isolationLevel: "RepeatableRead" },
  );
}
