import { describe, expect, it } from "vitest";
import { ConfigError, ENV_NAMES, parseConfig } from "./config.ts";

describe("parseConfig", () => {
  it("gives the documented defaults for an empty environment", () => {
    const c = parseConfig({});
    expect(c.db.url).toBeUndefined();
    expect(c.db.dataDir).toBe("./.data");
    expect(c.server.port).toBe(4000);
    expect(c.server.host).toBe("0.0.0.0");
    expect(c.sources.enabled).toEqual(["COINGECKO", "COINPAPRIKA", "CSV"]);
    expect(c.sources.coingecko.plan).toBe("demo");
    expect(c.sources.coingecko.baseUrl).toBe("https://api.coingecko.com/api/v3");
    expect(c.sources.coinpaprika.baseUrl).toBe("https://api.coinpaprika.com/v1");
    expect(c.sources.coingecko.maxPages).toBe(1);
    expect(c.sources.coinpaprika.maxAssets).toBe(500);
    expect(c.etl.batchSize).toBe(500);
    expect(c.etl.intervalSeconds).toBe(300);
    expect(c.live.retentionHours).toBe(24);
    expect(c.logLevel).toBe("info");
    expect(c.server.explorer).toBe(true);
  });

  it("reports every bad variable at once, by name", () => {
    let error: unknown;
    try {
      parseConfig({
        PORT: "eighty",
        ETL_BATCH_SIZE: "-1",
        LOG_LEVEL: "loud",
        ETL_SOURCES: "coingecko,binance",
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join("\n");
    for (const name of ["PORT", "ETL_BATCH_SIZE", "LOG_LEVEL", "ETL_SOURCES"])
      expect(problems).toContain(name);
    expect(problems).toContain("binance");
  });

  it("refuses DRIFT_POLICY_CSV=quarantine, which could hold nothing, and says why", () => {
    expect(parseConfig({ DRIFT_POLICY_CSV: "WARN" }).sources.csv.driftPolicy).toBe("warn");
    expect(() => parseConfig({ DRIFT_POLICY_CSV: "quarantine" })).toThrow(
      /DRIFT_POLICY_CSV.*CSV files are not quarantined/,
    );
  });

  it("reads booleans literally: the string false is false", () => {
    expect(parseConfig({ CHAOS_MODE: "false" }).etl.chaos.enabled).toBe(false);
    expect(parseConfig({ CHAOS_MODE: "true" }).etl.chaos.enabled).toBe(true);
    expect(() => parseConfig({ CHAOS_MODE: "maybe" })).toThrow(/CHAOS_MODE/);
  });

  it("treats empty strings (compose .env files) as unset", () => {
    const c = parseConfig({ DATABASE_URL: "", PORT: "", ETL_API_KEY: "", COINGECKO_API_KEY: "" });
    expect(c.db.url).toBeUndefined();
    expect(c.server.port).toBe(4000);
    expect(c.etl.apiKey).toBeUndefined();
  });

  it("keeps the fixed source order whatever order ETL_SOURCES lists, case-insensitively", () => {
    expect(parseConfig({ ETL_SOURCES: "CSV, CoinGecko" }).sources.enabled).toEqual(["COINGECKO", "CSV"]);
  });

  it("uses the pro host for the pro plan, and a set base URL wins over the plan", () => {
    expect(parseConfig({ COINGECKO_API_PLAN: "pro" }).sources.coingecko.baseUrl).toBe(
      "https://pro-api.coingecko.com/api/v3",
    );
    const c = parseConfig({ COINGECKO_API_PLAN: "pro", COINGECKO_BASE_URL: "http://127.0.0.1:9/api/v3/" });
    expect(c.sources.coingecko.baseUrl).toBe("http://127.0.0.1:9/api/v3");
    expect(c.sources.coingecko.plan).toBe("pro");
  });

  it("turns the explorer off in production unless GRAPHQL_EXPLORER=true", () => {
    expect(parseConfig({ NODE_ENV: "production" }).server.explorer).toBe(false);
    expect(parseConfig({ NODE_ENV: "production", GRAPHQL_EXPLORER: "true" }).server.explorer).toBe(true);
  });

  it("collects every secret for scrubbing, including the database password", () => {
    const c = parseConfig({
      COINGECKO_API_KEY: "CG-secret-1",
      ETL_API_KEY: "etl-secret-2",
      DATABASE_URL: "postgresql://u:p%40ssword@127.0.0.1:5432/db",
    });
    expect(c.secrets).toEqual(expect.arrayContaining(["CG-secret-1", "etl-secret-2", "p@ssword"]));
  });

  it("names every variable of the DESIGN.md contract table", () => {
    for (const name of [
      "DATABASE_URL",
      "DATA_DIR",
      "PORT",
      "HOST",
      "COINGECKO_API_KEY",
      "COINGECKO_API_PLAN",
      "COINGECKO_BASE_URL",
      "COINPAPRIKA_BASE_URL",
      "CSV_SOURCE_PATHS",
      "COINGECKO_MAX_PAGES",
      "COINPAPRIKA_MAX_ASSETS",
      "ETL_BATCH_SIZE",
      "ETL_SOURCES",
      "ETL_INTERVAL_SECONDS",
      "ETL_API_KEY",
      "ETL_FAIL_AFTER_RECORDS",
      "CHAOS_MODE",
      "LOG_LEVEL",
      "MARKET_UPDATES_RETENTION_HOURS",
      "NODE_ENV",
      "GRAPHQL_EXPLORER",
    ]) {
      expect(ENV_NAMES).toContain(name);
    }
  });

  it("keeps observations 90 days by default and refuses a retention shorter than the resume window", () => {
    expect(parseConfig({}).etl.observationRetentionDays).toBe(90);
    expect(parseConfig({ OBSERVATION_RETENTION_DAYS: "0" }).etl.observationRetentionDays).toBe(0);
    expect(
      parseConfig({ OBSERVATION_RETENTION_DAYS: "2", MARKET_UPDATES_RETENTION_HOURS: "48" }).etl
        .observationRetentionDays,
    ).toBe(2);
    expect(() =>
      parseConfig({ OBSERVATION_RETENTION_DAYS: "1", MARKET_UPDATES_RETENTION_HOURS: "48" }),
    ).toThrow(/OBSERVATION_RETENTION_DAYS: 1 days is shorter than MARKET_UPDATES_RETENTION_HOURS=48/);
  });

  it("reads TRUST_PROXY as off, a hop count or an address list, and refuses a bad address", () => {
    expect(parseConfig({}).server.trustProxy).toBeNull();
    expect(parseConfig({ TRUST_PROXY: "false" }).server.trustProxy).toBeNull();
    expect(parseConfig({ TRUST_PROXY: "2" }).server.trustProxy).toEqual({ hops: 2 });
    expect(parseConfig({ TRUST_PROXY: "10.0.0.0/8, loopback" }).server.trustProxy).toEqual({
      addresses: ["10.0.0.0/8", "loopback"],
    });
    expect(() => parseConfig({ TRUST_PROXY: "10.0.0.0/8,not-an-ip" })).toThrow(/TRUST_PROXY/);
  });
});
