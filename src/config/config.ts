import proxyaddr from "proxy-addr";
import { z } from "zod";
import { SOURCE_ORDER, type SourceId } from "../sources/record.ts";

/**
 * The only reader of process.env (DESIGN.md). Every variable of the outside contract and every
 * tunable the code reads is parsed here once; all problems are reported together.
 */

// Compose `.env` files turn `FOO=` into an empty string: treat it as unset everywhere.
const optionalString = z.preprocess((v) => (v === "" ? undefined : v), z.string().optional());

function int(defaultValue: number, min = 0, max = Number.MAX_SAFE_INTEGER) {
  return z.preprocess(
    (v) => (v === "" || v === undefined ? undefined : v),
    z.coerce.number().int().min(min).max(max).default(defaultValue),
  );
}

function num(defaultValue: number, min = 0) {
  return z.preprocess(
    (v) => (v === "" || v === undefined ? undefined : v),
    z.coerce.number().min(min).default(defaultValue),
  );
}

// z.coerce.boolean() turns "false" into true (TOOLCHAIN.md): accept explicit spellings only.
function bool(defaultValue: boolean) {
  return z.preprocess(
    (v) => (v === "" || v === undefined ? undefined : typeof v === "string" ? v.toLowerCase() : v),
    z
      .enum(["true", "false", "1", "0", "yes", "no"])
      .transform((v) => v === "true" || v === "1" || v === "yes")
      .default(defaultValue),
  );
}

const driftPolicy = z.preprocess(
  (v) => (v === "" || v === undefined ? undefined : String(v).toLowerCase()),
  z.enum(["warn", "quarantine"]).default("warn"),
);

const url = z.preprocess((v) => (v === "" ? undefined : v), z.url().optional());

export const envSchema = z.object({
  DATABASE_URL: url,
  DATA_DIR: z.preprocess((v) => (v === "" ? undefined : v), z.string().default("./.data")),
  PORT: int(4000, 0, 65535),
  HOST: z.preprocess((v) => (v === "" ? undefined : v), z.string().default("0.0.0.0")),
  NODE_ENV: optionalString,
  LOG_LEVEL: z.preprocess(
    (v) => (v === "" || v === undefined ? undefined : v),
    z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  ),
  GRAPHQL_EXPLORER: bool(false),
  CORS_ORIGINS: optionalString,
  SHUTDOWN_TIMEOUT_MS: int(10_000, 0),
  RESPONSE_CACHE_TTL_SECONDS: int(5, 0),
  TRUST_PROXY: optionalString,
  MAX_SUBSCRIPTIONS_PER_CONNECTION: int(50, 1),
  METRICS_OPERATION_NAMES_MAX: int(100, 0),

  COINGECKO_API_KEY: optionalString,
  COINGECKO_API_PLAN: z.preprocess(
    (v) => (v === "" || v === undefined ? undefined : String(v).toLowerCase()),
    z.enum(["demo", "pro"]).default("demo"),
  ),
  COINGECKO_BASE_URL: url,
  COINGECKO_MAX_PAGES: int(1, 1, 100),
  COINGECKO_RATE_LIMIT_PER_MINUTE: int(30, 1),
  COINPAPRIKA_API_KEY: optionalString,
  COINPAPRIKA_BASE_URL: url,
  COINPAPRIKA_MAX_ASSETS: int(500, 1),
  COINPAPRIKA_RATE_LIMIT_PER_MINUTE: int(600, 1),
  CSV_SOURCE_PATHS: optionalString,

  HTTP_TIMEOUT_MS: int(15_000, 1),
  HTTP_MAX_ATTEMPTS: int(4, 1, 20),
  HTTP_BACKOFF_BASE_MS: int(500, 0),
  HTTP_BACKOFF_MAX_MS: int(30_000, 0),
  HTTP_RETRY_AFTER_MAX_MS: int(120_000, 0),
  HTTP_MAX_BODY_BYTES: int(67_108_864, 1),

  ETL_SOURCES: optionalString,
  ETL_BATCH_SIZE: int(500, 1, 50_000),
  ETL_REJECTED_ROWS_KEPT: int(1000, 0),
  ETL_INTERVAL_SECONDS: int(300, 0),
  ETL_RUN_TIMEOUT_SECONDS: int(900, 1),
  DB_HEARTBEAT_MS: int(10_000, 100),
  ETL_API_KEY: optionalString,
  ETL_FAIL_AFTER_RECORDS: z.preprocess(
    (v) => (v === "" ? undefined : v),
    z.coerce.number().int().min(0).optional(),
  ),
  CHAOS_MODE: bool(false),
  CHAOS_SEED: optionalString,
  RAW_PAYLOAD_RETENTION_DAYS: int(7, 0),
  OBSERVATION_RETENTION_DAYS: int(90, 0),
  MARKET_UPDATES_RETENTION_HOURS: num(24, 0),
  DRIFT_POLICY_COINGECKO: driftPolicy,
  DRIFT_POLICY_COINPAPRIKA: driftPolicy,
  // A file has no archived payload to release from, and a missing column rejects each row with
  // its reason; fixing the file reads it again from the start. Quarantine would hold nothing.
  DRIFT_POLICY_CSV: z.preprocess(
    (v) => (v === "" || v === undefined ? undefined : String(v).toLowerCase()),
    z
      .literal("warn", {
        error:
          "only warn: CSV files are not quarantined (rows of a file missing a column are rejected with the reason)",
      })
      .default("warn"),
  ),
  CONSENSUS_FRESHNESS_SECONDS: int(900, 1),
  CONSENSUS_DEVIATION_PCT: num(5, 0),
  MAX_CLOCK_SKEW_SECONDS: int(300, 0),
  IDENTITY_MAX_PRICE_RATIO: z.preprocess(
    (v) => (v === "" || v === undefined ? undefined : v),
    z.coerce.number().gt(1).default(2),
  ),
  RUN_COUNT_DROP_PCT: num(50, 0),
  SUBSCRIPTION_BUFFER_SIZE: int(1000, 1),
  SUBSCRIPTION_HEARTBEAT_SECONDS: int(15, 0),
  CANDLE_FINALITY_SECONDS: int(60, 0, 604_800),

  TEST_DATABASE_URL: url,
});

export type Env = z.infer<typeof envSchema>;
/** The names of every variable the service reads (README, .env.example and compose use these). */
export const ENV_NAMES = Object.keys(envSchema.shape) as (keyof Env)[];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** ETL_SOURCES, written in any case (`coingecko,csv`), as the sources' ids in the fixed run order. */
function parseSources(raw: string | undefined, problems: string[]): SourceId[] {
  if (raw === undefined) return [...SOURCE_ORDER];
  const names = raw
    .split(",")
    .map((s) => s.trim().toUpperCase())
    .filter(Boolean);
  const unknown = names.filter((n) => !(SOURCE_ORDER as readonly string[]).includes(n));
  if (unknown.length > 0) {
    problems.push(
      `ETL_SOURCES: unknown source(s) ${unknown.map((n) => n.toLowerCase()).join(", ")}; expected ${SOURCE_ORDER.map((n) => n.toLowerCase()).join(", ")}`,
    );
  }
  if (names.length === 0) problems.push("ETL_SOURCES: empty list; unset it to enable every source");
  // Fixed run order, whatever order the list was written in.
  return SOURCE_ORDER.filter((n) => names.includes(n));
}

const list = (raw: string | undefined) =>
  raw
    ?.split(",")
    .map((s) => s.trim())
    .filter(Boolean) ?? [];

/** Parses an environment into the typed config tree; throws ConfigError naming every bad variable. */
export function parseConfig(env: Record<string, string | undefined>) {
  const problems: string[] = [];
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push(`${issue.path.join(".")}: ${issue.message}`);
    }
  }
  const sources = parseSources(env.ETL_SOURCES || undefined, problems);
  const trustProxy = parseTrustProxy(env.TRUST_PROXY || undefined, problems);
  if (parsed.success) {
    const { OBSERVATION_RETENTION_DAYS: days, MARKET_UPDATES_RETENTION_HOURS: hours } = parsed.data;
    // Retention must never drop rows a subscriber may still resume after (marketUpdates(afterSeq)).
    if (days > 0 && days * 24 < hours)
      problems.push(
        `OBSERVATION_RETENTION_DAYS: ${days} days is shorter than MARKET_UPDATES_RETENTION_HOURS=${hours}; keep observations at least as long as subscribers may resume (or 0: keep them forever)`,
      );
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  const d = parsed.data;
  const production = d.NODE_ENV === "production";
  const coingeckoHost =
    d.COINGECKO_API_PLAN === "pro"
      ? "https://pro-api.coingecko.com/api/v3"
      : "https://api.coingecko.com/api/v3";
  const http = {
    timeoutMs: d.HTTP_TIMEOUT_MS,
    maxAttempts: d.HTTP_MAX_ATTEMPTS,
    backoffBaseMs: d.HTTP_BACKOFF_BASE_MS,
    backoffMaxMs: d.HTTP_BACKOFF_MAX_MS,
    retryAfterMaxMs: d.HTTP_RETRY_AFTER_MAX_MS,
    maxBodyBytes: d.HTTP_MAX_BODY_BYTES,
  };
  return {
    env: d.NODE_ENV ?? "development",
    production,
    logLevel: d.LOG_LEVEL,
    db: { url: d.DATABASE_URL, dataDir: d.DATA_DIR, heartbeatMs: d.DB_HEARTBEAT_MS },
    server: {
      port: d.PORT,
      host: d.HOST,
      explorer: !production || d.GRAPHQL_EXPLORER,
      corsOrigins: list(d.CORS_ORIGINS),
      shutdownTimeoutMs: d.SHUTDOWN_TIMEOUT_MS,
      responseCacheTtlSeconds: d.RESPONSE_CACHE_TTL_SECONDS,
      trustProxy,
      maxSubscriptionsPerConnection: d.MAX_SUBSCRIPTIONS_PER_CONNECTION,
      metricsOperationNamesMax: d.METRICS_OPERATION_NAMES_MAX,
    },
    sources: {
      enabled: sources,
      http,
      coingecko: {
        apiKey: d.COINGECKO_API_KEY,
        plan: d.COINGECKO_API_PLAN,
        baseUrl: (d.COINGECKO_BASE_URL ?? coingeckoHost).replace(/\/+$/, ""),
        maxPages: d.COINGECKO_MAX_PAGES,
        ratePerMinute: d.COINGECKO_RATE_LIMIT_PER_MINUTE,
        driftPolicy: d.DRIFT_POLICY_COINGECKO,
      },
      coinpaprika: {
        apiKey: d.COINPAPRIKA_API_KEY,
        baseUrl: (d.COINPAPRIKA_BASE_URL ?? "https://api.coinpaprika.com/v1").replace(/\/+$/, ""),
        maxAssets: d.COINPAPRIKA_MAX_ASSETS,
        ratePerMinute: d.COINPAPRIKA_RATE_LIMIT_PER_MINUTE,
        driftPolicy: d.DRIFT_POLICY_COINPAPRIKA,
      },
      csv: {
        paths: d.CSV_SOURCE_PATHS === undefined ? ["seeds/prices.csv"] : list(d.CSV_SOURCE_PATHS),
        driftPolicy: d.DRIFT_POLICY_CSV,
      },
    },
    etl: {
      batchSize: d.ETL_BATCH_SIZE,
      rejectedRowsKept: d.ETL_REJECTED_ROWS_KEPT,
      maxClockSkewSeconds: d.MAX_CLOCK_SKEW_SECONDS,
      identityMaxPriceRatio: d.IDENTITY_MAX_PRICE_RATIO,
      intervalSeconds: d.ETL_INTERVAL_SECONDS,
      runTimeoutMs: d.ETL_RUN_TIMEOUT_SECONDS * 1000,
      apiKey: d.ETL_API_KEY,
      failAfterRecords: d.ETL_FAIL_AFTER_RECORDS,
      chaos: { enabled: d.CHAOS_MODE, seed: d.CHAOS_SEED },
      rawPayloadRetentionDays: d.RAW_PAYLOAD_RETENTION_DAYS,
      observationRetentionDays: d.OBSERVATION_RETENTION_DAYS,
      consensusFreshnessSeconds: d.CONSENSUS_FRESHNESS_SECONDS,
      consensusDeviationPct: d.CONSENSUS_DEVIATION_PCT,
      runCountDropPct: d.RUN_COUNT_DROP_PCT,
    },
    live: {
      retentionHours: d.MARKET_UPDATES_RETENTION_HOURS,
      bufferSize: d.SUBSCRIPTION_BUFFER_SIZE,
      heartbeatSeconds: d.SUBSCRIPTION_HEARTBEAT_SECONDS,
      candleFinalitySeconds: d.CANDLE_FINALITY_SECONDS,
    },
    /** Every secret value, for log and error scrubbing. */
    secrets: [d.COINGECKO_API_KEY, d.COINPAPRIKA_API_KEY, d.ETL_API_KEY, passwordOf(d.DATABASE_URL)].filter(
      (s): s is string => typeof s === "string" && s.length >= 4,
    ),
  };
}

/**
 * TRUST_PROXY: unset/false/0 = X-Forwarded-For is ignored (the socket address is the client); a
 * number = that many proxy hops in front of the service are trusted; otherwise a comma-separated
 * list of addresses or CIDR ranges (or proxy-addr's names loopback, linklocal, uniquelocal).
 */
export type TrustProxy = { hops: number } | { addresses: string[] } | null;

function parseTrustProxy(raw: string | undefined, problems: string[]): TrustProxy {
  const value = raw?.trim().toLowerCase();
  if (value === undefined || value === "" || value === "false" || value === "0" || value === "off")
    return null;
  if (/^\d+$/.test(value)) return { hops: Number(value) };
  const addresses = list(value);
  try {
    proxyaddr.compile(addresses);
  } catch (error) {
    problems.push(`TRUST_PROXY: ${(error as Error).message}; expected a hop count or a CIDR list`);
  }
  return { addresses };
}

function passwordOf(databaseUrl: string | undefined): string | undefined {
  if (!databaseUrl) return undefined;
  try {
    const p = new URL(databaseUrl).password;
    return p ? decodeURIComponent(p) : undefined;
  } catch {
    return undefined;
  }
}

export type Config = ReturnType<typeof parseConfig>;

/** What the consensus is computed with, wherever it is computed (API, feed, run checks). */
export function consensusSettings(config: Config) {
  return {
    freshnessMs: config.etl.consensusFreshnessSeconds * 1000,
    deviationPct: config.etl.consensusDeviationPct,
    maxSkewMs: config.etl.maxClockSkewSeconds * 1000,
  };
}

/** Reads process.env (the one place that does); overrides win (the offline demo sets its upstream). */
export function loadConfig(overrides: Record<string, string> = {}): Config {
  return parseConfig({ ...process.env, ...overrides });
}

/** A variable as set in the environment (for commands that default it differently). */
export function envValue(name: (typeof ENV_NAMES)[number]): string | undefined {
  return process.env[name] || undefined;
}
