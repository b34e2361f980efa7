/** The source names, spelled as the GraphQL enum and the database enum spell them. */
export type SourceId = "COINGECKO" | "COINPAPRIKA" | "CSV";

/** Every source, in the fixed order runs take them (and the order of priority of their names and ranks). */
export const SOURCE_ORDER: readonly SourceId[] = ["COINGECKO", "COINPAPRIKA", "CSV"];

/** One observation in the one shape every source emits. Money in USD; percentages in percent. */
export interface NormalizedRecord {
  source: SourceId;
  /**
   * The source's own id: `bitcoin`, `btc-bitcoin`; for CSV the id column's value (when it is not
   * a row number) or else the symbol. CSV ids are scoped to their file (see `file`).
   */
  sourceAssetId: string;
  /** The file a CSV id belongs to ("" for the API sources, whose ids are global). */
  file: string;
  /**
   * CSV only: the id column's value as written, null without one. Only an id read from an id
   * column may equal a CoinGecko or CoinPaprika id; a symbol never stands in for one.
   */
  idColumn: string | null;
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
  /** The period an OHLC bar covers, in seconds (a daily CSV bar: 86400); null for a point quote. */
  barSeconds: number | null;
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

/** Field paths renamed upstream and accepted by an operator: {"old.path": "new.path"}. */
export type Renames = Readonly<Record<string, string>>;

export interface StreamOptions {
  signal?: AbortSignal;
  /** Applied to every item before it is normalized (accepted drift renames). */
  renames?: Renames;
}

export interface MarketSource {
  id: SourceId;
  /**
   * How the pipeline knows what it ingested already. `file`: a stream (a CSV file) is checkpointed
   * by checksum and committed row offset (history files are older than live data and may be
   * newest-first). `watermark`: an API's observation older than its asset's newest is skipped.
   */
  checkpoint: "file" | "watermark";
  /** Streams in a fixed order; the next one is fetched only when asked for. */
  streams(options?: StreamOptions): AsyncIterable<SourceStream>;
  /**
   * A stream rebuilt from an archived payload (releasing a quarantined stream): the same items
   * the live stream had, normalized with the given renames. Absent for sources that are never
   * quarantined (CSV has no required fields).
   */
  fromArchive?(name: string, payload: FetchedPayload, options?: StreamOptions): SourceStream;
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
  barSeconds: null,
} as const;
