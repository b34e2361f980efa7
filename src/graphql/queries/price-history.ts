import type { PrismaClient } from "../../db/database.ts";
import { Prisma } from "../../generated/prisma/client.ts";
import { badInput } from "../errors.ts";

export const MAX_CANDLES = 5000;
const STEP = { M5: "5 minutes", H1: "1 hour", D1: "1 day" } as const;

interface CandleRow {
  bucket: Date;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number | null;
  sources: string[] | string;
  observations: number;
}

/**
 * OHLC candles from stored observations (all sources unless filtered). Open and close are the
 * first and last observations of the bucket (CSV OHLC columns when present); empty buckets are
 * absent. At most the newest 5,000 buckets are returned.
 */
export async function loadCandles(
  prisma: PrismaClient,
  assetId: number,
  args: {
    interval: keyof typeof STEP;
    from?: Date | null;
    to?: Date | null;
    sources?: ("COINGECKO" | "COINPAPRIKA" | "CSV")[] | null;
    limit?: number | null;
  },
) {
  if (args.from && args.to && args.from >= args.to) throw badInput("from", "must be before to");
  if (args.limit != null && (args.limit < 1 || args.limit > MAX_CANDLES)) {
    throw badInput("limit", `must be between 1 and ${MAX_CANDLES}, got ${args.limit}`);
  }
  const sourceFilter = args.sources?.length
    ? Prisma.sql`AND source::text = ANY(${args.sources}::text[])`
    : Prisma.empty;
  const rows = await prisma.$queryRaw<CandleRow[]>`
    SELECT * FROM (
      SELECT date_bin(${STEP[args.interval]}::interval, observed_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
        (array_agg(COALESCE(open, price_usd) ORDER BY observed_at, source))[1] AS open,
        max(GREATEST(COALESCE(high, price_usd), price_usd)) AS high,
        min(LEAST(COALESCE(low, price_usd), price_usd)) AS low,
        (array_agg(COALESCE(close, price_usd) ORDER BY observed_at DESC, source))[1] AS close,
        avg(volume_24h_usd) AS volume,
        array_agg(DISTINCT source::text) AS sources,
        count(*)::int AS observations
      FROM market_observation
      WHERE asset_id = ${assetId}
        AND observed_at >= ${args.from ?? new Date(0)}
        AND observed_at < ${args.to ?? new Date("9999-01-01T00:00:00Z")}
        ${sourceFilter}
      GROUP BY 1
      ORDER BY 1 DESC
      LIMIT ${args.limit ?? MAX_CANDLES}
    ) c ORDER BY bucket`;
  return rows.map((r) => ({
    bucket: new Date(r.bucket),
    open: Number(r.open),
    high: Number(r.high),
    low: Number(r.low),
    close: Number(r.close),
    volume: r.volume === null ? null : Number(r.volume),
    sources: (Array.isArray(r.sources) ? r.sources : r.sources.replace(/[{}]/g, "").split(",")).sort() as (
      | "COINGECKO"
      | "COINPAPRIKA"
      | "CSV"
    )[],
    observations: Number(r.observations),
  }));
}
