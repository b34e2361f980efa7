import { format } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

// Apollo Client's development checks, the "Cache data may be lost …" warning among them, exist only
// when its __DEV__ is true. Under Node's default export conditions
// @apollo/client/utilities/environment reads `globalThis.__DEV__ === true` once, when it loads; left
// unset, every warning is compiled away and this whole file would pass vacuously. vi.hoisted runs
// before the imports below are evaluated. (The first test checks that it took.)
vi.hoisted(() => {
  (globalThis as { __DEV__?: boolean }).__DEV__ = true;
});

import {
  ApolloClient,
  type DocumentNode,
  gql,
  HttpLink,
  InMemoryCache,
  type NormalizedCacheObject,
  setLogVerbosity,
  split,
} from "@apollo/client";
import { loadDevMessages, loadErrorMessages } from "@apollo/client/dev";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { __DEV__ as apolloDev } from "@apollo/client/utilities/environment";
import { OperationTypeNode } from "graphql";
import { createClient, type Client as WsClient } from "graphql-ws";
import WebSocket from "ws";
import { createTestApp, TEST_API_KEY } from "../support/app.ts";
import { databaseKinds, type TestDatabase } from "../support/databases.ts";
import { readmeBlocks } from "../support/readme.ts";
import {
  COINGECKO_TOP250,
  loadFixture,
  type ReplayServer,
  startReplayServer,
} from "../support/replay-server.ts";

// Issue #18: a normalized-cache client (Apollo's InMemoryCache, no typePolicies) must be able to key
// every object that stands for something, so that live updates merge into what queries loaded and
// no "Cache data may be lost" warning is ever logged. Everything here is real: the service on a
// real port (HTTP for queries and mutations, graphql-ws for subscriptions), PGlite and PostgreSQL,
// ETL runs against the replay server.

// Full texts instead of go.apollo.dev links, so a failure shows the warning itself.
loadDevMessages();
loadErrorMessages();
// "log" is Apollo's default in development; set explicitly so that nothing upstream silenced it.
setLogVerbosity("log");

// Records console.warn/console.error and still lets them through (nothing is silenced): Apollo's
// invariant.warn/error look the console method up at each call, so the spies see every message.
const warnSpy = vi.spyOn(console, "warn");
const errorSpy = vi.spyOn(console, "error");

/** Every console.warn/error since the last call, as text; clears the record. */
function takeConsoleMessages(): string[] {
  const messages = [
    ...warnSpy.mock.calls.map((args) => `warn: ${format(...args)}`),
    ...errorSpy.mock.calls.map((args) => `error: ${format(...args)}`),
  ];
  warnSpy.mockClear();
  errorSpy.mockClear();
  return messages;
}

/** The test fails on any warning or error logged while Apollo ran, whoever logged it. */
function expectNoConsoleMessages() {
  const messages = takeConsoleMessages();
  expect(messages, messages.join("\n\n")).toEqual([]);
}

afterAll(() => {
  warnSpy.mockRestore();
  errorSpy.mockRestore();
});

type Data = Record<string, any>;

interface Apollo {
  client: ApolloClient;
  cache: InMemoryCache;
  ws: WsClient;
  close(): Promise<void>;
}

/** ApolloClient with a plain InMemoryCache: HTTP for queries and mutations, graphql-ws for subscriptions. */
function apollo(url: string, wsUrl: string): Apollo {
  const ws = createClient({ url: wsUrl, webSocketImpl: WebSocket, lazy: true, retryAttempts: 0 });
  const link = split(
    ({ operationType }) => operationType === OperationTypeNode.SUBSCRIPTION,
    new GraphQLWsLink(ws),
    new HttpLink({ uri: `${url}/graphql` }),
  );
  // No typePolicies, no possibleTypes: the schema's ids alone must be enough.
  const cache = new InMemoryCache();
  const client = new ApolloClient({ link, cache });
  return {
    client,
    cache,
    ws,
    async close() {
      client.stop();
      await ws.dispose();
    },
  };
}

async function query(client: ApolloClient, document: DocumentNode, variables?: Data): Promise<Data> {
  // network-only: every query is written into the cache, over whatever earlier ones left there.
  const r = await client.query<Data>({ query: document, variables, fetchPolicy: "network-only" });
  expect(r.error).toBeUndefined();
  return r.data as Data;
}

/** Subscribes through Apollo (client.subscribe), collecting data; wait with until(). */
function subscribe(client: ApolloClient, document: DocumentNode, variables?: Data) {
  const events: Data[] = [];
  const errors: unknown[] = [];
  let wake: () => void = () => undefined;
  const subscription = client.subscribe<Data>({ query: document, variables }).subscribe({
    next: (r) => {
      if (r.error) errors.push(r.error);
      if (r.data) events.push(r.data as Data);
      wake();
    },
    error: (e) => {
      errors.push(e);
      wake();
    },
  });
  return {
    events,
    stop: () => subscription.unsubscribe(),
    /** Resolves once some event satisfies `done`; rejects on an error or after timeoutMs. */
    async until(done: (e: Data) => boolean, timeoutMs = 20_000): Promise<Data> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = events.find(done);
        if (hit) return hit;
        if (errors.length > 0) throw new Error(`subscription failed: ${format(errors)}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms with ${events.length} events`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(left, 500));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    },
  };
}

/** Direct POST, outside Apollo: what the server says, without touching the cache under test. */
async function serverSays(url: string, q: string): Promise<Data> {
  const res = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: q }),
  });
  const body = await res.json();
  expect(body.errors).toBeUndefined();
  return body.data;
}

const readme = readmeBlocks().filter((b) => b.lang === "graphql");

// One page of observations with everything a market table shows: the asset, its source ids and its
// consensus price with each source's quote, every object with its id.
const MARKET_PAGE = gql`
  query MarketPage($first: Int!, $after: String, $filter: MarketDataFilter) {
    marketData(first: $first, after: $after, filter: $filter) {
      totalCount
      edges {
        cursor
        node {
          id
          seq
          source
          observedAt
          priceUsd
          marketCapUsd
          asset {
            id
            symbol
            name
            rank
            sources { id source sourceAssetId matchedBy confidence file rank }
            latestPrice {
              id
              priceUsd
              observedAt
              spreadPct
              disputed
              sources { id source priceUsd observedAt deviationPct included excludedReason }
            }
          }
        }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
`;

// Candles through both roads to them (root priceHistory and Asset.priceHistory) and two intervals:
// the same bucket of the same asset and interval must be one entity, other intervals others.
const CANDLES = gql`
  query Candles($symbol: String!) {
    daily: priceHistory(asset: $symbol, interval: D1, limit: 30) { id bucket open high low close volume sources }
    hourly: priceHistory(asset: $symbol, interval: H1, limit: 30) { id bucket open close observations }
    asset(symbol: $symbol) {
      id
      priceHistory(interval: D1, limit: 30) { id bucket close volume24hUsd }
    }
  }
`;

// The live feed, with ids all the way down, so each update lands on the entities queries loaded.
const LIVE = gql`
  subscription Live($symbols: [String!], $afterSeq: BigInt) {
    marketUpdates(symbols: $symbols, afterSeq: $afterSeq) {
      kind
      seq
      observation { id seq source priceUsd observedAt asset { id symbol } }
      latestPrice {
        id
        priceUsd
        observedAt
        spreadPct
        disputed
        sources { id source priceUsd observedAt deviationPct included excludedReason }
      }
    }
  }
`;

const TRIGGER = gql`
  mutation Trigger($sources: [Source!]) {
    triggerEtl(input: { sources: $sources }) { alreadyRunning run { id status } }
  }
`;

const LATEST_PRICE_FIELDS = gql`
  fragment LatestPriceFields on LatestPrice {
    priceUsd
    observedAt
    sources { source priceUsd included }
  }
`;

/** Cache keys by typename: how many entities of each type the cache holds. */
function entitiesByType(cache: NormalizedCacheObject): Map<string, string[]> {
  const byType = new Map<string, string[]>();
  for (const key of Object.keys(cache)) {
    const type = key.split(":")[0]!;
    byType.set(type, [...(byType.get(type) ?? []), key]);
  }
  return byType;
}

let replay: ReplayServer;
beforeAll(async () => {
  replay = await startReplayServer();
});
afterAll(() => replay.close());

describe("the warning check can fail", () => {
  let t: TestDatabase;
  let app: ReturnType<typeof createTestApp>;
  let http: Awaited<ReturnType<ReturnType<typeof createTestApp>["listen"]>>;
  let a: Apollo;
  // Setup in a hook (its timeout is the longer one): a run takes seconds, more on a busy machine.
  beforeAll(async () => {
    t = await databaseKinds[0]!.create();
    app = createTestApp(t.db, replay, { env: { ETL_SOURCES: "coingecko" } });
    http = await app.listen();
    a = apollo(http.url, http.wsUrl);
    await app.runner.run({ trigger: "CLI" });
  });
  afterAll(async () => {
    await a?.close();
    await http?.server.stop();
    app?.stop();
    await t?.dispose();
  });

  it("Apollo runs with its development checks, and their warnings reach the spy", async () => {
    expect(apolloDev).toBe(true);
    // Apollo warns once per type and field (a module-wide set), so this uses a field nothing else in
    // this file selects twice: a connection, which by design has no id.
    takeConsoleMessages();
    await query(a.client, gql`{ asset(symbol: "BTC") { id marketData(first: 1) { totalCount } } }`);
    await query(
      a.client,
      gql`{ asset(symbol: "BTC") { id marketData(first: 1) { pageInfo { hasNextPage } } } }`,
    );
    const messages = takeConsoleMessages();
    expect(messages).toHaveLength(1);
    expect(messages[0]).toContain(
      "Cache data may be lost when replacing the marketData field of a Asset object.",
    );
  });
});

for (const kind of databaseKinds) {
  describe.skipIf(!kind.available)(`Apollo InMemoryCache over HTTP and graphql-ws on ${kind.kind}`, () => {
    let t: TestDatabase;
    let app: ReturnType<typeof createTestApp>;
    let http: Awaited<ReturnType<ReturnType<typeof createTestApp>["listen"]>>;
    let a: Apollo;

    beforeAll(async () => {
      replay.setCoinGeckoPages([loadFixture<Data[]>(COINGECKO_TOP250)]);
      t = await kind.create();
      // A buffer larger than any run: this checks the cache, not the slow-consumer policy.
      app = createTestApp(t.db, replay, { bufferSize: 10_000 });
      http = await app.listen();
      await app.runner.run({ trigger: "CLI" });
      a = apollo(http.url, http.wsUrl);
      takeConsoleMessages();
    });
    afterAll(async () => {
      await a?.close();
      await http?.server.stop();
      app?.stop();
      await t?.dispose();
    });

    it("the README's queries and its subscription, one after another in one cache, log no warning", async () => {
      expect(readme.length).toBeGreaterThanOrEqual(7);
      for (const block of readme) {
        const document = gql(block.code);
        const op = block.code.trimStart();
        if (op.startsWith("subscription")) {
          const sub = subscribe(a.client, document);
          await sub.until(() => true);
          sub.stop();
        } else if (op.startsWith("mutation")) {
          const r = await a.client.mutate<Data>({
            mutation: document,
            context: { headers: { authorization: `Bearer ${TEST_API_KEY}` } },
          });
          expect(r.error).toBeUndefined();
        } else {
          const data = await query(a.client, document);
          expect(JSON.stringify(data), block.section).not.toBe("{}");
        }
      }
      expectNoConsoleMessages();
    });

    it("pages of marketData with assets, latest prices and source prices normalize into entities", async () => {
      const first = await query(a.client, MARKET_PAGE, { first: 100 });
      expect(first.marketData.edges).toHaveLength(100);
      const next = await query(a.client, MARKET_PAGE, {
        first: 100,
        after: first.marketData.pageInfo.endCursor,
      });
      expect(next.marketData.edges.length).toBeGreaterThan(0);
      // The same assets again, another page shape: a merge over what the first pages wrote.
      await query(a.client, MARKET_PAGE, { first: 50, filter: { symbols: ["BTC", "ETH", "BNB"] } });
      expectNoConsoleMessages();

      const nodes = [...first.marketData.edges, ...next.marketData.edges].map((e: Data) => e.node);
      const assets = new Map<string, Data>(nodes.map((n: Data) => [n.asset.id, n.asset]));
      const cache = a.cache.extract();
      const byType = entitiesByType(cache);
      // One entity per asset, per latest price, per source price and per asset source: ids that
      // collided would merge objects that stand for different things (silently: no warning).
      const sourcePriceIds = new Set(
        [...assets.values()].flatMap((as) => (as.latestPrice?.sources ?? []).map((s: Data) => s.id)),
      );
      const assetSourceIds = new Set([...assets.values()].flatMap((as) => as.sources.map((s: Data) => s.id)));
      for (const as of assets.values()) {
        expect(cache[`Asset:${as.id}`]).toBeDefined();
        if (as.latestPrice) {
          expect(cache[`Asset:${as.id}`]!.latestPrice).toEqual({ __ref: `LatestPrice:${as.latestPrice.id}` });
          expect(as.latestPrice.sources.length).toBeGreaterThan(0);
        }
        expect(new Set(as.sources.map((s: Data) => s.source)).size).toBe(as.sources.length);
      }
      expect(sourcePriceIds.size).toBe(
        [...assets.values()].reduce((n, as) => n + (as.latestPrice?.sources.length ?? 0), 0),
      );
      expect(assetSourceIds.size).toBe([...assets.values()].reduce((n, as) => n + as.sources.length, 0));
      for (const id of sourcePriceIds) expect(byType.get("SourcePrice")).toContain(`SourcePrice:${id}`);
      for (const id of assetSourceIds) expect(byType.get("AssetSource")).toContain(`AssetSource:${id}`);
      expect(new Set(nodes.map((n: Data) => n.id)).size).toBe(nodes.length);
    });

    it("candles are keyed by asset, interval and bucket: one entity per candle, shared by both roads to it", async () => {
      const data = await query(a.client, CANDLES, { symbol: "BTC" });
      await query(a.client, CANDLES, { symbol: "ETH" });
      expectNoConsoleMessages();
      const btc = data as { daily: Data[]; hourly: Data[]; asset: { id: string; priceHistory: Data[] } };
      expect(btc.daily.length).toBeGreaterThan(1);
      expect(btc.hourly.length).toBeGreaterThan(0);
      const cache = a.cache.extract();
      const root = cache.ROOT_QUERY as Data;
      const dailyRefs = root['priceHistory({"asset":"BTC","interval":"D1","limit":30})'];
      // Asset.priceHistory and Query.priceHistory (same asset, interval and buckets) point at the
      // same entities.
      expect(cache[`Asset:${btc.asset.id}`]!['priceHistory({"interval":"D1","limit":30})']).toEqual(
        dailyRefs,
      );
      const ids = [...btc.daily, ...btc.hourly].map((c) => c.id);
      expect(new Set(ids).size).toBe(ids.length);
      for (const id of ids) expect(cache[`Candle:${id}`]).toBeDefined();
      // And the merge kept every field either selection asked for.
      const candle = cache[`Candle:${btc.daily[0]!.id}`] as Data;
      expect(Object.keys(candle)).toEqual(
        expect.arrayContaining([
          "bucket",
          "open",
          "high",
          "low",
          "close",
          "volume",
          "sources",
          "volume24hUsd",
        ]),
      );
    });

    it("a marketUpdates push through graphql-ws merges into the latest price the queries loaded", async () => {
      const page = await query(a.client, MARKET_PAGE, { first: 50, filter: { symbols: ["BTC"] } });
      const btc = page.marketData.edges[0].node.asset as Data;
      const before = btc.latestPrice as Data;
      const coingeckoBefore = before.sources.find((s: Data) => s.source === "COINGECKO");
      expect(coingeckoBefore).toBeDefined();

      // Resume right after what is stored (afterSeq), so no update of the run below can be missed
      // however long the subscription takes to start.
      const maxSeq = await t.db.prisma.marketObservation.aggregate({ _max: { seq: true } });
      const sub = subscribe(a.client, LIVE, { symbols: ["BTC"], afterSeq: Number(maxSeq._max.seq) });

      // CoinGecko quotes BTC anew, now and 0.1 % up: the newest observation of the asset, so the
      // consensus itself moves (the older quotes fall out of the freshness window), not only
      // CoinGecko's source price. The run writes it.
      const moved = Math.round(coingeckoBefore.priceUsd * 1.001 * 100) / 100;
      const now = new Date(Date.now() - 5_000).toISOString();
      replay.setCoinGeckoPages([
        loadFixture<Data[]>(COINGECKO_TOP250).map((c) =>
          c.id === "bitcoin" ? { ...c, current_price: moved, last_updated: now } : c,
        ),
      ]);
      const triggered = await a.client.mutate<Data>({
        mutation: TRIGGER,
        variables: { sources: ["COINGECKO"] },
        context: { headers: { authorization: `Bearer ${TEST_API_KEY}` } },
      });
      expect(triggered.error).toBeUndefined();
      const update = await sub.until(
        (e) =>
          e.marketUpdates.observation?.source === "COINGECKO" &&
          e.marketUpdates.observation.priceUsd === moved,
      );
      sub.stop();
      const pushed = update.marketUpdates.latestPrice as Data;
      expect(pushed.id).toBe(before.id);
      // Otherwise the checks below could pass on the values the queries loaded.
      expect(pushed.priceUsd).toBe(moved);
      expect(pushed.priceUsd).not.toBe(before.priceUsd);
      expect(pushed.observedAt).not.toBe(before.observedAt);
      expect(pushed.sources.find((s: Data) => s.source === "COINGECKO").priceUsd).toBe(moved);

      // The entity the queries loaded now holds the pushed values…
      const id = a.client.cache.identify({ __typename: "LatestPrice", id: before.id });
      expect(id).toBe(`LatestPrice:${before.id}`);
      const fragment = a.client.cache.readFragment<Data>({ id, fragment: LATEST_PRICE_FIELDS });
      expect(fragment).toEqual({
        __typename: "LatestPrice",
        priceUsd: pushed.priceUsd,
        observedAt: pushed.observedAt,
        sources: pushed.sources.map((s: Data) => ({
          __typename: "SourcePrice",
          source: s.source,
          priceUsd: s.priceUsd,
          included: s.included,
        })),
      });
      // …and so does the query result itself, read back from the cache without the network.
      const cached = a.client.cache.readQuery<Data>({
        query: MARKET_PAGE,
        variables: { first: 50, filter: { symbols: ["BTC"] } },
      });
      for (const edge of cached!.marketData.edges) {
        expect(edge.node.asset.latestPrice.priceUsd).toBe(pushed.priceUsd);
        expect(edge.node.asset.latestPrice.sources.find((s: Data) => s.source === "COINGECKO").priceUsd).toBe(
          moved,
        );
      }
      // The pushed consensus is the server's, once the run is over (bounded: 10 s).
      const runId = Number(triggered.data!.triggerEtl.run.id);
      let status = "RUNNING";
      for (let i = 0; i < 200 && status === "RUNNING"; i++) {
        status = (await t.db.prisma.etlRun.findUnique({ where: { id: runId } }))?.status ?? "RUNNING";
        if (status === "RUNNING") await new Promise((r) => setTimeout(r, 50));
      }
      expect(status).toBe("SUCCEEDED");
      const server = await serverSays(http.url, `{ asset(symbol: "BTC") { latestPrice { priceUsd } } }`);
      expect(a.client.cache.readFragment<Data>({ id, fragment: LATEST_PRICE_FIELDS })!.priceUsd).toBe(
        server.asset.latestPrice.priceUsd,
      );
      expectNoConsoleMessages();
    });
  });
}

describe("with the ids, the issue's warning is gone; without them, it is back", () => {
  let t: TestDatabase;
  let app: ReturnType<typeof createTestApp>;
  let http: Awaited<ReturnType<ReturnType<typeof createTestApp>["listen"]>>;
  beforeAll(async () => {
    replay.setCoinGeckoPages([loadFixture<Data[]>(COINGECKO_TOP250)]);
    t = await databaseKinds[0]!.create();
    app = createTestApp(t.db, replay, { env: { ETL_SOURCES: "coingecko,coinpaprika" } });
    http = await app.listen();
    await app.runner.run({ trigger: "CLI" });
    takeConsoleMessages();
  });
  afterAll(async () => {
    await http?.server.stop();
    app?.stop();
    await t?.dispose();
  });

  // Runs last in this file: Apollo warns once per type and field for the whole process, and this
  // one's warning (Asset.latestPrice) is the one every test above must not see.
  it("Asset.latestPrice selected twice with different fields: merged with ids, 'data may be lost' without", async () => {
    const withIds = apollo(http.url, http.wsUrl);
    try {
      await query(
        withIds.client,
        gql`{ asset(symbol: "BTC") { id latestPrice { id priceUsd sources { id source } } } }`,
      );
      await query(
        withIds.client,
        gql`{ asset(symbol: "BTC") { id latestPrice { id observedAt sources { id priceUsd } } } }`,
      );
      expectNoConsoleMessages();
      const asset = withIds.client.cache.readQuery<Data>({
        query: gql`{ asset(symbol: "BTC") { id latestPrice { priceUsd observedAt sources { source priceUsd } } } }`,
      });
      expect(asset?.asset.latestPrice).toMatchObject({
        priceUsd: expect.any(Number),
        observedAt: expect.any(String),
      });
    } finally {
      await withIds.close();
    }

    const withoutIds = apollo(http.url, http.wsUrl);
    try {
      await query(withoutIds.client, gql`{ asset(symbol: "BTC") { id latestPrice { priceUsd } } }`);
      await query(withoutIds.client, gql`{ asset(symbol: "BTC") { id latestPrice { observedAt } } }`);
      const messages = takeConsoleMessages();
      expect(messages).toHaveLength(1);
      expect(messages[0]).toContain(
        "Cache data may be lost when replacing the latestPrice field of a Asset object.",
      );
    } finally {
      await withoutIds.close();
    }
  });
});
