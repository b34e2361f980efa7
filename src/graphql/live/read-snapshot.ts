import type { PrismaClient } from "../../db/database.ts";
import { type AssetConsensus, type ConsensusSettings, loadConsensus } from "../../services/consensus.ts";
import { filterWhere, type MarketFilter } from "./market-update.ts";
import { maxSeq } from "./max-seq.ts";
import { sharedRead } from "./shared-read.ts";

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
): Promise<Snapshot> {
  // Subscribers arriving together with the same filter (a page's users after a deploy) share one
  // read: a snapshot read a moment earlier is as good, since the stream replays everything after
  // its seq. Without it, 1,000 at once queued for the pool's connections past the transaction's
  // wait and some failed (the fan-out bench: 924 of 1,000 snapshots arrived).
  return sharedRead(prisma, JSON.stringify(filter), () => read(prisma, filter, settings));
}

type Snapshot = { seq: bigint; prices: AssetConsensus[] };

function read(prisma: PrismaClient, filter: MarketFilter, settings: ConsensusSettings): Promise<Snapshot> {
  return prisma.$transaction(
    async (tx) => {
      const seq = await maxSeq(tx);
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
      return { seq, prices: [...consensus.values()] };
    },
    // Distinct filters still queue for connections: wait for one as long as a client would.
    { isolationLevel: "RepeatableRead", maxWait: 30_000 },
  );
}
