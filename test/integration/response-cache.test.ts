import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../support/app.ts";
import { createPgliteTestDatabase, type TestDatabase } from "../support/databases.ts";
import {
  COINGECKO_TOP250,
  loadFixture,
  type ReplayServer,
  startReplayServer,
} from "../support/replay-server.ts";

type Item = Record<string, unknown>;
let replay: ReplayServer;
let t: TestDatabase;

beforeAll(async () => {
  replay = await startReplayServer();
  t = await createPgliteTestDatabase();
  replay.setCoinGeckoPages([loadFixture<Item[]>(COINGECKO_TOP250)]);
});
afterAll(async () => {
  await t.dispose();
  await replay.close();
});

const BTC = `{ marketData(first: 1, filter: { symbols: ["BTC"], sources: [COINGECKO] }) {
  edges { node { seq priceUsd asset { symbol } } } } }`;

describe("response cache (until the next pipeline event)", () => {
  it("serves a repeated query from the cache with its own request id, and fresh data after a run", async () => {
    const app = createTestApp(t.db, replay, {
      env: { ETL_SOURCES: "coingecko" },
      responseCacheTtlSeconds: 60,
    });
    await app.runner.run({ trigger: "CLI" });

    const first = await app.gql<any>(BTC);
    const second = await app.gql<any>(BTC);
    expect(first.body.extensions?.responseCache).toMatchObject({ hit: false });
    expect(second.body.extensions?.responseCache).toMatchObject({ hit: true });
    expect(second.body.data).toEqual(first.body.data);
    // Each response is stamped on its own copy: a cached result is shared.
    expect(second.body.extensions?.requestId).not.toBe(first.body.extensions?.requestId);
    expect(second.headers.get("x-request-id")).toBe(second.body.extensions?.requestId);

    // A run that changes BTC's price: its events start a new generation, the next read is fresh.
    const pages = loadFixture<Item[]>(COINGECKO_TOP250).map((coin) =>
      coin.id === "bitcoin"
        ? {
            ...coin,
            current_price: 12_345.5,
            last_updated: new Date(Date.parse(String(coin.last_updated)) + 3_600_000).toISOString(),
          }
        : coin,
    );
    replay.setCoinGeckoPages([pages]);
    await app.runner.run({ trigger: "CLI" });
    const after = await app.gql<any>(BTC);
    expect(after.body.extensions?.responseCache).toMatchObject({ hit: false });
    expect(after.body.data.marketData.edges[0].node.priceUsd).toBe(12_345.5);
    expect(Number(after.body.data.marketData.edges[0].node.seq)).toBeGreaterThan(
      Number(first.body.data.marketData.edges[0].node.seq),
    );
    app.stop();
  });

  it("never caches clock-dependent fields or errors, and bounds unannounced writes by the TTL", async () => {
    const app = createTestApp(t.db, replay, {
      env: { ETL_SOURCES: "coingecko" },
      responseCacheTtlSeconds: 1,
    });
    const health = "{ sourceHealth { source dataAgeSeconds } }";
    await app.gql(health);
    expect(((await app.gql<any>(health)).body.extensions?.responseCache as any)?.hit).not.toBe(true);

    const tooMany = "{ marketData(first: 501) { edges { node { seq } } } }";
    await app.gql(tooMany);
    const again = await app.gql<any>(tooMany);
    expect(again.body.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect((again.body.extensions?.responseCache as any)?.hit).not.toBe(true);

    // A write no pipeline event announces (an operator's SQL): stale for at most the TTL.
    const name = `{ assets(filter: { symbols: ["BTC"] }) { edges { node { name } } } }`;
    expect((await app.gql<any>(name)).body.data.assets.edges[0].node.name).toBe("Bitcoin");
    await t.db.prisma.asset.updateMany({ where: { symbol: "BTC" }, data: { name: "Bitcoin (renamed)" } });
    const stale = await app.gql<any>(name);
    expect(stale.body.extensions?.responseCache).toMatchObject({ hit: true });
    expect(stale.body.data.assets.edges[0].node.name).toBe("Bitcoin");
    await new Promise((r) => setTimeout(r, 1_100));
    expect((await app.gql<any>(name)).body.data.assets.edges[0].node.name).toBe("Bitcoin (renamed)");
    app.stop();
  });

  it("is off with RESPONSE_CACHE_TTL_SECONDS=0", async () => {
    const app = createTestApp(t.db, replay, { responseCacheTtlSeconds: 0 });
    await app.gql(BTC);
    const again = await app.gql<any>(BTC);
    expect(again.body.extensions?.responseCache).toBeUndefined();
    expect(again.body.data.marketData.edges).toHaveLength(1);
    app.stop();
  });
});
