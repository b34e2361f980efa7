import { mkdirSync } from "node:fs";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, TEST_API_KEY, type TestStack } from "../support/app.ts";
import { launchChromium } from "../support/chromium.ts";
import { COINGECKO_TOP250, loadFixture } from "../support/replay-server.ts";

type Item = Record<string, unknown>;
let stack: TestStack;
let browser: Browser;

beforeAll(async () => {
  stack = await startStack();
  await stack.app.runner.run({ trigger: "CLI", sources: ["COINGECKO", "COINPAPRIKA"] });
  browser = await launchChromium();
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
});
