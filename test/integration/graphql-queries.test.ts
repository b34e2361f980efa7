import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase } from "../../src/db/database.ts";
import { createTestApp, TEST_API_KEY } from "../support/app.ts";
import { createPgliteTestDatabase, quietLogger, type TestDatabase } from "../support/databases.ts";
import {
  COINGECKO_TOP250,
  COINPAPRIKA_TICKERS,
  loadFixture,
  type ReplayServer,
  startReplayServer,
} from "../support/replay-server.ts";

type Item = Record<string, unknown>;
let replay: ReplayServer;
let t: TestDatabase;
let app: ReturnType<typeof createTestApp>;
let firstRunId: number;

beforeAll(async () => {
  replay = await startReplayServer();
  t = await createPgliteTestDatabase();
  app = createTestApp(t.db, replay);
  firstRunId = (await app.runner.run({ trigger: "CLI" })).runId;
});
afterAll(async () => {
  app.stop();
  await t.dispose();
  await replay.close();
});

const ok = async <T = Record<string, any>>(query: string, variables?: Record<string, unknown>) => {
  const r = await app.gql<T>(query, variables);
  expect(r.body.errors, JSON.stringify(r.body.errors)).toBeUndefined();
  return r.body.data as T;
};

describe("assets and asset", () => {
  it("filters by symbols (every asset with the symbol), ids and a case-insensitive prefix", async () => {
    const bySymbol = await ok(
      `{ assets(filter: { symbols: ["btc", "ETH"] }) { totalCount edges { node { symbol } } } }`,
    );
    expect(bySymbol.assets.edges.map((e: any) => e.node.symbol).sort()).toEqual(["BTC", "ETH"]);
    const search = await ok(
      `{ assets(filter: { search: "bitc" }, first: 50) { edges { node { symbol name } } } }`,
    );
    expect(search.assets.edges.map((e: any) => e.node.name)).toContain("Bitcoin");
    for (const e of search.assets.edges) {
      const { symbol, name } = e.node;
      expect(symbol.toLowerCase().startsWith("bitc") || name.toLowerCase().startsWith("bitc")).toBe(true);
    }
    const id = bySymbol.assets.edges[0].node.symbol === "BTC" ? "1" : "2";
    const byId = await ok(`{ assets(filter: { ids: ["${id}"] }) { totalCount } }`);
    expect(byId.assets.totalCount).toBe(1);
  });

  it("pages through every asset by rank with keyset cursors: no skip, no repeat", async () => {
    const total = (await ok(`{ assets { totalCount } }`)).assets.totalCount;
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const data: any = await ok(
        `query($after: String) { assets(first: 97, after: $after) { edges { cursor node { id rank } } pageInfo { hasNextPage endCursor } } }`,
        { after },
      );
      seen.push(...data.assets.edges.map((e: any) => e.node.id));
      after = data.assets.pageInfo.hasNextPage ? data.assets.pageInfo.endCursor : null;
      pages++;
    } while (after && pages < 100);
    expect(seen).toHaveLength(total);
    expect(new Set(seen).size).toBe(total);
    const first = await ok(`{ assets(first: 3) { edges { node { rank symbol } } } }`);
    expect(first.assets.edges.map((e: any) => e.node.rank)).toEqual([1, 2, 3]);
  });

  it("shows an asset's ids at every source, how each was matched, and its consensus price", async () => {
    const data = await ok(`{ asset(symbol: "BTC") {
      symbol name rank
      sources { source sourceAssetId symbol name matchedBy confidence }
      latestPrice { priceUsd observedAt sources { source priceUsd deviationPct included excludedReason } }
    } }`);
    expect(data.asset.sources.map((s: any) => [s.source, s.sourceAssetId])).toEqual([
      ["COINGECKO", "bitcoin"],
      ["COINPAPRIKA", "btc-bitcoin"],
      ["CSV", "BTC"],
    ]);
    expect(data.asset.sources[1].matchedBy).toMatch(/^symbol\+/);
    expect(data.asset.latestPrice.priceUsd).toBeGreaterThan(0);
    expect(data.asset.latestPrice.sources).toHaveLength(3);
    // The CSV history ends in 2024-06 and the API captures are from 2023: the freshness window
    // is measured from the newest observation, so the 2023 API prices are left out and say why.
    const stale = data.asset.latestPrice.sources.filter((s: any) => !s.included);
    for (const s of stale) expect(s.excludedReason).toMatch(/^stale/);
  });

  it("finds an asset by a source and its id there, and refuses ambiguous selectors", async () => {
    const data = await ok(`{ asset(source: COINPAPRIKA, sourceAssetId: "eth-ethereum") { symbol } }`);
    expect(data.asset.symbol).toBe("ETH");
    const bad = await app.gql(`{ asset(id: "1", symbol: "BTC") { symbol } }`);
    expect(bad.body.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
  });
});

describe("marketData", () => {
  it("filters by symbols, sources and time, with totalCount", async () => {
    const data =
      await ok(`{ marketData(filter: { symbols: ["BTC"], sources: [CSV], from: "2024-03-01T00:00:00Z", to: "2024-04-01T00:00:00Z" }, first: 100) {
      totalCount edges { node { source observedAt priceUsd asset { symbol } } } } }`);
    expect(data.marketData.totalCount).toBe(31);
    for (const e of data.marketData.edges) {
      expect(e.node.source).toBe("CSV");
      expect(e.node.asset.symbol).toBe("BTC");
      expect(e.node.observedAt >= "2024-03-01" && e.node.observedAt < "2024-04-01").toBe(true);
    }
  });

  it("counts an unfiltered marketData exactly below 10,000 rows, flagged as no estimate", async () => {
    const data = await ok(`{ marketData(first: 1) { totalCount totalCountIsEstimate } }`);
    expect(data.marketData.totalCountIsEstimate).toBe(false);
    expect(data.marketData.totalCount).toBe(await t.db.prisma.marketObservation.count());
  });

  it("offers no seq order: seq is a changefeed position, a walk in its order would skip rewritten rows", async () => {
    for (const order of ["SEQ_ASC", "SEQ_DESC"]) {
      const r = await app.gql(`{ marketData(first: 20, orderBy: ${order}) { edges { node { seq } } } }`);
      expect(r.body.errors?.[0]?.extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
    }
  });

  it("pages without skipping or repeating while a run rewrites prices", async () => {
    const total = (await ok(`{ marketData(filter: { sources: [COINGECKO] }) { totalCount } }`)).marketData
      .totalCount;
    const ids: string[] = [];
    let after: string | null = null;
    let changed = false;
    for (let i = 0; i < 50; i++) {
      const data: any = await ok(
        `query($after: String) { marketData(first: 40, after: $after, filter: { sources: [COINGECKO] }) { edges { node { id } } pageInfo { hasNextPage endCursor } } }`,
        { after },
      );
      ids.push(...data.marketData.edges.map((e: any) => e.node.id));
      if (!changed) {
        changed = true;
        const items = loadFixture<Item[]>(COINGECKO_TOP250).map((it) => ({
          ...it,
          current_price: (it.current_price as number) * 1.02,
        }));
        replay.setCoinGeckoPages([items]);
        const run = await app.runner.run({ trigger: "CLI", sources: ["COINGECKO"] });
        expect(run.sources[0]?.written).toBe(250);
      }
      if (!data.marketData.pageInfo.hasNextPage) break;
      after = data.marketData.pageInfo.endCursor;
    }
    expect(ids).toHaveLength(total);
    expect(new Set(ids).size).toBe(total);
    replay.setCoinGeckoPages([loadFixture<Item[]>(COINGECKO_TOP250)]);
  });

  it("is also reachable from an asset, with one database round trip for nested fields", async () => {
    const data = await ok(
      `{ asset(symbol: "ETH") { marketData(first: 3, sources: [CSV]) { totalCount edges { node { priceUsd asset { symbol } } } } } }`,
    );
    expect(data.asset.marketData.totalCount).toBe(182);
    expect(data.asset.marketData.edges).toHaveLength(3);
  });
});

describe("latestPrices and priceHistory", () => {
  it("computes the consensus of near-simultaneous CoinGecko and CoinPaprika prices as their median", async () => {
    // The real pair from the pranavraj28 export: BTC 87569.0 (CoinGecko) vs 87593.1165 (CoinPaprika).
    const gecko = loadFixture<Item[]>(COINGECKO_TOP250);
    gecko[0] = { ...gecko[0], current_price: 87569.0, last_updated: "2025-12-29T15:58:08.111Z" };
    const tickers = loadFixture<Item[]>(COINPAPRIKA_TICKERS);
    const usd = (tickers[0]!.quotes as { USD: Item }).USD;
    tickers[0] = {
      ...tickers[0],
      last_updated: "2025-12-29T16:01:00Z",
      quotes: { USD: { ...usd, price: 87593.1165 } },
    };
    replay.setCoinGeckoPages([gecko]);
    replay.setCoinPaprikaTickers(tickers);
    await app.runner.run({ trigger: "CLI", sources: ["COINGECKO", "COINPAPRIKA"] });
    const data = await ok(
      `{ latestPrices(symbols: ["BTC"]) { priceUsd observedAt sources { source priceUsd deviationPct included } } }`,
    );
    const btc = data.latestPrices[0];
    expect(btc.priceUsd).toBeCloseTo(87581.05825, 4);
    expect(btc.observedAt).toBe("2025-12-29T16:01:00.000Z");
    const bySource = Object.fromEntries(btc.sources.map((s: any) => [s.source, s]));
    expect(bySource.COINGECKO.deviationPct).toBeCloseTo(-0.01377, 4);
    expect(bySource.COINPAPRIKA.deviationPct).toBeCloseTo(0.01377, 4);
    expect(bySource.CSV.included).toBe(false);
    replay.setCoinGeckoPages([loadFixture<Item[]>(COINGECKO_TOP250)]);
    replay.setCoinPaprikaTickers(loadFixture<Item[]>(COINPAPRIKA_TICKERS));
  });

  it("builds daily candles from the CSV history and never invents empty buckets", async () => {
    const data =
      await ok(`{ priceHistory(asset: "SOL", interval: D1, from: "2024-01-01T00:00:00Z", to: "2024-01-08T00:00:00Z", sources: [CSV]) {
      bucket open high low close sources observations } }`);
    expect(data.priceHistory).toHaveLength(7);
    expect(data.priceHistory[0]).toMatchObject({
      bucket: "2024-01-01T00:00:00.000Z",
      sources: ["CSV"],
      observations: 1,
    });
    const h1 = await ok(
      `{ priceHistory(asset: "SOL", interval: H1, from: "2024-01-01T00:00:00Z", to: "2024-01-03T00:00:00Z") { bucket } }`,
    );
    expect(h1.priceHistory.map((c: any) => c.bucket)).toEqual([
      "2024-01-01T00:00:00.000Z",
      "2024-01-02T00:00:00.000Z",
    ]);
  });

  it("answers an unknown asset in priceHistory with BAD_USER_INPUT naming the argument", async () => {
    const r = await app.gql(`{ priceHistory(asset: "NOPE", interval: D1) { bucket } }`);
    expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", argument: "asset" });
  });
});

describe("runs, stats, drift, health and comparisons", () => {
  it("lists runs newest first and shows one run with its sources", async () => {
    const data = await ok(
      `query($id: ID!) { etlRuns(first: 2) { totalCount edges { node { id status trigger } } }
      etlRun(id: $id) { id status sources { source status fetched written unchanged rejected durationMs error nullRates }
        driftEvents { kind } anomalies { kind severity } rejectedRecords(first: 5) { totalCount edges { node { reason location } } } } }`,
      { id: String(firstRunId) },
    );
    expect(data.etlRuns.totalCount).toBeGreaterThanOrEqual(1);
    expect(data.etlRun.status).toBe("SUCCEEDED");
    expect(data.etlRun.sources.map((s: any) => s.source)).toEqual(["COINGECKO", "COINPAPRIKA", "CSV"]);
    expect(data.etlRun.sources[0].nullRates).toHaveProperty("maxSupply");
  });

  it("reports stats per source and overall", async () => {
    const data =
      await ok(`{ etlStats { overall { runs recordsProcessed lastSuccessAt meanDurationMs p95DurationMs lastRun { id } }
      sources { source runs recordsProcessed recordsWritten lastSuccessAt lastDurationMs p95DurationMs } } }`);
    expect(data.etlStats.overall.runs).toBeGreaterThanOrEqual(1);
    expect(data.etlStats.sources.map((s: any) => s.source)).toEqual(["COINGECKO", "COINPAPRIKA", "CSV"]);
    expect(data.etlStats.sources[2].recordsWritten).toBeGreaterThanOrEqual(1092);
  });

  it("reports source health, with the last error and no secret", async () => {
    replay.fault("coinpaprika", { kind: "status", status: 500 }, { always: true });
    await app.runner.run({ trigger: "CLI", sources: ["COINPAPRIKA"] });
    replay.clearFaults();
    const data = await ok(
      `{ sourceHealth { source status consecutiveFailures lastError lastSuccessAt dataAgeSeconds } }`,
    );
    const paprika = data.sourceHealth.find((s: any) => s.source === "COINPAPRIKA");
    expect(paprika).toMatchObject({ status: "DEGRADED", consecutiveFailures: 1 });
    expect(paprika.lastError).toMatch(/HTTP 500/);
    expect(data.sourceHealth.find((s: any) => s.source === "COINGECKO").status).toBe("UP");
  });

  it("compares two runs: count deltas, assets added and removed, price moves, drift, anomalies", async () => {
    const base = (await app.runner.run({ trigger: "CLI", sources: ["COINGECKO"] })).runId;
    const items = loadFixture<Item[]>(COINGECKO_TOP250).slice(0, 240);
    // Newer than every stored BTC observation, so the watermark lets it through.
    items[0] = {
      ...items[0],
      current_price: 30000,
      last_updated: "2026-01-01T00:00:00.000Z",
      extra_field: 1,
    };
    replay.setCoinGeckoPages([items]);
    const head = (await app.runner.run({ trigger: "CLI", sources: ["COINGECKO"] })).runId;
    replay.setCoinGeckoPages([loadFixture<Item[]>(COINGECKO_TOP250)]);
    const data = await ok(
      `query($b: ID!, $h: ID!) { compareRuns(base: $b, head: $h) {
      sources { source fetched written }
      assetsAdded { symbol } assetsRemoved { symbol }
      largestPriceMoves { asset { symbol } source fromPriceUsd toPriceUsd changePct }
      drift { kind path } anomalies { kind severity } } }`,
      { b: String(base), h: String(head) },
    );
    const c = data.compareRuns;
    expect(c.sources).toEqual([{ source: "COINGECKO", fetched: -10, written: expect.any(Number) }]);
    expect(c.assetsRemoved).toHaveLength(10);
    expect(c.assetsAdded).toEqual([]);
    expect(c.largestPriceMoves[0]).toMatchObject({
      asset: { symbol: "BTC" },
      source: "COINGECKO",
      toPriceUsd: 30000,
    });
    expect(c.drift).toEqual([{ kind: "ADDED", path: "extra_field" }]);
    const missing = await app.gql(`{ compareRuns(base: "999999", head: "1") { sources { source } } }`);
    expect(missing.body.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
  });

  it("lists drift events by source and time", async () => {
    const data = await ok(
      `{ driftEvents(source: COINGECKO, first: 10) { totalCount edges { node { kind path confidence run { id } } } } }`,
    );
    expect(data.driftEvents.totalCount).toBeGreaterThanOrEqual(1);
    expect(data.driftEvents.edges[0].node.path).toBe("extra_field");
  });
});

describe("triggerEtl", () => {
  const trigger = `mutation($input: TriggerEtlInput) { triggerEtl(input: $input) { alreadyRunning run { id status trigger } } }`;
  const auth = { authorization: `Bearer ${TEST_API_KEY}` };

  it("refuses a missing or wrong key with UNAUTHENTICATED", async () => {
    const missing = await app.gql(trigger);
    expect(missing.body.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    const wrong = await app.gql(trigger, {}, { authorization: "Bearer nope" });
    expect(wrong.body.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    expect(JSON.stringify(wrong.body)).not.toContain(TEST_API_KEY);
  });

  it("returns at once with the RUNNING run, the running run to a second trigger, and the same run for a key", async () => {
    replay.fault("coingecko", { kind: "slow", ms: 1500 });
    const first = await app.gql<any>(trigger, { input: { idempotencyKey: "cron-2026-11-25T22:00" } }, auth);
    expect(first.body.data.triggerEtl).toMatchObject({
      alreadyRunning: false,
      run: { status: "RUNNING", trigger: "API" },
    });
    const id = first.body.data.triggerEtl.run.id;
    const second = await app.gql<any>(trigger, {}, auth);
    expect(second.body.data.triggerEtl).toMatchObject({ alreadyRunning: true, run: { id } });
    await new Promise((r) => setTimeout(r, 100));
    const again = await app.gql<any>(trigger, { input: { idempotencyKey: "cron-2026-11-25T22:00" } }, auth);
    expect(again.body.data.triggerEtl.run.id).toBe(id);
    for (let i = 0; i < 100; i++) {
      const r = await ok(`query($id: ID!) { etlRun(id: $id) { status } }`, { id });
      if (r.etlRun.status !== "RUNNING") break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const done = await app.gql<any>(trigger, { input: { idempotencyKey: "cron-2026-11-25T22:00" } }, auth);
    expect(done.body.data.triggerEtl).toMatchObject({
      alreadyRunning: false,
      run: { id, status: "SUCCEEDED" },
    });
  });

  it("names the bad argument for a source that is not enabled or a bad key", async () => {
    const r = await app.gql(trigger, { input: { idempotencyKey: "" } }, auth);
    expect(r.body.errors?.[0]?.extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      argument: "input.idempotencyKey",
    });
  });

  it("is refused with FORBIDDEN and how to enable it when ETL_API_KEY is unset", async () => {
    const locked = createTestApp(t.db, replay, { apiKey: null });
    const r = await locked.gql(trigger, {}, auth);
    locked.stop();
    expect(r.body.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    expect(r.body.errors?.[0]?.message).toMatch(/set ETL_API_KEY/);
  });
});

describe("limits and input errors", () => {
  it("rejects first: 100000 with BAD_USER_INPUT naming the argument", async () => {
    const r = await app.gql(`{ marketData(first: 100000) { totalCount } }`);
    expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", argument: "first" });
    const v = await app.gql(`query($n: Int) { etlRuns(first: $n) { totalCount } }`, { n: 501 });
    expect(v.body.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", argument: "first" });
  });

  it("rejects a cursor it did not issue", async () => {
    const r = await app.gql(`{ marketData(first: 5, after: "garbage") { totalCount } }`);
    expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", argument: "after" });
  });

  it("rejects a depth-20 query and a 500-alias query with clear errors", async () => {
    let deep = "symbol";
    for (let i = 0; i < 5; i++) deep = `marketData(first: 1) { edges { node { asset { ${deep} } } } }`;
    const depth = await app.gql(`{ asset(symbol: "BTC") { ${deep} } }`);
    expect(depth.body.errors?.[0]?.extensions).toMatchObject({ code: "QUERY_TOO_COMPLEX", limit: "depth" });
    expect(depth.body.errors?.[0]?.message).toMatch(/^Query depth limit of 12 exceeded/);
    const aliases = Array.from({ length: 500 }, (_, i) => `a${i}: __typename`).join(" ");
    const many = await app.gql(`{ ${aliases} }`);
    expect(many.body.errors?.[0]?.extensions).toMatchObject({ code: "QUERY_TOO_COMPLEX", limit: "aliases" });
  });

  it("puts the request id and latency on every response, errors included", async () => {
    const r = await app.gql(`{ nope }`);
    expect(r.body.extensions).toMatchObject({ requestId: expect.any(String), latencyMs: expect.any(Number) });
    expect(r.headers.get("x-request-id")).toBe(r.body.extensions?.requestId);
  });
});

describe("GraphQL over HTTP", () => {
  it("answers GET for queries and refuses mutations over GET", async () => {
    const get = await app.yoga.fetch(
      `http://127.0.0.1/graphql?query=${encodeURIComponent("{ __typename }")}`,
    );
    expect(get.status).toBe(200);
    expect((await get.json()).data).toEqual({ __typename: "Query" });
    const mutation = await app.yoga.fetch(
      `http://127.0.0.1/graphql?query=${encodeURIComponent("mutation { resetDriftBaseline(source: CSV) }")}`,
    );
    expect(mutation.status).toBe(405);
  });

  it("accepts application/graphql-response+json and answers parse errors with 400", async () => {
    const res = await app.yoga.fetch("http://127.0.0.1/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/graphql-response+json" },
      body: JSON.stringify({ query: "{ __typename }" }),
    });
    expect(res.headers.get("content-type")).toMatch(/application\/graphql-response\+json/);
    const bad = await app.yoga.fetch("http://127.0.0.1/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/graphql-response+json" },
      body: JSON.stringify({ query: "{ __typename" }),
    });
    expect(bad.status).toBe(400);
  });
});

describe("production mode", () => {
  it("turns introspection and GraphiQL off unless GRAPHQL_EXPLORER=true", async () => {
    const prod = createTestApp(t.db, replay, { production: true, explorer: false });
    const introspection = await prod.gql(`{ __schema { queryType { name } } }`);
    const graphiql = await prod.yoga.fetch("http://127.0.0.1/graphql", { headers: { accept: "text/html" } });
    prod.stop();
    expect(introspection.body.errors?.[0]?.message).toMatch(/introspection/i);
    expect(await graphiql.text()).not.toMatch(/graphiql/i);
    const explorer = createTestApp(t.db, replay, { production: true, explorer: true });
    const allowed = await explorer.gql(`{ __schema { queryType { name } } }`);
    explorer.stop();
    expect(allowed.body.data).toEqual({ __schema: { queryType: { name: "Query" } } });
  });

  it("masks unexpected errors and gives the request id to quote", async () => {
    // A database that is not there makes the driver fail: not a GraphQLError. (An id beyond int4
    // used to serve here; it is BAD_USER_INPUT now, see graphql-ids.test.ts.)
    const down = await createDatabase({
      url: "postgresql://postgres@127.0.0.1:1/none",
      dataDir: "unused",
      logger: quietLogger,
    });
    const broken = createTestApp(down, replay);
    const r = await broken.gql(`{ etlRun(id: "1") { id } }`, {}, { "x-request-id": "mask-test-1" });
    broken.stop();
    await down.close();
    expect(r.body.errors?.[0]).toMatchObject({
      message: "Unexpected error.",
      extensions: { code: "INTERNAL_SERVER_ERROR", requestId: "mask-test-1" },
    });
    expect(JSON.stringify(r.body)).not.toMatch(/prisma|postgres|ECONNREFUSED/i);
  });
});

describe("resetDriftBaseline", () => {
  it("needs the API key and forgets the source's baseline", async () => {
    const denied = await app.gql(`mutation { resetDriftBaseline(source: COINGECKO) }`);
    expect(denied.body.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    expect(await t.db.prisma.driftBaseline.count({ where: { source: "COINGECKO" } })).toBe(1);
    const ok = await app.gql(
      `mutation { resetDriftBaseline(source: COINGECKO) }`,
      {},
      { authorization: `Bearer ${TEST_API_KEY}` },
    );
    expect(ok.body.data).toEqual({ resetDriftBaseline: true });
    expect(await t.db.prisma.driftBaseline.count({ where: { source: "COINGECKO" } })).toBe(0);
  });
});
