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
 * The largest price moves between two runs: each (asset, source)'s newest observation committed by
 * the end of each run. A row rewritten later keeps only its newest version, so the base side is
 * the best reconstruction the stored data allows.
 */
export async function loadPriceMoves(
  prisma: PrismaClient,
  baseEnd: Date,
  headEnd: Date,
  limit = 10,
): Promise<PriceMove[]> {
  const rows = await prisma.$queryRaw<
    { asset_id: number; source: Source; from_price: number; to_price: number; change_pct: number }[]
  >`
    WITH b AS (
      SELECT DISTINCT ON (asset_id, source) asset_id, source, price_usd FROM market_observation
      WHERE committed_at <= ${baseEnd} ORDER BY asset_id, source, observed_at DESC
    ), h AS (
      SELECT DISTINCT ON (asset_id, source) asset_id, source, price_usd FROM market_observation
      WHERE committed_at <= ${headEnd} ORDER BY asset_id, source, observed_at DESC
    )
    SELECT h.asset_id, h.source::text AS source, b.price_usd AS from_price, h.price_usd AS to_price,
      (h.price_usd - b.price_usd) / b.price_usd * 100 AS change_pct
    FROM h JOIN b ON b.asset_id = h.asset_id AND b.source = h.source
    WHERE b.price_usd > 0 AND h.price_usd <> b.price_usd
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
