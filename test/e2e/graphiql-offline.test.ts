import { mkdirSync } from "node:fs";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, TEST_API_KEY, type TestStack } from "../support/app.ts";
import { launchChromium } from "../support/chromium.ts";

let stack: TestStack;
let browser: Browser;

const isLoopback = (url: string) => {
  const { protocol, hostname } = new URL(url);
  if (protocol === "data:" || protocol === "blob:" || protocol === "about:") return true;
  return hostname === "127.0.0.1" || hostname === "localhost" || hostname === "[::1]";
};

beforeAll(async () => {
  stack = await startStack();
  await stack.app.runner.run({ trigger: "CLI", sources: ["COINGECKO"] });
  browser = await launchChromium([
    // Offline for real, below the page: every non-loopback request goes to a proxy that does
    // not exist (loopback bypasses proxies), so a CDN fetch fails as it does on an air-gapped box.
    "--proxy-server=http://127.0.0.1:9",
  ]);
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

/** A context whose every non-loopback request is aborted and recorded (workers' requests too). */
async function offlineContext(): Promise<{ context: BrowserContext; outside: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const outside: string[] = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (isLoopback(url)) return route.continue();
    outside.push(url);
    return route.abort("internetdisconnected");
  });
  context.on("request", (request) => {
    if (!isLoopback(request.url()) && !outside.includes(request.url())) outside.push(request.url());
  });
  return { context, outside };
}

async function openGraphiQL(page: Page) {
  await page.goto(`${stack.http.url}/graphql`);
  // The editor rendered: GraphiQL's shell and a Monaco query editor holding the default query.
  await page.waitForSelector(".graphiql-container", { timeout: 30_000 });
  await page.waitForFunction(
    () => document.querySelector(".graphiql-query-editor .view-lines")?.textContent?.includes("assets"),
    undefined,
    { timeout: 30_000 },
  );
}

const responseText = (page: Page) =>
  page.evaluate(() =>
    (document.querySelector(".graphiql-response .view-lines")?.textContent ?? "").replace(/\u00a0/g, " "),
  );

/** Replaces the query editor's text (insertText: no bracket auto-closing as typing would do). */
async function setQuery(page: Page, query: string) {
  await page.click(".graphiql-query-editor .view-lines");
  await page.keyboard.press("ControlOrMeta+A");
  await page.keyboard.press("Backspace");
  await page.keyboard.insertText(query);
}

describe("GraphiQL in headless Chromium with every non-loopback request blocked", () => {
  it("renders the editor, runs the default query and shows the result", async () => {
    const { context, outside } = await offlineContext();
    const page = await context.newPage();
    const failed: string[] = [];
    page.on("requestfailed", (r) => failed.push(`${r.url()} ${r.failure()?.errorText}`));
    await openGraphiQL(page);
    await page.click(".graphiql-execute-button");
    await page.waitForFunction(
      () => document.querySelector(".graphiql-response .view-lines")?.textContent?.includes("totalCount"),
      undefined,
      { timeout: 30_000 },
    );
    const text = await responseText(page);
    expect(text).toContain('"symbol": "BTC"');
    expect(text).not.toContain('"errors"');
    mkdirSync("test-results", { recursive: true });
    await page.screenshot({ path: "test-results/graphiql-offline.png" });
    expect(outside, `requests that left the machine:\n${outside.join("\n")}`).toEqual([]);
    expect(failed, failed.join("\n")).toEqual([]);
    await context.close();
  });

  it("runs a subscription over graphql-ws on the same path and shows its events", async () => {
    const { context, outside } = await offlineContext();
    const page = await context.newPage();
    const sockets: string[] = [];
    page.on("websocket", (ws) => sockets.push(ws.url()));
    await openGraphiQL(page);
    await setQuery(page, "subscription { etlRunEvents { runId status } }");
    await page.click(".graphiql-execute-button");
    // The subscription is open once GraphiQL's socket is; then a run's events reach the pane.
    await expect.poll(() => sockets.length, { timeout: 15_000 }).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 500));
    const res = await fetch(`${stack.http.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${TEST_API_KEY}` },
      body: JSON.stringify({ query: "mutation { triggerEtl(input: { sources: [CSV] }) { run { id } } }" }),
    });
    expect((await res.json()).errors).toBeUndefined();
    await page.waitForFunction(
      () => document.querySelector(".graphiql-response .view-lines")?.textContent?.includes('"status"'),
      undefined,
      { timeout: 30_000 },
    );
    expect(await responseText(page)).toContain('"etlRunEvents"');
    expect(sockets).toEqual([`${stack.http.wsUrl}`]);
    expect(outside, `requests that left the machine:\n${outside.join("\n")}`).toEqual([]);
    await context.close();
  });
});
