import { z } from "zod";
import { inChunks } from "./chunked.ts";
import type { HttpClient } from "./http-client.ts";
import { firstIssue, lenientNumber, positiveOrNull, validRank } from "./lenient-number.ts";
import { parseJsonArray } from "./parse-json-array.ts";
import type { FetchedPayload, MarketSource, ParsedItem, Renames, SourceStream } from "./record.ts";
import { EMPTY_MARKET_FIELDS } from "./record.ts";
import { applyRenames } from "./renames.ts";

const quoteSchema = z.looseObject({
  price: lenientNumber,
  volume_24h: lenientNumber.optional(),
  market_cap: lenientNumber.optional(),
  percent_change_24h: lenientNumber.optional(),
});

/**
 * One /v1/tickers item. Accepts the 2019 schema (no first_data_at, fewer percent_change_*), the
 * free plan's missing circulating_supply, max_supply 0 (unknown) and null ath_* fields.
 */
export const coinPaprikaTickerSchema = z.looseObject({
  id: z.string().min(1),
  name: z.string(),
  symbol: z.string().min(1),
  rank: lenientNumber.optional(),
  circulating_supply: lenientNumber.optional(),
  total_supply: lenientNumber.optional(),
  max_supply: lenientNumber.optional(),
  last_updated: z.string().nullable().optional(),
  quotes: z.record(z.string(), z.unknown()).nullable().optional(),
});

export function normalizeCoinPaprikaTicker(raw: unknown, position: number, location: string): ParsedItem {
  const reject = (reason: string): ParsedItem => ({
    ok: false,
    rejection: { source: "COINPAPRIKA", position, location, reason, raw },
  });
  const parsed = coinPaprikaTickerSchema.safeParse(raw);
  if (!parsed.success) return reject(firstIssue(parsed.error));
  const t = parsed.data;
  const usd = t.quotes?.USD;
  if (usd === undefined || usd === null) {
    const have = Object.keys(t.quotes ?? {});
    return reject(`no USD quote (quotes: ${have.length > 0 ? have.join(", ") : "none"})`);
  }
  const quote = quoteSchema.safeParse(usd);
  if (!quote.success) return reject(`quotes.USD.${firstIssue(quote.error)}`);
  const q = quote.data;
  if (q.price === null) return reject("quotes.USD.price: missing (null)");
  if (q.price <= 0) return reject(`quotes.USD.price: must be positive, got ${q.price}`);
  const observedAt = t.last_updated ? new Date(t.last_updated) : null;
  if (!observedAt || Number.isNaN(observedAt.getTime())) {
    return reject(`last_updated: not a timestamp (${JSON.stringify(t.last_updated ?? null)})`);
  }
  const rank = t.rank ?? null;
  return {
    ok: true,
    record: {
      ...EMPTY_MARKET_FIELDS,
      source: "COINPAPRIKA",
      sourceAssetId: t.id,
      file: "",
      idColumn: null,
      symbol: t.symbol.trim().toUpperCase(),
      name: t.name.trim() || null,
      observedAt,
      priceUsd: q.price,
      marketCapUsd: positiveOrNull(q.market_cap ?? null),
      volume24hUsd: q.volume_24h ?? null,
      // percent_change_24h is the price change in percent; market_cap_change_24h (also a percent)
      // is not a price change and is not mapped.
      change24hPct: q.percent_change_24h ?? null,
      circulatingSupply: positiveOrNull(t.circulating_supply ?? null),
      totalSupply: positiveOrNull(t.total_supply ?? null),
      maxSupply: positiveOrNull(t.max_supply ?? null),
      rank: validRank(rank),
      position,
      location,
      raw,
    },
  };
}

/** Rank order with unranked (0 or missing) tickers last; stable for equal ranks. */
function byRank(items: unknown[]): unknown[] {
  const rankOf = (item: unknown) => {
    const r = (item as { rank?: unknown } | null)?.rank;
    return typeof r === "number" && r > 0 ? r : Number.POSITIVE_INFINITY;
  };
  return items
    .map((item, index) => ({ item, index, rank: rankOf(item) }))
    .sort((a, b) => a.rank - b.rank || a.index - b.index)
    .map((x) => x.item);
}

export interface CoinPaprikaOptions {
  baseUrl: string;
  maxAssets: number;
  get: HttpClient;
}

export function createCoinPaprikaSource(options: CoinPaprikaOptions): MarketSource {
  const tickers = (payload: FetchedPayload, renames?: Renames): SourceStream => {
    const kept = byRank(parseJsonArray("COINPAPRIKA", payload)).slice(0, options.maxAssets);
    return {
      name: "tickers",
      payload,
      chunks: () =>
        inChunks(kept, (raw, i) =>
          normalizeCoinPaprikaTicker(applyRenames(raw, renames), i, `ticker ${i + 1} by rank`),
        ),
    };
  };
  return {
    id: "COINPAPRIKA",
    checkpoint: "watermark",
    async *streams({ signal, renames } = {}) {
      yield tickers(await options.get(`${options.baseUrl}/tickers?quotes=USD`, signal), renames);
    },
    fromArchive: (_name, payload, { renames } = {}) => tickers(payload, renames),
  };
}
