import { createApp } from "../../src/app.ts";
import { type Config, parseConfig } from "../../src/config/config.ts";
import type { Database } from "../../src/db/database.ts";
import type { Logger } from "../../src/logger/logger.ts";
import { quietLogger } from "./databases.ts";
import type { ReplayServer } from "./replay-server.ts";

export const SEED_CSV = "seeds/prices.csv";

/** The config tests run with: the replay server as upstream, fast retries, no rate limit to wait on. */
export function testConfig(replay: ReplayServer, env: Record<string, string> = {}): Config {
  return parseConfig({
    COINGECKO_BASE_URL: replay.coingeckoBase,
    COINPAPRIKA_BASE_URL: replay.coinpaprikaBase,
    CSV_SOURCE_PATHS: SEED_CSV,
    HTTP_TIMEOUT_MS: "2000",
    HTTP_MAX_ATTEMPTS: "2",
    HTTP_BACKOFF_BASE_MS: "10",
    HTTP_BACKOFF_MAX_MS: "20",
    COINGECKO_RATE_LIMIT_PER_MINUTE: "10000",
    ...env,
  });
}

/** The service's runner (createApp), on a test database, with the replay server as upstream. */
export function createTestRunner(
  db: Database,
  replay: ReplayServer,
  env: Record<string, string> = {},
  options: { failAfterRecords?: number; logger?: Logger } = {},
) {
  const config = testConfig(replay, {
    ...env,
    ...(options.failAfterRecords === undefined
      ? {}
      : { ETL_FAIL_AFTER_RECORDS: String(options.failAfterRecords) }),
  });
  const app = createApp({ config, db, logger: options.logger ?? quietLogger, crossProcessEvents: false });
  return { app, runner: app.runner, bus: app.bus, metrics: app.metrics, config, scrub: app.scrub };
}

/**
 * The database's content by natural keys (asset identity = its set of source ids), without ids,
 * seq, run ids or commit times: two databases holding the same data compare equal.
 */
export async function snapshot(db: Database) {
  const assets = await db.prisma.asset.findMany({ include: { sources: true } });
  const keyOf = new Map(
    assets.map((a) => [
      a.id,
      a.sources
        .map((s) => `${s.source}:${s.sourceAssetId}`)
        .sort()
        .join("+"),
    ]),
  );
  const observations = await db.prisma.marketObservation.findMany();
  const latest = await db.prisma.latestPrice.findMany();
  const sortStrings = (xs: string[]) => xs.sort();
  return {
    assets: sortStrings(assets.map((a) => `${keyOf.get(a.id)}|${a.symbol}|${a.name}|${a.rank}`)),
    mappings: sortStrings(
      assets.flatMap((a) =>
        a.sources.map((s) => `${keyOf.get(a.id)}|${s.source}:${s.sourceAssetId}|${s.matchedBy}`),
      ),
    ),
    observations: sortStrings(
      observations.map(
        (o) =>
          `${keyOf.get(o.assetId)}|${o.source}|${o.observedAt.toISOString()}|${o.priceUsd}|${o.marketCapUsd}|` +
          `${o.volume24hUsd}|${o.change24hPct}|${o.circulatingSupply}|${o.totalSupply}|${o.maxSupply}|${o.rank}|` +
          `${o.open}|${o.high}|${o.low}|${o.close}`,
      ),
    ),
    latest: sortStrings(
      latest.map((l) => `${keyOf.get(l.assetId)}|${l.source}|${l.observedAt.toISOString()}|${l.priceUsd}`),
    ),
  };
}

/** Resolves once no run is RUNNING in the database (runs started by triggers that return at once). */
export async function waitForIdle(db: Database, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while ((await db.prisma.etlRun.count({ where: { status: "RUNNING" } })) > 0) {
    if (Date.now() > until) throw new Error(`a run was still RUNNING after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
