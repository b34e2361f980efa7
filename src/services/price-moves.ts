import type { PrismaClient } from "../db/database.ts";
import type { SourceId } from "../sources/record.ts";

type Source = SourceId;

export interface PriceMove {
  assetId: number;
  source: Source;
  fromPriceUsd: number;
  toPriceUsd: number;
  changePct: number;
}

/**
 * The largest price moves between two finished runs, read from their price aggregates (run_price:
 * each (asset, source)'s newest observation committed by the run's end, written when the run
 * finished): two primary-key range reads, never a scan of market_observation.
 */
export async function loadPriceMoves(
  prisma: PrismaClient,
  baseId: number,
  headId: number,
  limit = 10,
): Promise<PriceMove[]> {
  const rows = await prisma.$queryRaw<
    { asset_id: number; source: Source; from_price: number; to_price: number; change_pct: number }[]
  >`
    SELECT h.asset_id, h.source::text AS source, b.price_usd AS from_price, h.price_usd AS to_price,
      (h.price_usd - b.price_usd) / b.price_usd * 100 AS change_pct
    FROM run_price h JOIN run_price b
      ON b.run_id = ${baseId}::int AND b.asset_id = h.asset_id AND b.source = h.source
    WHERE h.run_id = ${headId}::int AND b.price_usd > 0 AND h.price_usd <> b.price_usd
    ORDER BY abs((h.price_usd - b.price_usd) / b.price_usd) DESC, h.asset_id
    LIMIT ${limit}`;
  return rows.map((r) => ({
    assetId: Number(r.asset_id),
    source: r.source,
    fromPriceUsd: Number(r.from_price),
    toPriceUsd: Number(r.to_price),
    changePct: Number(r.change_pct),
  }));
}
