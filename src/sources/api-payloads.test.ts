import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { normalizeCoinGeckoItem } from "./coingecko.ts";
import { normalizeCoinPaprikaTicker } from "./coinpaprika.ts";
import type { ParsedItem } from "./record.ts";

const load = (path: string) => JSON.parse(readFileSync(path, "utf8"));
const filesIn = (dir: string) => readdirSync(dir).map((f) => `${dir}/${f}`);
// Every recorded payload: the ones the demo and the replay server serve (seeds/demo) and the
// other captures, which differ in era and encoding (test/fixtures/PROVENANCE.md).
const DEMO_COINGECKO = "seeds/demo/coingecko-markets.json";
const DEMO_COINPAPRIKA = "seeds/demo/coinpaprika-tickers.json";
const coingeckoFiles = [DEMO_COINGECKO, ...filesIn("test/fixtures/coingecko")];
const paprikaFiles = [DEMO_COINPAPRIKA, ...filesIn("test/fixtures/coinpaprika")];

function tally(items: ParsedItem[]) {
  const ok = items.filter((i) => i.ok).length;
  const rejected = items.filter((i) => !i.ok);
  for (const r of rejected) if (!r.ok) expect(r.rejection.reason).toMatch(/\w+: |no USD quote/);
  return { ok, rejected: rejected.length, total: items.length };
}

describe("every real CoinGecko /coins/markets payload", () => {
  it.each(coingeckoFiles)("%s: each item becomes a record or a precise rejection", (file) => {
    const raw = load(file) as unknown[];
    const items = raw.map((r, i) => normalizeCoinGeckoItem(r, i, `item ${i + 1}`));
    const { ok, rejected, total } = tally(items);
    expect(ok + rejected).toBe(raw.length);
    expect(total).toBe(raw.length);
    expect(ok).toBeGreaterThan(raw.length * 0.95);
  });

  it("keeps exponent notation, supplies as floats and nulls as they are", () => {
    const raw = load("test/fixtures/coingecko/markets-2023-01-exponent-prices.json") as {
      current_price: number;
    }[];
    const tiny = raw.findIndex((r) => r.current_price < 1e-6);
    const item = normalizeCoinGeckoItem(raw[tiny], tiny, "x");
    expect(item.ok && item.record.priceUsd).toBe(raw[tiny]!.current_price);
    const btc = normalizeCoinGeckoItem(load(DEMO_COINGECKO)[0], 0, "x");
    expect(btc).toMatchObject({
      ok: true,
      record: { sourceAssetId: "bitcoin", symbol: "BTC", priceUsd: 26816, change24hPct: 1.68697, rank: 1 },
    });
    expect(btc.ok && btc.record.observedAt.toISOString()).toBe("2023-05-13T10:37:59.082Z");
  });

  it("rejects a null price with the field named, and keeps unknown extra fields in raw", () => {
    const item = {
      ...load(DEMO_COINGECKO)[0],
      current_price: null,
      extra: 1,
    };
    expect(normalizeCoinGeckoItem(item, 0, "page 1 item 1")).toMatchObject({
      ok: false,
      rejection: { reason: "current_price: missing (null)", location: "page 1 item 1" },
    });
    const ok = normalizeCoinGeckoItem({ ...item, current_price: 1 }, 0, "x");
    expect(ok.ok && (ok.record.raw as { extra: number }).extra).toBe(1);
  });

  it("reads a number that drifted into a string, and rejects one that is not a number", () => {
    const base = load(DEMO_COINGECKO)[0];
    expect(normalizeCoinGeckoItem({ ...base, current_price: "26816.5" }, 0, "x")).toMatchObject({
      ok: true,
      record: { priceUsd: 26816.5 },
    });
    expect(normalizeCoinGeckoItem({ ...base, market_cap: "lots" }, 0, "x")).toMatchObject({
      ok: false,
      rejection: { reason: expect.stringContaining("market_cap") },
    });
  });
});

describe("every real CoinPaprika /v1/tickers payload", () => {
  it.each(paprikaFiles)("%s: each ticker becomes a record or a precise rejection", (file) => {
    const raw = load(file) as unknown[];
    const items = raw.map((r, i) => normalizeCoinPaprikaTicker(r, i, `ticker ${i + 1}`));
    const { ok, rejected } = tally(items);
    expect(ok + rejected).toBe(raw.length);
    if (file.includes("KRW")) {
      expect(ok).toBe(0);
      const first = items[0]!;
      expect(!first.ok && first.rejection.reason).toBe("no USD quote (quotes: KRW)");
    } else {
      expect(ok).toBeGreaterThan(raw.length * 0.95);
    }
  });

  it("accepts the 2019 schema with null ath fields, and reads max_supply 0 as unknown", () => {
    const old = load("test/fixtures/coinpaprika/tickers-2019-old-schema-excerpt.json") as {
      quotes: { USD: { ath_price: unknown } };
    }[];
    const nullAth = old.findIndex((t) => t.quotes.USD.ath_price === null);
    expect(normalizeCoinPaprikaTicker(old[nullAth], nullAth, "x").ok).toBe(true);
    const current = load(DEMO_COINPAPRIKA) as {
      max_supply: number;
    }[];
    const zero = current.findIndex((t) => t.max_supply === 0);
    const item = normalizeCoinPaprikaTicker(current[zero], zero, "x");
    expect(item.ok && item.record.maxSupply).toBeNull();
  });

  it("accepts the free plan's missing circulating_supply", () => {
    const t = { ...load(DEMO_COINPAPRIKA)[0] };
    delete t.circulating_supply;
    expect(normalizeCoinPaprikaTicker(t, 0, "x")).toMatchObject({
      ok: true,
      record: { circulatingSupply: null },
    });
  });

  it("maps the price change percent, not the market-cap change, to change24hPct", () => {
    const btc = normalizeCoinPaprikaTicker(load(DEMO_COINPAPRIKA)[0], 0, "x");
    expect(btc).toMatchObject({ ok: true, record: { sourceAssetId: "btc-bitcoin", change24hPct: -0.26 } });
  });
});
