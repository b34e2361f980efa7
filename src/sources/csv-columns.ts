/**
 * Header synonyms seen in real and peer CSV files. Headers are compared normalized: lower case,
 * BOM and punctuation removed ("Volume USD" → "volume_usd").
 */
export type CsvField =
  | "id"
  | "symbol"
  | "name"
  | "price"
  | "marketCap"
  | "volume"
  | "date"
  | "change24hPct"
  | "rank"
  | "open"
  | "high"
  | "low"
  | "close";

// Earlier synonyms win when a file has several (price before close: Yahoo has both Close and Adj Close).
const SYNONYMS: Record<CsvField, string[]> = {
  id: ["coin_id", "canonical_id", "id", "asset_id", "source_id", "external_id"],
  symbol: ["symbol", "ticker", "coin_symbol", "asset_symbol"],
  name: ["name", "coin_name", "asset_name"],
  price: [
    "price",
    "price_usd",
    "usd_price",
    "current_price",
    "close",
    "close_price",
    "last_price",
    "lastprice",
  ],
  marketCap: ["market_cap", "marketcap", "cap", "market_cap_usd"],
  volume: [
    "volume",
    "volume_24h",
    "total_volume",
    "volume_usd",
    "volume_24h_usd",
    "vol",
    "vol_24",
    "vol_24h",
  ],
  date: [
    "date",
    "timestamp",
    "last_updated",
    "snapped_at",
    "trade_date",
    "fetched_at",
    "recorded_date",
    "recordeddate",
    "datetime",
    "time",
    "created_at",
    "last_seen",
    "source_updated_at",
  ],
  change24hPct: ["change_24h", "percent_change_24h", "price_change_percentage_24h", "change_24h_pct"],
  rank: ["rank", "market_cap_rank"],
  open: ["open"],
  high: ["high"],
  low: ["low"],
  close: ["close", "close_price"],
};

export function normalizeHeader(header: string): string {
  return header
    .replace(/^\uFEFF/, "")
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "");
}

export type ColumnMap = Partial<Record<CsvField, number>>;

/**
 * Maps fields to column indexes. A bare `coin` column is a symbol when its sample values look like
 * tickers (BTC) and a name otherwise (BitCoin_Legacy): decided per file, from the sample.
 */
export function mapColumns(headers: readonly string[], sampleRows: readonly string[][] = []): ColumnMap {
  const normalized = headers.map(normalizeHeader);
  const map: ColumnMap = {};
  for (const field of Object.keys(SYNONYMS) as CsvField[]) {
    for (const synonym of SYNONYMS[field]) {
      const index = normalized.indexOf(synonym);
      if (index !== -1) {
        map[field] = index;
        break;
      }
    }
  }
  const coin = normalized.indexOf("coin");
  if (coin !== -1) {
    const values = sampleRows.map((r) => r[coin]?.trim() ?? "").filter(Boolean);
    const tickerLike = values.length > 0 && values.every((v) => /^[A-Za-z0-9.]{1,10}$/.test(v));
    if (tickerLike && map.symbol === undefined) map.symbol = coin;
    else if (!tickerLike && map.name === undefined) map.name = coin;
  }
  return map;
}
