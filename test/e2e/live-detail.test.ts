import { mkdirSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pct, usd } from "../../public/format.js";
import { startStack, TEST_API_KEY, type TestStack } from "../support/app.ts";
import { launchChromium } from "../support/chromium.ts";
import { COINGECKO_TOP250, COINPAPRIKA_TICKERS, loadFixture } from "../support/replay-server.ts";

type Item = Record<string, unknown>;
/** Real daily BTC-USD OHLC bars (Yahoo Finance, 2023-01-01 … 2023-04-25): D1 candles to draw. */
const BTC_BARS = "test/fixtures/csv/yahoo-finance-btc-2023-excerpt.csv#BTC";

let stack: TestStack;
let browser: Browser;
let btcId: string;

async function gql<T = any>(
  query: string,
  variables: Record<string, unknown> = {},
  auth = false,
): Promise<T> {
  const res = await fetch(`${stack.http.url}/graphql`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(auth ? { authorization: `Bearer ${TEST_API_KEY}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
  return body.data as T;
}

beforeAll(async () => {
  // Four operations per connection: the table's stream, one candle stream and the strip's two. A
  // candleUpdates subscription the page failed to complete would make the next one refused.
  stack = await startStack({ env: { CSV_SOURCE_PATHS: BTC_BARS, MAX_SUBSCRIPTIONS_PER_CONNECTION: "4" } });
  await stack.app.runner.run({ trigger: "CLI", sources: ["COINGECKO", "COINPAPRIKA", "CSV"] });
  btcId = (await gql('{ asset(symbol: "BTC") { id } }')).asset.id;
  // Offline below the page, as in graphiql-offline.test.ts: a request that would leave the
  // machine goes to a proxy that does not exist (loopback bypasses it) and fails loudly.
  browser = await launchChromium(["--proxy-server=http://127.0.0.1:9"]);
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

/** A page with its console errors and the graphql-ws frames it sent, parsed. */
async function openPage(path = "/") {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(e.message));
  const sent: { id?: string; type: string; payload?: { query: string; variables?: Item } }[] = [];
  page.on("websocket", (ws) =>
    ws.on("framesent", (f) => {
      sent.push(JSON.parse(String(f.payload)));
    }),
  );
  await page.goto(`${stack.http.url}${path}`);
  await page.waitForSelector("tbody tr[data-asset-id]");
  return { page, errors, sent };
}

/** Subscriptions the page has open, by the first field they select: subscribed, not completed. */
function openSubscriptions(sent: Awaited<ReturnType<typeof openPage>>["sent"]) {
  const open = new Map<string, { field: string; variables?: Item }>();
  for (const m of sent) {
    if (m.type === "subscribe" && m.id && m.payload) {
      const field = /\{\s*(\w+)/.exec(m.payload.query.replace(/^[^{]*/, ""))?.[1] ?? "?";
      open.set(m.id, { field, variables: m.payload.variables });
    }
    if (m.type === "complete" && m.id) open.delete(m.id);
  }
  return [...open.values()];
}

const drawnBuckets = (page: Page) =>
  page.$$eval("#chart g.candle", (gs) => gs.map((g) => (g as SVGGElement).dataset.bucket));

describe("the live page's asset detail view in headless Chromium", () => {
  it("opens on a click with candles, each source's price and deviation, and a live run strip", async () => {
    const { page, errors, sent } = await openPage();
    await page.locator("tbody tr", { has: page.locator("td.asset b", { hasText: /^BTC$/ }) }).click();
    await page.waitForSelector("#detail:not([hidden]) #chart g.candle");
    expect(page.url()).toContain(`#asset=${btcId}&interval=D1`);

    // The chart draws exactly what priceHistory returns: the same buckets, in order.
    const history = async () =>
      (
        await gql(
          "query($id: String!) { priceHistory(asset: $id, interval: D1, limit: 90) { bucket final } }",
          {
            id: btcId,
          },
        )
      ).priceHistory as { bucket: string; final: boolean }[];
    const before = await history();
    expect(before.length).toBeGreaterThan(80); // the Yahoo bars, the CoinGecko and CoinPaprika days
    expect(await drawnBuckets(page)).toEqual(before.map((c) => c.bucket));
    expect(await page.locator("#chart g.candle.forming").count()).toBe(0); // all of it is old
    expect(await page.locator("#chart .gaps line").count()).toBeGreaterThan(0); // April → May → August

    // One row per source, with the price and the deviation latestPrices gives.
    const latest = async () =>
      (
        await gql(
          "query($id: ID!) { latestPrices(assetIds: [$id]) { priceUsd disputed sources { source priceUsd deviationPct included excludedReason } } }",
          { id: btcId },
        )
      ).latestPrices[0];
    const expectSourcesShown = async (lp: any) => {
      expect(await page.locator("#detail-price .big").textContent()).toBe(usd(lp.priceUsd));
      for (const s of lp.sources) {
        const row = page.locator(`#detail-sources tr[data-source="${s.source}"]`);
        expect(await row.locator("td.price").textContent()).toBe(usd(s.priceUsd));
        expect(await row.locator("td.deviation").textContent()).toBe(pct(s.deviationPct));
        expect(await row.locator("td.state").textContent()).toBe(
          s.included ? "in consensus" : s.excludedReason,
        );
      }
    };
    const first = await latest();
    expect(first.sources.map((s: any) => s.source).sort()).toEqual(["COINGECKO", "COINPAPRIKA", "CSV"]);
    await expectSourcesShown(first);

    // The strip shows the newest run as it stands.
    const lastRun = (await gql("{ etlRuns(first: 1) { edges { node { id status } } } }")).etlRuns.edges[0]
      .node;
    await page.waitForSelector(`#run-strip [data-run-id="${lastRun.id}"][data-status="${lastRun.status}"]`);

    // A CoinGecko capture with BTC observed now, 2 % up, and a field the baseline does not know;
    // a CoinPaprika one with BTC observed now too, 0.4 % above CoinGecko.
    const items = loadFixture<Item[]>(COINGECKO_TOP250).map(
      (i): Item => ({ ...i, price_change_percentage_1h: 0.1 }),
    );
    const now = new Date();
    items[0] = {
      ...items[0],
      current_price: (items[0]!.current_price as number) * 1.02,
      last_updated: now.toISOString(),
    };
    stack.replay.setCoinGeckoPages([items]);
    const tickers = loadFixture<Item[]>(COINPAPRIKA_TICKERS).map((x) =>
      x.id === "btc-bitcoin"
        ? {
            ...x,
            last_updated: now.toISOString(),
            quotes: { USD: { ...(x.quotes as any).USD, price: (items[0]!.current_price as number) * 1.004 } },
          }
        : x,
    );
    stack.replay.setCoinPaprikaTickers(tickers);
    const run = (
      await gql(
        "mutation { triggerEtl(input: { sources: [COINGECKO, COINPAPRIKA] }) { run { id } } }",
        {},
        true,
      )
    ).triggerEtl.run;

    // The run's events reach the strip: its progress, its end, and the drift it found.
    await page.waitForSelector(`#run-strip [data-run-id="${run.id}"][data-status="SUCCEEDED"]`, {
      timeout: 30_000,
    });
    const strip = page.locator("#run-strip");
    await expect
      .poll(() => strip.locator(".run-log").textContent(), { timeout: 10_000 })
      .toContain("CoinGecko: 250 fetched, 1 written");
    expect(await strip.locator('.run-sources li[data-source="COINGECKO"]').textContent()).toContain(
      "250 fetched · 1 written · 249 unchanged · 0 rejected",
    );
    expect(await strip.locator('.run-sources li[data-source="COINPAPRIKA"]').textContent()).toContain(
      "500 fetched · 1 written · 499 unchanged · 0 rejected",
    );
    await page.waitForSelector('#run-strip .strip-drift li[data-kind="ADDED"]', { timeout: 10_000 });
    expect(await strip.locator(".strip-drift li code").first().textContent()).toBe(
      "price_change_percentage_1h",
    );

    // candleUpdates brought today's bucket: drawn as forming, after everything priceHistory had.
    const today = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate())).toISOString();
    await page.waitForSelector(`#chart g.candle.forming[data-bucket="${today}"]`, { timeout: 15_000 });
    const after = await history();
    expect(after.at(-1)).toMatchObject({ bucket: today, final: false });
    expect(await drawnBuckets(page)).toEqual(after.map((c) => c.bucket));
    expect(await page.locator("#chart g.candle.forming").count()).toBe(1);
    expect(await page.locator("#chart g.candle.forming").getAttribute("data-final")).toBe("false");
    await expect.poll(() => latest().then((lp) => lp.priceUsd)).not.toBe(first.priceUsd);
    await expect
      .poll(async () => page.locator("#detail-price .big").textContent(), { timeout: 10_000 })
      .toBe(usd((await latest()).priceUsd));
    const fresh = await latest();
    expect(fresh.sources.filter((s: any) => s.included).map((s: any) => s.source)).toEqual([
      "COINGECKO",
      "COINPAPRIKA",
    ]);
    await expectSourcesShown(fresh);
    // The page's resume point is the seq of the last row the run wrote (BTC's, from CoinPaprika).
    const written = (
      await gql(
        "query($id: ID!) { marketData(filter: { assetIds: [$id] }, first: 5) { edges { node { seq } } } }",
        { id: btcId },
      )
    ).marketData.edges.map((e: any) => e.node.seq as number);
    expect(await page.locator("#seq").textContent()).toBe(`seq ${Math.max(...written)}`);

    expect(
      openSubscriptions(sent)
        .map((s) => s.field)
        .sort(),
    ).toEqual(["candleUpdates", "driftWarnings", "etlRunEvents", "marketUpdates"]);
    // The README's picture (.github/assets/live-detail.png is a copy): the header and the view.
    mkdirSync("test-results", { recursive: true });
    const box = (await page.locator("#detail").boundingBox())!;
    await page.screenshot({
      path: "test-results/live-detail.png",
      clip: { x: 0, y: 0, width: 1280, height: Math.ceil(box.y + box.height + 16) },
    });
    expect(errors, errors.join("\n")).toEqual([]);
    await page.close();
  });

  it("completes the old candleUpdates subscription when switching asset or interval, and all on close", async () => {
    const { page, errors, sent } = await openPage(`/#asset=${btcId}&interval=D1`);
    await page.waitForSelector("#chart g.candle");
    const candleStreams = () => openSubscriptions(sent).filter((s) => s.field === "candleUpdates");
    expect(candleStreams()).toEqual([
      { field: "candleUpdates", variables: { asset: btcId, interval: "D1" } },
    ]);

    // Another asset from the table, then other intervals: each time exactly one candle stream,
    // the shown one. More than four switches: a leak would hit the server's per-connection cap.
    const ethRow = page.locator("tbody tr", { has: page.locator("td.asset b", { hasText: /^ETH$/ }) });
    const ethId = await ethRow.getAttribute("data-asset-id");
    await ethRow.click();
    await expect.poll(() => page.locator("#detail-title b").textContent()).toBe("ETH");
    for (const interval of ["H1", "M5", "D1", "H1", "M5"]) {
      await page.click(`#detail .intervals button[data-interval="${interval}"]`);
      await expect
        .poll(() => candleStreams())
        .toEqual([{ field: "candleUpdates", variables: { asset: ethId, interval } }]);
      await page.waitForSelector(`#chart[data-candles]:not([data-candles=""])`);
    }
    expect(await page.locator("#detail .intervals button[aria-pressed=true]").textContent()).toBe("5 min");

    await page.keyboard.press("Escape");
    await expect.poll(() => openSubscriptions(sent).map((s) => s.field)).toEqual(["marketUpdates"]);
    expect(await page.locator("#detail").isHidden()).toBe(true);
    expect(page.url()).not.toContain("#asset");
    expect(errors, errors.join("\n")).toEqual([]);
    await page.close();
  });

  it("shows an asset's name as text, whatever characters it holds", async () => {
    await stack.t.db.prisma.asset.update({
      where: { id: Number(btcId) },
      data: { name: '<img src=x onerror="window.pwned=1">' },
    });
    const { page, errors } = await openPage(`/#asset=${btcId}&interval=D1`);
    await page.waitForSelector("#chart g.candle");
    expect(await page.locator("#detail-title").textContent()).toContain(
      '<img src=x onerror="window.pwned=1">',
    );
    expect(await page.locator("main img").count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
    expect(errors, errors.join("\n")).toEqual([]);
    await page.close();
  });
});
