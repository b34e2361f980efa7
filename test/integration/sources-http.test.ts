import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/config.ts";
import { createScrubber } from "../../src/security/scrubber.ts";
import { createSources } from "../../src/sources/create-sources.ts";
import type { RetryEvent } from "../../src/sources/http-client.ts";
import type { MarketSource, ParsedItem, SourceStream } from "../../src/sources/record.ts";
import { UpstreamError } from "../../src/sources/upstream-error.ts";
import {
  COINGECKO_TOP250,
  COINPAPRIKA_TICKERS,
  loadFixture,
  type ReplayServer,
  startReplayServer,
} from "../support/replay-server.ts";

const KEY = "CG-test-secret-key-123";
let replay: ReplayServer;

beforeAll(async () => {
  replay = await startReplayServer();
});
afterAll(() => replay.close());
afterEach(() => {
  replay.clearFaults();
  replay.requests.length = 0;
  replay.setCoinGeckoPages([loadFixture<unknown[]>(COINGECKO_TOP250)]);
});

function sources(env: Record<string, string> = {}, onRetry?: (e: RetryEvent) => void) {
  const config = parseConfig({
    COINGECKO_BASE_URL: replay.coingeckoBase,
    COINPAPRIKA_BASE_URL: replay.coinpaprikaBase,
    HTTP_TIMEOUT_MS: "1000",
    HTTP_MAX_ATTEMPTS: "3",
    HTTP_BACKOFF_BASE_MS: "20",
    HTTP_BACKOFF_MAX_MS: "100",
    ...env,
  });
  return createSources(config.sources, { onRetry });
}

async function drain(source: MarketSource) {
  const streams: SourceStream[] = [];
  const items: ParsedItem[] = [];
  for await (const s of source.streams()) {
    streams.push(s);
    for await (const chunk of s.chunks()) items.push(...chunk);
  }
  return { streams, items };
}

describe("CoinGecko against the replay server", () => {
  it("fetches the real top-250 page and normalizes it", async () => {
    const { streams, items } = await drain(sources().get("COINGECKO")!);
    expect(streams).toHaveLength(1);
    expect(items.filter((i) => i.ok)).toHaveLength(250);
    expect(replay.requests[0]?.query).toMatchObject({
      vs_currency: "usd",
      order: "market_cap_desc",
      per_page: "250",
      page: "1",
      price_change_percentage: "24h",
    });
  });

  it("pages until a short page, and never past COINGECKO_MAX_PAGES", async () => {
    const full = loadFixture<unknown[]>(COINGECKO_TOP250);
    replay.setCoinGeckoPages([full, full, full.slice(0, 10), full]);
    const { streams } = await drain(sources({ COINGECKO_MAX_PAGES: "10" }).get("COINGECKO")!);
    expect(streams.map((s) => s.name)).toEqual([
      "coins/markets?page=1",
      "coins/markets?page=2",
      "coins/markets?page=3",
    ]);
    replay.requests.length = 0;
    await drain(sources({ COINGECKO_MAX_PAGES: "2" }).get("COINGECKO")!);
    expect(replay.requests.map((r) => r.query.page)).toEqual(["1", "2"]);
  });

  it("waits out a 429 with Retry-After: 2 and then succeeds", async () => {
    replay.fault("coingecko", { kind: "status", status: 429, headers: { "retry-after": "2" } });
    const retries: RetryEvent[] = [];
    const { items } = await drain(sources({}, (e) => retries.push(e)).get("COINGECKO")!);
    expect(items.length).toBe(250);
    expect(replay.requests).toHaveLength(2);
    expect(replay.requests[1]!.at - replay.requests[0]!.at).toBeGreaterThanOrEqual(2000);
    expect(retries).toEqual([expect.objectContaining({ status: 429, delayMs: 2000 })]);
  });

  it("honours Retry-After given as an HTTP date", async () => {
    const at = new Date(Date.now() + 1500).toUTCString();
    replay.fault("coingecko", { kind: "status", status: 429, headers: { "retry-after": at } });
    await drain(sources().get("COINGECKO")!);
    expect(replay.requests[1]!.at - replay.requests[0]!.at).toBeGreaterThanOrEqual(400);
  });

  it("caps a long Retry-After at HTTP_RETRY_AFTER_MAX_MS", async () => {
    replay.fault("coingecko", { kind: "status", status: 429, headers: { "retry-after": "119" } });
    const started = Date.now();
    await drain(sources({ HTTP_RETRY_AFTER_MAX_MS: "300" }).get("COINGECKO")!);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("fails a permanent 500 after the configured attempts with a typed transient error", async () => {
    replay.fault("coingecko", { kind: "status", status: 500, body: "Internal error" }, { always: true });
    const error = await drain(sources().get("COINGECKO")!).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ kind: "transient", status: 500, attempts: 3, source: "COINGECKO" });
    expect(replay.requests).toHaveLength(3);
  });

  it("does not retry a 404 and classifies it permanent", async () => {
    replay.fault("coingecko", { kind: "status", status: 404, body: '{"error":"Could not find coin"}' });
    const error = await drain(sources().get("COINGECKO")!).catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: "permanent", status: 404, attempts: 1 });
    expect((error as Error).message).toContain("Could not find coin");
  });

  it("fails a hang at the timeout", async () => {
    replay.fault("coingecko", { kind: "hang" }, { always: true });
    const started = Date.now();
    const error = await drain(
      sources({ HTTP_MAX_ATTEMPTS: "1", HTTP_TIMEOUT_MS: "500" }).get("COINGECKO")!,
    ).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(error).toMatchObject({ kind: "transient", status: null });
    expect((error as Error).message).toMatch(/timed out after 500 ms/);
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(5000);
  });

  it("fails a body that stalls half-way at the timeout, whole response included", async () => {
    replay.fault("coingecko", { kind: "stall" }, { always: true });
    const started = Date.now();
    const error = await drain(
      sources({ HTTP_MAX_ATTEMPTS: "2", HTTP_TIMEOUT_MS: "500" }).get("COINGECKO")!,
    ).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(error).toMatchObject({ kind: "transient", status: 200, attempts: 2 });
    expect((error as Error).message).toMatch(/timed out after 500 ms while reading the body/);
    expect(replay.requests).toHaveLength(2);
    // Safety bound only: before the fix this waited forever (the run, its lock, every replica).
    expect(elapsed).toBeLessThan(8000);
  });

  it.each([
    ["declares", true],
    ["streams without declaring", false],
  ])("refuses a body that %s more than HTTP_MAX_BODY_BYTES as permanent, once", async (_how, declared) => {
    replay.fault("coingecko", { kind: "huge", bytes: 3_000_000, declared }, { always: true });
    const error = await drain(sources({ HTTP_MAX_BODY_BYTES: "1000000" }).get("COINGECKO")!).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ kind: "permanent", status: 200, attempts: 1 });
    expect((error as Error).message).toMatch(/over HTTP_MAX_BODY_BYTES \(1000000\)/);
    expect(replay.requests).toHaveLength(1);
  });

  it("retries a connection reset and an HTML error page, then succeeds", async () => {
    replay.fault("coingecko", { kind: "reset" });
    replay.fault("coingecko", { kind: "html", status: 503 });
    const { items } = await drain(sources().get("COINGECKO")!);
    expect(items).toHaveLength(250);
    expect(replay.requests).toHaveLength(3);
  });

  it("classifies a truncated body as a permanent corrupt payload", async () => {
    replay.fault("coingecko", { kind: "truncated" });
    const error = await drain(sources().get("COINGECKO")!).catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: "permanent" });
    expect((error as Error).message).toMatch(/corrupt payload/);
  });

  it("keeps the rate limit across pages and retries", async () => {
    const full = loadFixture<unknown[]>(COINGECKO_TOP250);
    replay.setCoinGeckoPages([full, full, full]);
    replay.fault("coingecko", { kind: "status", status: 503 }, { times: 2 });
    const src = sources({ COINGECKO_MAX_PAGES: "3", COINGECKO_RATE_LIMIT_PER_MINUTE: "1000" }).get(
      "COINGECKO",
    )!;
    await drain(src);
    expect(replay.requests).toHaveLength(5);
  });

  it.each([
    ["demo", "x-cg-demo-api-key"],
    ["pro", "x-cg-pro-api-key"],
  ])("sends the %s key in %s and never shows it in errors or the archived request", async (plan, header) => {
    replay.fault("coingecko", { kind: "status", status: 500 }, { always: true });
    const error = await drain(
      sources({ COINGECKO_API_KEY: KEY, COINGECKO_API_PLAN: plan, HTTP_MAX_ATTEMPTS: "1" }).get("COINGECKO")!,
    ).catch((e: UpstreamError) => e);
    expect(replay.requests[0]?.headers[header]).toBe(KEY);
    expect(String(error)).not.toContain(KEY);
    expect(JSON.stringify(error)).not.toContain(KEY);
    replay.clearFaults();
    const { streams } = await drain(
      sources({ COINGECKO_API_KEY: KEY, COINGECKO_API_PLAN: plan }).get("COINGECKO")!,
    );
    expect(streams[0]?.payload.request.headers[header]).toBe("[REDACTED]");
    expect(JSON.stringify(streams[0]?.payload.request)).not.toContain(KEY);
  });

  it.each([
    ["the error summary's 200-character cut falls inside it", "plain", 190],
    ["it comes \\u-escaped in a JSON message", "json-escaped", 0],
    ["it comes \\u-escaped and the summary's cut falls inside it", "json-escaped", 190],
    // 64,990 characters, then the key: the read keeps whole 1,000-byte chunks up to 64 KB (65,000).
    ["the 64 KB read stops inside it", "chunked", 64_990],
  ] as const)("shows no part of an echoed key when %s", async (_case, shape, padding) => {
    replay.fault("coingecko", { kind: "echo", status: 401, header: "x-cg-demo-api-key", padding, shape });
    const config = parseConfig({
      COINGECKO_BASE_URL: replay.coingeckoBase,
      COINPAPRIKA_BASE_URL: replay.coinpaprikaBase,
      COINGECKO_API_KEY: KEY,
      HTTP_MAX_ATTEMPTS: "1",
    });
    const scrub = createScrubber([KEY]);
    const error = await drain(createSources(config.sources, { scrub }).get("COINGECKO")!).catch((e) => e);
    expect(error).toBeInstanceOf(UpstreamError);
    expect(replay.requests.at(-1)?.headers["x-cg-demo-api-key"]).toBe(KEY);
    const message = String(error.message);
    // The cut falls 10 characters into the key: those 10 are the part that must not show.
    expect(message).not.toContain(KEY.slice(0, 10));
    expect(message).toContain("[REDACTED]");
  });

  it("works keyless: no key header at all", async () => {
    await drain(sources().get("COINGECKO")!);
    expect(replay.requests[0]?.headers["x-cg-demo-api-key"]).toBeUndefined();
    expect(replay.requests[0]?.headers["x-cg-pro-api-key"]).toBeUndefined();
  });
});

describe("rate limiter against the replay server", () => {
  it("never sends more requests than configured per window", async () => {
    const full = loadFixture<unknown[]>(COINGECKO_TOP250);
    replay.setCoinGeckoPages([full, full, full, full]);
    // 2 per minute: the third page request must wait; abort it instead of waiting a minute.
    const src = sources({ COINGECKO_MAX_PAGES: "4", COINGECKO_RATE_LIMIT_PER_MINUTE: "2" }).get("COINGECKO")!;
    const controller = new AbortController();
    const seen: string[] = [];
    const run = (async () => {
      for await (const s of src.streams({ signal: controller.signal })) seen.push(s.name);
    })();
    await new Promise((r) => setTimeout(r, 1500));
    controller.abort(new Error("test done"));
    await expect(run).rejects.toThrow("test done");
    expect(replay.requests).toHaveLength(2);
    expect(seen).toHaveLength(2);
  });
});

describe("CoinPaprika against the replay server", () => {
  it("keeps the first COINPAPRIKA_MAX_ASSETS tickers by rank", async () => {
    const { items } = await drain(sources({ COINPAPRIKA_MAX_ASSETS: "100" }).get("COINPAPRIKA")!);
    expect(items).toHaveLength(100);
    const ranks = items.map((i) => (i.ok ? i.record.rank : null));
    expect(ranks.slice(0, 3)).toEqual([1, 2, 3]);
    expect(replay.requests[0]?.query).toEqual({ quotes: "USD" });
  });

  it("rejects a ticker without a USD quote with that reason", async () => {
    const tickers = loadFixture<Record<string, unknown>[]>(COINPAPRIKA_TICKERS).slice(0, 3);
    replay.setCoinPaprikaTickers([{ ...tickers[0], quotes: { EUR: {} } }, ...tickers.slice(1)]);
    const { items } = await drain(sources().get("COINPAPRIKA")!);
    expect(items[0]).toMatchObject({ ok: false, rejection: { reason: "no USD quote (quotes: EUR)" } });
    expect(items.filter((i) => i.ok)).toHaveLength(2);
  });
});
