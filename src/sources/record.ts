/** The source names, spelled as the GraphQL enum and the database enum spell them. */
export type SourceId = "COINGECKO" | "COINPAPRIKA" | "CSV";

/** One observation in the one shape every source emits. Money in USD; percentages in percent. */
export interface NormalizedRecord {
  source: SourceId;
  /** The source's own id: `bitcoin`, `btc-bitcoin`, a CSV id column or the CSV symbol. */
  sourceAssetId: string;
  /** Upper-cased; null only for a CSV row identified by its id column alone. */
  symbol: string | null;
  name: string | null;
  observedAt: Date;
  priceUsd: number;
  marketCapUsd: number | null;
  volume24hUsd: number | null;
  /** Price change over 24 h in percent (CoinPaprika's percent_change_24h, CoinGecko's price_change_percentage_24h). */
  change24hPct: number | null;
  circulatingSupply: number | null;
  totalSupply: number | null;
  maxSupply: number | null;
  rank: number | null;
  open: number | null;
  high: number | null;
  low: number | null;
  close: number | null;
  /** 0-based position of the item in its stream (CSV: data row index; checkpoints count these). */
  position: number;
  /** Human-readable origin: "page 2 item 17", "seeds/prices.csv:23". */
  location: string;
  /** The item as received. */
  raw: unknown;
}

export interface Rejection {
  source: SourceId;
  position: number;
  location: string;
  reason: string;
  raw: unknown;
}

export type ParsedItem = { ok: true; record: NormalizedRecord } | { ok: false; rejection: Rejection };

/** A fetched page or file as received, archived before normalization. Headers carry no secrets. */
export interface FetchedPayload {
  request: { method: string; url: string; headers: Record<string, string> };
  status: number;
  contentType: string | null;
  body: string;
  /** sha256 of the bytes as received (hex). */
  contentHash: string;
  sizeBytes: number;
}

/**
 * One unit of input: an API page or a CSV file. Its payload is archived first; its items are
 * then read chunk by chunk (a CSV file streams; an API page is one chunk).
 */
export interface SourceStream {
  /** Stable name of the stream: "coins/markets?page=1", "tickers", or a CSV path. */
  name: string;
  payload: FetchedPayload;
  /** Field names of the input (CSV header) for drift detection, when items alone don't show them. */
  fields?: string[];
  chunks(): AsyncIterable<ParsedItem[]>;
}

export interface MarketSource {
  id: SourceId;
  /** Streams in a fixed order; the next one is fetched only when asked for. */
  streams(signal?: AbortSignal): AsyncIterable<SourceStream>;
}

export const EMPTY_MARKET_FIELDS = {
  marketCapUsd: null,
  volume24hUsd: null,
  change24hPct: null,
  circulatingSupply: null,
  totalSupply: null,
  maxSupply: null,
  rank: null,
  open: null,
  high: null,
  low: null,
  close: null,
} as const;
