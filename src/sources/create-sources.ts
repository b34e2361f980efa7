import type { Config } from "../config/config.ts";
import type { Scrubber } from "../security/scrubber.ts";
import { coinGeckoKeyHeader, createCoinGeckoSource } from "./coingecko.ts";
import { createCoinPaprikaSource } from "./coinpaprika.ts";
import { createCsvSource } from "./csv-source.ts";
import { createHttpClient, type RetryEvent } from "./http-client.ts";
import { createRateLimiter } from "./rate-limiter.ts";
import type { MarketSource, SourceId } from "./record.ts";
import { scrubbedSource } from "./scrubbed-source.ts";

export interface SourceHooks {
  onRetry?: (event: RetryEvent) => void;
  /** The service's scrubber: nothing a source hands the pipeline carries a configured secret. */
  scrub?: Scrubber;
}

/**
 * Builds the enabled sources from config, each with its own rate limiter (shared by its pages
 * and retries). Order is fixed: CoinGecko, CoinPaprika, CSV.
 */
export function createSources(
  config: Config["sources"],
  hooks: SourceHooks = {},
): Map<SourceId, MarketSource> {
  const sources = new Map<SourceId, MarketSource>();
  const policy = config.http;
  if (config.enabled.includes("COINGECKO")) {
    const cg = config.coingecko;
    const header = coinGeckoKeyHeader(cg.plan);
    const get = createHttpClient({
      ...policy,
      source: "COINGECKO",
      rateLimiter: createRateLimiter({ limit: cg.ratePerMinute }),
      headers: cg.apiKey ? { [header]: cg.apiKey } : {},
      secretHeaders: [header],
      onRetry: hooks.onRetry,
      scrub: hooks.scrub,
    });
    sources.set("COINGECKO", createCoinGeckoSource({ baseUrl: cg.baseUrl, maxPages: cg.maxPages, get }));
  }
  if (config.enabled.includes("COINPAPRIKA")) {
    const cp = config.coinpaprika;
    const get = createHttpClient({
      ...policy,
      source: "COINPAPRIKA",
      rateLimiter: createRateLimiter({ limit: cp.ratePerMinute }),
      headers: cp.apiKey ? { authorization: cp.apiKey } : {},
      secretHeaders: ["authorization"],
      onRetry: hooks.onRetry,
      scrub: hooks.scrub,
    });
    sources.set(
      "COINPAPRIKA",
      createCoinPaprikaSource({ baseUrl: cp.baseUrl, maxAssets: cp.maxAssets, get }),
    );
  }
  if (config.enabled.includes("CSV")) {
    const csv = createCsvSource({ paths: config.csv.paths });
    sources.set("CSV", hooks.scrub ? scrubbedSource(csv, hooks.scrub) : csv);
  }
  return sources;
}
