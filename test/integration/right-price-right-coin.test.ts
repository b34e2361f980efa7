import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { createTestApp } from "../support/app.ts";
import { COINGECKO_TOP250, COINPAPRIKA_TICKERS, loadFixture } from "../support/replay-server.ts";
import { describeOnEachDatabase } from "../support/scenario.ts";

// Issue #13: each case put a wrong price on a coin before. Hand-made CSVs in test/fixtures/csv
// (test/fixtures/PROVENANCE.md says what each shows) next to the recorded CoinGecko page of 2023-05-13.
type Item = Record<string, any>;
const F = "test/fixtures/csv";
const cg = () => loadFixture<Item[]>(COINGECKO_TOP250);
const cp = () => loadFixture<Item[]>(COINPAPRIKA_TICKERS);

function tempCsv(content: string) {
  const path = join(mkdtempSync(join(tmpdir(), "coinflow-13-")), "prices.csv");
  writeFileSync(path, content);
  return path;
}

describeOnEachDatabase(
  (kind) => `the right price for the right coin on ${kind}`,
  (scenario) => {
    const appWith = (env: Record<string, string>) => createTestApp(scenario.db, scenario.replay, { env });
    const ok = async (app: ReturnType<typeof appWith>, query: string) => {
      const r = await app.gql<any>(query);
      expect(r.body.errors, JSON.stringify(r.body.errors)).toBeUndefined();
      return r.body.data;
    };
    /** symbol → the CSV prices stored on the asset with that symbol (and how many assets have it). */
    const csvPricesBySymbol = async () => {
      const rows = await scenario.db.prisma.marketObservation.findMany({
        where: { source: "CSV" },
        include: { asset: true },
        orderBy: { observedAt: "asc" },
      });
      const out: Record<string, number[]> = {};
      for (const r of rows) out[r.asset.symbol] = [...(out[r.asset.symbol] ?? []), r.priceUsd];
      return out;
    };
    const rejections = (runId: number) =>
      scenario.db.prisma.rejectedRecord.findMany({ where: { runId }, orderBy: { id: "asc" } });

    it("1. keeps row-number ids of two files apart: SOL's price never lands on BTC", async () => {
      const app = appWith({
        ETL_SOURCES: "coingecko,csv",
        CSV_SOURCE_PATHS: `${F}/row-number-ids-btc-eth.csv,${F}/row-number-ids-sol-doge.csv`,
      });
      const run = await app.runner.run({ trigger: "CLI" });
      expect(run.sources.find((s) => s.source === "CSV")).toMatchObject({
        fetched: 4,
        written: 4,
        rejected: 0,
      });
      expect(await csvPricesBySymbol()).toEqual({ BTC: [26800], ETH: [1800], SOL: [21.1], DOGE: [0.072] });
      // Each mapping belongs to its file and is keyed by the symbol, not by the row number.
      const csvIds = await scenario.db.prisma.assetSource.findMany({
        where: { source: "CSV" },
        select: { file: true, sourceAssetId: true },
        orderBy: [{ file: "asc" }, { sourceAssetId: "asc" }],
      });
      expect(csvIds).toEqual([
        { file: `${F}/row-number-ids-btc-eth.csv`, sourceAssetId: "BTC" },
        { file: `${F}/row-number-ids-btc-eth.csv`, sourceAssetId: "ETH" },
        { file: `${F}/row-number-ids-sol-doge.csv`, sourceAssetId: "DOGE" },
        { file: `${F}/row-number-ids-sol-doge.csv`, sourceAssetId: "SOL" },
      ]);
      app.stop();
    });

    it("2. joins a symbol-only LINK row to Chainlink, not to the coin whose CoinGecko id is `link`", async () => {
      const app = appWith({ ETL_SOURCES: "coingecko,csv", CSV_SOURCE_PATHS: `${F}/symbol-only-link.csv` });
      await app.runner.run({ trigger: "CLI" });
      const row = await scenario.db.prisma.marketObservation.findFirstOrThrow({
        where: { source: "CSV" },
        include: { asset: { include: { sources: true } } },
      });
      expect(row.asset.sources.find((s) => s.source === "COINGECKO")?.sourceAssetId).toBe("chainlink");
      const mapping = row.asset.sources.find((s) => s.source === "CSV")!;
      expect(mapping).toMatchObject({ matchedBy: "symbol", sourceAssetId: "LINK" });
      app.stop();
    });

    it("3. rejects a row dated 2099 with a clear reason; it never becomes BTC's consensus", async () => {
      const app = appWith({ ETL_SOURCES: "coingecko,csv", CSV_SOURCE_PATHS: `${F}/future-dated-row.csv` });
      const run = await app.runner.run({ trigger: "CLI" });
      expect(run.sources.find((s) => s.source === "CSV")).toMatchObject({
        fetched: 2,
        written: 1,
        rejected: 1,
      });
      const [rejected] = await rejections(run.runId);
      expect(rejected).toMatchObject({ location: `${F}/future-dated-row.csv:2` });
      expect(rejected!.reason).toMatch(
        /^observedAt 2099-01-01T00:00:00\.000Z is [\d,]+ s in the future \(more than MAX_CLOCK_SKEW_SECONDS=300/,
      );
      const data = await ok(
        app,
        `{ latestPrices(symbols: ["BTC"]) { priceUsd disputed sources { source priceUsd included excludedReason } } }`,
      );
      expect(data.latestPrices).toEqual([
        {
          priceUsd: 26816,
          disputed: false,
          sources: [{ source: "COINGECKO", priceUsd: 26816, included: true, excludedReason: null }],
        },
      ]);
      app.stop();
    });

    it("refuses a join whose price is far from the asset's own on that day, and keeps the row as a rejection", async () => {
      const app = appWith({
        ETL_SOURCES: "coingecko,csv",
        CSV_SOURCE_PATHS: `${F}/price-contradicts-asset.csv`,
      });
      const run = await app.runner.run({ trigger: "CLI" });
      expect(run.sources.find((s) => s.source === "CSV")).toMatchObject({
        fetched: 2,
        written: 1,
        rejected: 1,
      });
      const [rejected] = await rejections(run.runId);
      expect(rejected!.reason).toMatch(
        /^not joining BTC: price 1\.5 is 17877\.3x from BTC's own 26816 \(COINGECKO at 2023-05-13T10:37:59\.082Z\)/,
      );
      expect(await scenario.db.prisma.asset.count({ where: { symbol: "BTC" } })).toBe(1);
      expect(await csvPricesBySymbol()).toEqual({ ETH: [1805] });
      app.stop();
    });

    it("4. calls two sources 25 % apart disputed, drops an outlier among three, and raises one anomaly", async () => {
      const at = new Date(Date.now() - 60_000).toISOString();
      scenario.replay.setCoinGeckoPages([cg().map((c) => ({ ...c, last_updated: at }))]);
      scenario.replay.setCoinPaprikaTickers(cp().map((c) => ({ ...c, last_updated: at })));
      const csv = tempCsv(`symbol,price,date\nBNB,500,${at}\nETH,1806,${at}\n`);
      const app = appWith({ CSV_SOURCE_PATHS: csv });
      const run = await app.runner.run({ trigger: "CLI" });
      const data = await ok(
        app,
        `{ latestPrices(symbols: ["BNB"]) { priceUsd spreadPct disputed sources { source priceUsd included excludedReason } } }`,
      );
      const bnb = data.latestPrices[0];
      // CoinGecko 310.13 and CoinPaprika 240.59 (the recorded payloads) disagree by 25 %.
      expect(bnb.priceUsd).toBeCloseTo((310.13 + 240.5857946215572) / 2, 6);
      expect(bnb.disputed).toBe(true);
      expect(bnb.spreadPct).toBeCloseTo(25.25, 1);
      const csvVerdict = bnb.sources.find((s: any) => s.source === "CSV");
      expect(csvVerdict).toMatchObject({ priceUsd: 500, included: false });
      expect(csvVerdict.excludedReason).toMatch(/^outlier: \d+\.\d+ % from the median of the other sources/);
      const disputedAnomalies = await scenario.db.prisma.anomaly.findMany({
        where: { runId: run.runId, kind: "DISPUTED_PRICE" },
        include: { asset: true },
      });
      expect(disputedAnomalies.filter((a) => a.asset?.symbol === "BNB")).toHaveLength(1);
      const eth = (await ok(app, `{ latestPrices(symbols: ["ETH"]) { disputed spreadPct } }`))
        .latestPrices[0];
      expect(eth.disputed).toBe(false);
      app.stop();
    });

    it("5. names follow the best source after an offline first start; ranks are the latest listing's", async () => {
      const offline = appWith({ ETL_SOURCES: "csv" });
      await offline.runner.run({ trigger: "CLI" });
      expect((await ok(offline, `{ asset(symbol: "BTC") { name } }`)).asset.name).toBe("BTC");
      offline.stop();

      const page = cg();
      const clone = {
        ...page.find((c) => c.id === "tether"),
        id: "tether-clone",
        name: "Tether Clone",
        market_cap_rank: 200,
      };
      scenario.replay.setCoinGeckoPages([[...page, clone]]);
      const online = appWith({ ETL_SOURCES: "coingecko,coinpaprika" });
      await online.runner.run({ trigger: "CLI" });
      expect((await ok(online, `{ asset(symbol: "BTC") { name rank } }`)).asset).toEqual({
        name: "Bitcoin",
        rank: 1,
      });
      expect(await scenario.db.prisma.asset.count({ where: { symbol: "BTC" } })).toBe(1);
      const search = await ok(
        online,
        `{ assets(filter: { search: "bitc" }) { edges { node { symbol name } } } }`,
      );
      expect(search.assets.edges.map((e: any) => e.node.name)).toContain("Bitcoin");
      expect((await ok(online, `{ asset(symbol: "USDT") { name rank } }`)).asset).toEqual({
        name: "Tether",
        rank: 3,
      });

      // Tether leaves CoinGecko's listing: its CoinGecko rank goes, CoinPaprika's (as listed) remains.
      scenario.replay.setCoinGeckoPages([[...page.filter((c) => c.id !== "tether"), clone]]);
      const cgOnly = appWith({ ETL_SOURCES: "coingecko" });
      await cgOnly.runner.run({ trigger: "CLI" });
      const tether = await scenario.db.prisma.asset.findFirstOrThrow({
        where: { sources: { some: { source: "COINGECKO", sourceAssetId: "tether" } } },
        include: { sources: true },
      });
      expect(tether.sources.find((s) => s.source === "COINGECKO")?.rank).toBeNull();
      const paprikaRank = tether.sources.find((s) => s.source === "COINPAPRIKA")?.rank;
      expect(paprikaRank).toEqual(expect.any(Number));
      expect(tether.rank).toBe(paprikaRank);

      // Without CoinPaprika's rank either, the clone (still listed, rank 200) is the USDT asset.
      scenario.replay.setCoinPaprikaTickers(cp().filter((c) => c.symbol !== "USDT"));
      await appWith({ ETL_SOURCES: "coinpaprika" }).runner.run({ trigger: "CLI" });
      expect((await ok(cgOnly, `{ asset(symbol: "USDT") { name rank } }`)).asset).toEqual({
        name: "Tether Clone",
        rank: 200,
      });
      online.stop();
      cgOnly.stop();
    });

    it("5. keeps ranks when a listing comes back empty or cut short (an upstream hiccup), clears them when later listings confirm it", async () => {
      const app = appWith({ ETL_SOURCES: "coingecko" });
      await app.runner.run({ trigger: "CLI" });
      const ranked = () =>
        scenario.db.prisma.assetSource.count({ where: { source: "COINGECKO", rank: { not: null } } });
      expect(await ranked()).toBe(250);
      for (const listing of [[], cg().slice(0, 10)]) {
        scenario.replay.setCoinGeckoPages([listing]);
        const run = await app.runner.run({ trigger: "CLI" });
        expect(run.sources[0]!.status).toBe("SUCCEEDED");
        expect(await ranked()).toBe(250);
      }
      expect((await ok(app, `{ asset(symbol: "USDT") { rank } }`)).asset.rank).toBe(3);
      // A shorter listing that later listings confirm is the market: after two full listings of
      // 200 coins, the 50 others have lost their ranks.
      scenario.replay.setCoinGeckoPages([cg().slice(0, 200)]);
      for (let i = 0; i < 3; i++) await app.runner.run({ trigger: "CLI" });
      expect(await ranked()).toBe(200);
      app.stop();
    });

    it("6. counts a key repeated across a batch boundary once: the later row wins, the earlier is rejected", async () => {
      const app = appWith({
        ETL_SOURCES: "csv",
        ETL_BATCH_SIZE: "2",
        CSV_SOURCE_PATHS: `${F}/duplicate-keys-across-batches.csv`,
      });
      const run = await app.runner.run({ trigger: "CLI" });
      const csv = run.sources.find((s) => s.source === "CSV")!;
      expect(csv).toMatchObject({ fetched: 3, written: 2, unchanged: 0, rejected: 1 });
      expect(csv.fetched).toBe(csv.written + csv.unchanged + csv.rejected + csv.quarantined);
      expect(await csvPricesBySymbol()).toEqual({ BTC: [26100], ETH: [1700] });
      const [rejected] = await rejections(run.runId);
      expect(rejected).toMatchObject({ location: `${F}/duplicate-keys-across-batches.csv:4` });
      expect(rejected!.reason).toMatch(
        /^duplicate key \(BTC at 2023-05-10T00:00:00\.000Z\): replaces an earlier row/,
      );

      // The same content again with the repeat identical: the repeat is the row rejected.
      await scenario.database.reset();
      const same = tempCsv(
        "symbol,price,date\nBTC,26000,2023-05-10\nETH,1700,2023-05-10\nBTC,26000,2023-05-10\n",
      );
      const again = await appWith({
        ETL_SOURCES: "csv",
        ETL_BATCH_SIZE: "2",
        CSV_SOURCE_PATHS: same,
      }).runner.run({
        trigger: "CLI",
      });
      expect(again.sources[0]).toMatchObject({ fetched: 3, written: 2, unchanged: 0, rejected: 1 });
      app.stop();
    });

    it("6. counts a repeated key once when its first copy was unchanged (the database had it already)", async () => {
      const env = { ETL_SOURCES: "csv", ETL_BATCH_SIZE: "2" };
      const first = tempCsv("symbol,price,date\nBTC,26000,2023-05-10\n");
      await appWith({ ...env, CSV_SOURCE_PATHS: first }).runner.run({ trigger: "CLI" });
      // A new file (read from the start): BTC as stored, ETH, then BTC again across the boundary,
      // once with a new price and once identical.
      for (const repeat of ["26500", "26000"]) {
        const file = tempCsv(
          `symbol,price,date\nBTC,26000,2023-05-10\nETH,1700,2023-05-10\nBTC,${repeat},2023-05-10\n`,
        );
        const run = await appWith({ ...env, CSV_SOURCE_PATHS: file }).runner.run({ trigger: "CLI" });
        const csv = run.sources.find((s) => s.source === "CSV")!;
        expect(csv).toMatchObject({ fetched: 3, written: 1, unchanged: 1, rejected: 1 });
        const [rejected] = await rejections(run.runId);
        expect(rejected!.reason).toMatch(
          /^duplicate (key|of an earlier row of this run) \(BTC at 2023-05-10/,
        );
      }
    });

    it("8. keeps a daily OHLC bar out of 5-minute and hourly candles; daily candles carry its range and volume", async () => {
      const app = appWith({ ETL_SOURCES: "coingecko,csv", CSV_SOURCE_PATHS: `${F}/daily-ohlc-bars.csv` });
      await app.runner.run({ trigger: "CLI" });
      const bars = await scenario.db.prisma.marketObservation.findMany({ where: { source: "CSV" } });
      expect(bars.map((b) => b.barSeconds)).toEqual([86_400, 86_400]);
      const history = async (interval: string) =>
        (
          await ok(
            app,
            `{ priceHistory(asset: "BTC", interval: ${interval}, from: "2023-05-12T00:00:00Z", to: "2023-05-14T00:00:00Z") {
            bucket open high low close volume volume24hUsd sources observations } }`,
          )
        ).priceHistory;
      for (const interval of ["M5", "H1"]) {
        const candles = await history(interval);
        // Only CoinGecko's snapshot of 10:37: a day's high and low never become a short candle's.
        expect(candles).toHaveLength(1);
        expect(candles[0]).toMatchObject({
          open: 26816,
          high: 26816,
          low: 26816,
          close: 26816,
          volume: null,
        });
        expect(candles[0].sources).toEqual(["COINGECKO"]);
      }
      const daily = await history("D1");
      expect(daily).toEqual([
        {
          bucket: "2023-05-12T00:00:00.000Z",
          open: 26950,
          high: 27100,
          low: 25850,
          close: 26800,
          volume: 18e9,
          volume24hUsd: null,
          sources: ["CSV"],
          observations: 1,
        },
        {
          bucket: "2023-05-13T00:00:00.000Z",
          // The bar opens at 00:00 and closes at the day's end, after CoinGecko's 10:37 snapshot.
          open: 26800,
          high: 27050,
          low: 26700,
          close: 26780,
          volume: 9e9,
          volume24hUsd: expect.any(Number),
          sources: ["COINGECKO", "CSV"],
          observations: 2,
        },
      ]);
      app.stop();
    });
  },
);
