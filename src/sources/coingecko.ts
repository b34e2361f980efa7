import { z } from "zod";
import { inChunks } from "./chunked.ts";
import type { HttpClient } from "./http-client.ts";
import { firstIssue, lenientNumber, positiveOrNull, validRank } from "./lenient-number.ts";
import { parseJsonArray } from "./parse-json-array.ts";
import type { FetchedPayload, MarketSource, ParsedItem, Renames, SourceStream } from "./record.ts";
import { EMPTY_MARKET_FIELDS } from "./record.ts";
import { applyRenames } from "./renames.ts";

export const COINGECKO_PAGE_SIZE = 250;

/**
 * One /coins/markets item as the real API sends it: identity fields required, every numeric
 * field nullable, unknown extra fields kept (drift detection reads them).
 */
export const coinGeckoItemSchema = z.looseObject({
  id: z.string().min(1),
  symbol: z.string().min(1),
  name: z.string(),
  current_price: lenientNumber,
  market_cap: lenientNumber.optional(),
  market_cap_rank: lenientNumber.optional(),
  total_volume: lenientNumber.optional(),
  price_change_percentage_24h: lenientNumber.optional(),
  circulating_supply: lenientNumber.optional(),
  total_supply: lenientNumber.optional(),
  max_supply: lenientNumber.optional(),
  last_updated: z.string().nullable().optional(),
});

export function normalizeCoinGeckoItem(raw: unknown, position: number, location: string): ParsedItem {
  const reject = (reason: string): ParsedItem => ({
    ok: false,
    rejection: { source: "COINGECKO", position, location, reason, raw },
  });
  const parsed = coinGeckoItemSchema.safeParse(raw);
  if (!parsed.success) return reject(firstIssue(parsed.error));
  const item = parsed.data;
  if (item.current_price === null) return reject("current_price: missing (null)");
  if (item.current_price <= 0) return reject(`current_price: must be positive, got ${item.current_price}`);
  const observedAt = item.last_updated ? new Date(item.last_updated) : null;
  if (!observedAt || Number.isNaN(observedAt.getTime())) {
    return reject(`last_updated: not a timestamp (${JSON.stringify(item.last_updated ?? null)})`);
  }
  const rank = item.market_cap_rank ?? null;
  return {
    ok: true,
    record: {
      ...EMPTY_MARKET_FIELDS,
      source: "COINGECKO",
      sourceAssetId: item.id,
      file: "",
      idColumn: null,
      symbol: item.symbol.trim().toUpperCase(),
      name: item.name.trim() || null,
      observedAt,
      priceUsd: item.current_price,
      marketCapUsd: item.market_cap ?? null,
      volume24hUsd: item.total_volume ?? null,
      // CoinGecko's price_change_percentage_24h is a percent (its market_cap_change_24h is an amount).
      change24hPct: item.price_change_percentage_24h ?? null,
      circulatingSupply: positiveOrNull(item.circulating_supply ?? null),
      totalSupply: positiveOrNull(item.total_supply ?? null),
      maxSupply: positiveOrNull(item.max_supply ?? null),
      rank: validRank(rank),
      // high_24h/low_24h span the last 24 h, not this observation: not OHLC, not stored as such.
      position,
      location,
      raw,
    },
  };
}

export interface CoinGeckoOptions {
  baseUrl: string;
  maxPages: number;
  get: HttpClient;
}

/** Header carrying the key for a plan: demo keys on the public host, pro keys on the pro host. */
export function coinGeckoKeyHeader(plan: "demo" | "pro"): string {
  return plan === "pro" ? "x-cg-pro-api-key" : "x-cg-demo-api-key";
}

const streamName = (page: number) => `coins/markets?page=${page}`;

function pageStream(
  page: number,
  payload: FetchedPayload,
  items: unknown[],
  renames?: Renames,
): SourceStream {
  return {
    name: streamName(page),
    payload,
    chunks: () =>
      inChunks(items, (raw, i) =>
        normalizeCoinGeckoItem(
          applyRenames(raw, renames),
          (page - 1) * COINGECKO_PAGE_SIZE + i,
          `page ${page} item ${i + 1}`,
        ),
      ),
  };
}

export function createCoinGeckoSource(options: CoinGeckoOptions): MarketSource {
  return {
    id: "COINGECKO",
    checkpoint: "watermark",
    async *streams({ signal, renames } = {}) {
      for (let page = 1; page <= options.maxPages; page++) {
        const url =
          `${options.baseUrl}/coins/markets?vs_currency=usd&order=market_cap_desc` +
          `&per_page=${COINGECKO_PAGE_SIZE}&page=${page}&price_change_percentage=24h`;
        const payload = await options.get(url, signal);
        const items = parseJsonArray("COINGECKO", payload);
        yield pageStream(page, payload, items, renames);
        if (items.length < COINGECKO_PAGE_SIZE) return;
      }
    },
    fromArchive(name, payload, { renames } = {}) {
      const page = Number(/page=(\d+)/.exec(name)?.[1]);
      if (!Number.isInteger(page) || page < 1) throw new Error(`not a CoinGecko stream name: ${name}`);
      return pageStream(page, payload, parseJsonArray("COINGECKO", payload), renames);
    },
  };
}
