import { mkdirSync } from "node:fs";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { usd } from "../../public/format.js";
import { startStack, TEST_API_KEY, type TestStack } from "../support/app.ts";
import { launchChromium } from "../support/chromium.ts";
import { COINGECKO_TOP250, loadFixture } from "../support/replay-server.ts";
import { startTcpProxy } from "../support/tcp-proxy.ts";

type Item = Record<string, unknown>;
let stack: TestStack;
let browser: Browser;

beforeAll(async () => {
  stack = await startStack();
  await stack.app.runner.run({ trigger: "CLI", sources: ["COINGECKO", "COINPAPRIKA"] });
  // Offline below the page, as in graphiql-offline.test.ts: a request that would leave the
  // machine goes to a proxy that does not exist (loopback bypasses it) and fails loudly.
  browser = await launchChromium(["--proxy-server=http://127.0.0.1:9"]);
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

describe("the live prices page in headless Chromium", () => {
  it("shows the table, goes live, and updates a price cell after a triggered run", async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const consoleErrors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") consoleErrors.push(m.text());
    });
    await page.goto(`${stack.http.url}/`);
    await page.waitForSelector("tbody tr[data-asset-id]");
    expect(await page.locator("tbody tr[data-asset-id]").count()).toBe(25);
    await page.waitForSelector("#connection.live");
    const btcRow = page.locator("tbody tr", { has: page.locator("td.asset b", { hasText: /^BTC$/ }) });
    const before = await btcRow.locator('[data-source="COINGECKO"]').textContent();

    // A new CoinGecko capture with BTC 3 % higher, observed later.
    const items = loadFixture<Item[]>(COINGECKO_TOP250);
    items[0] = {
      ...items[0],
      current_price: (items[0]!.current_price as number) * 1.03,
      last_updated: "2023-05-13T11:00:00.000Z",
    };
    stack.replay.setCoinGeckoPages([items]);
    const res = await fetch(`${stack.http.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${TEST_API_KEY}` },
      body: JSON.stringify({
        query: "mutation { triggerEtl(input: { sources: [COINGECKO] }) { run { id } } }",
      }),
    });
    expect((await res.json()).errors).toBeUndefined();
    await page.waitForFunction(
      (old) => {
        const rows = [...document.querySelectorAll("tbody tr")];
        const btc = rows.find((r) => r.querySelector("td.asset b")?.textContent === "BTC");
        return btc?.querySelector('[data-source="COINGECKO"]')?.textContent !== old;
      },
      before,
      { timeout: 20_000 },
    );
    const after = await btcRow.locator('[data-source="COINGECKO"]').textContent();
    expect(after).not.toBe(before);
    expect(after).toBe("$27,620");
    mkdirSync("test-results", { recursive: true });
    await page.screenshot({ path: "test-results/live-page.png", fullPage: true });
    expect(consoleErrors, consoleErrors.join("\n")).toEqual([]);
    await page.close();
  });

  it("resumes with afterSeq after its connection drops, and shows what committed meanwhile", async () => {
    // The page reaches the service through a proxy that can go silent and then drop its
    // connections, as a network path does (a laptop's sleep, a NAT timeout).
    const proxy = await startTcpProxy({ host: "127.0.0.1", port: stack.http.port });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const subscribed: unknown[] = [];
    page.on("websocket", (ws) =>
      ws.on("framesent", (f) => {
        const m = JSON.parse(String(f.payload));
        if (m.type === "subscribe" && m.payload.query.includes("marketUpdates"))
          subscribed.push(m.payload.variables);
      }),
    );
    const afterSeq = () =>
      page.evaluate(() => (window as any).coinflow.stream.payload.variables.afterSeq as number | null);
    try {
      // With ETH's detail view open: its candle stream has no resume point, so after the drop
      // the chart must read its history again to show what committed meanwhile.
      const ethId = (await stack.app.gql<{ asset: { id: string } }>('{ asset(symbol: "ETH") { id } }')).body
        .data!.asset.id;
      await page.goto(`http://127.0.0.1:${proxy.port}/#asset=${ethId}&interval=D1`);
      await page.waitForSelector("#connection.live");
      await page.waitForSelector("#chart g.candle");
      await expect.poll(afterSeq).not.toBeNull();
      // The table's stream starts from a snapshot; from then on its resume point is a seq.
      expect(subscribed).toEqual([{ afterSeq: null, snapshot: true }]);
      const seen = await afterSeq();
      const eth = () =>
        page.evaluate(() => {
          const rows = [...document.querySelectorAll("tbody tr")];
          const row = rows.find((r) => r.querySelector("td.asset b")?.textContent === "ETH");
          return row?.querySelector('[data-source="COINGECKO"]')?.textContent ?? null;
        });
      const before = await eth();

      proxy.blackhole();
      const items = loadFixture<Item[]>(COINGECKO_TOP250);
      const ethPrice = (items[1]!.current_price as number) * 1.05;
      items[1] = { ...items[1], current_price: ethPrice, last_updated: "2023-05-13T12:00:00.000Z" };
      stack.replay.setCoinGeckoPages([items]);
      const res = await fetch(`${stack.http.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${TEST_API_KEY}` },
        body: JSON.stringify({
          query: "mutation { triggerEtl(input: { sources: [COINGECKO] }) { run { id } } }",
        }),
      });
      const runId = (await res.json()).data.triggerEtl.run.id;
      await expect
        .poll(async () => (await stack.app.gql(`{ etlRun(id: ${runId}) { status } }`)).body.data?.etlRun, {
          timeout: 20_000,
        })
        .toMatchObject({ status: "SUCCEEDED" });
      // Committed and sent, but lost on the silent path: the page still shows the old price.
      expect(await eth()).toBe(before);

      const ethDay = () =>
        page
          .locator('#chart g.candle[data-bucket="2023-05-13T00:00:00.000Z"] title')
          .textContent()
          .then((text) => / C (\$[\d,.]+)/.exec(text ?? "")?.[1]);
      expect(await ethDay()).not.toBe(usd(ethPrice));

      proxy.cut();
      await expect.poll(eth, { timeout: 20_000 }).toBe(usd(ethPrice));
      await expect.poll(ethDay, { timeout: 10_000 }).toBe(usd(ethPrice));
      expect(subscribed).toEqual([
        { afterSeq: null, snapshot: true },
        { afterSeq: seen, snapshot: false },
      ]);
      expect(await afterSeq()).toBeGreaterThan(seen!);
      await page.waitForSelector("#connection.live");
    } finally {
      await page.close();
      await proxy.close();
    }
  });
});
