import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { normalizeCoinGeckoItem } from "../sources/coingecko.ts";
import { normalizeCoinPaprikaTicker } from "../sources/coinpaprika.ts";
import type { NormalizedRecord, ParsedItem } from "../sources/record.ts";
import { createIdentityResolver, type IdentityDecision, type ResolveOptions } from "./identity.ts";

const fixture = (path: string) => JSON.parse(readFileSync(path, "utf8"));
const records = (items: ParsedItem[]) =>
  items.filter((i): i is Extract<ParsedItem, { ok: true }> => i.ok).map((i) => i.record);

const coingecko250 = records(
  (fixture("seeds/demo/coingecko-markets.json") as unknown[]).map((raw, i) =>
    normalizeCoinGeckoItem(raw, i, `item ${i}`),
  ),
);
const paprikaAll = fixture("seeds/demo/coinpaprika-tickers.json") as {
  rank: number;
}[];
const paprika500 = records(
  [...paprikaAll]
    .sort((a, b) => a.rank - b.rank)
    .slice(0, 500)
    .map((raw, i) => normalizeCoinPaprikaTicker(raw, i, `ticker ${i}`)),
);

/** Resolves records in order the way the pipeline does, creating assets and mappings as it goes. */
function resolveAll(...batches: NormalizedRecord[][]) {
  return resolveWith({}, ...batches);
}

function resolveWith(options: ResolveOptions, ...batches: NormalizedRecord[][]) {
  const resolver = createIdentityResolver({ assets: [], mappings: [] });
  let nextId = 1;
  const assetOf = new Map<string, number>();
  const decisions: { record: NormalizedRecord; decision: IdentityDecision }[] = [];
  for (const record of batches.flat()) {
    const decision = resolver.resolve(record, options);
    decisions.push({ record, decision });
    if (decision.kind === "reject") continue;
    let assetId: number;
    if (decision.kind === "new") {
      assetId = nextId++;
      resolver.addAsset({ id: assetId, ...decision.asset });
    } else {
      assetId = decision.assetId;
    }
    if (decision.kind !== "existing") {
      resolver.addMapping({
        assetId,
        source: record.source,
        file: record.file,
        sourceAssetId: record.sourceAssetId,
        symbol: record.symbol,
      });
    }
    assetOf.set(`${record.source}:${record.file ? `${record.file}#` : ""}${record.sourceAssetId}`, assetId);
  }
  return { assetOf, decisions, resolver };
}

describe("identity resolution on the real CoinGecko top-250 and CoinPaprika top-500", () => {
  const { assetOf, decisions } = resolveAll(coingecko250, paprika500);
  const expected = fixture("test/fixtures/identity/coingecko-coinpaprika-top100.json").pairs as {
    coingecko: string;
    coinpaprika: string | null;
  }[];

  it("maps the top 100 CoinGecko coins to the right CoinPaprika ids (at least 98 %)", () => {
    const paprikaOfAsset = new Map<number, string>();
    for (const [k, id] of assetOf) if (k.startsWith("COINPAPRIKA:")) paprikaOfAsset.set(id, k.slice(12));
    let right = 0;
    const wrong: string[] = [];
    for (const pair of expected) {
      const got = paprikaOfAsset.get(assetOf.get(`COINGECKO:${pair.coingecko}`)!) ?? null;
      if (got === pair.coinpaprika) right++;
      else wrong.push(`${pair.coingecko}: expected ${pair.coinpaprika}, got ${got}`);
    }
    expect(right / expected.length, wrong.join("\n")).toBeGreaterThanOrEqual(0.98);
  });

  it.each([
    ["bitcoin", "btc-bitcoin"],
    ["binancecoin", "bnb-binance-coin"],
    ["staked-ether", "steth-lido-staked-ether"],
    ["matic-network", "matic-polygon"],
    ["avalanche-2", "avax-avalanche"],
    ["ripple", "xrp-xrp"],
    ["usd-coin", "usdc-usd-coin"],
    ["tron", "trx-tron"],
  ])("joins %s with %s", (cg, cp) => {
    expect(assetOf.get(`COINGECKO:${cg}`)).toBeDefined();
    expect(assetOf.get(`COINPAPRIKA:${cp}`)).toBe(assetOf.get(`COINGECKO:${cg}`));
  });

  it("never merges two CoinPaprika coins that share a symbol (HEX, IQ, …)", () => {
    const bySymbol = new Map<string, Set<string>>();
    for (const r of paprika500) {
      const ids = bySymbol.get(r.symbol!) ?? new Set();
      ids.add(r.sourceAssetId);
      bySymbol.set(r.symbol!, ids);
    }
    const shared = [...bySymbol].filter(([, ids]) => ids.size > 1);
    expect(shared.length).toBeGreaterThan(0);
    for (const [, ids] of shared) {
      const assets = [...ids].map((id) => assetOf.get(`COINPAPRIKA:${id}`));
      expect(new Set(assets).size).toBe(ids.size);
    }
  });

  it("gives every decision a reason and a confidence in 0..1", () => {
    for (const { decision } of decisions) {
      expect(decision.reason.length).toBeGreaterThan(0);
      if (decision.kind !== "reject") {
        expect(decision.confidence).toBeGreaterThan(0);
        expect(decision.confidence).toBeLessThanOrEqual(1);
      }
    }
  });
});

describe("identity resolution on the 2025 CoinGecko page with symbol collisions", () => {
  const page = records(
    (fixture("test/fixtures/coingecko/markets-2025-12-symbol-collisions.json") as unknown[]).map((raw, i) =>
      normalizeCoinGeckoItem(raw, i, `item ${i}`),
    ),
  );
  const { assetOf } = resolveAll(page);

  it.each(["SOL", "WETH", "USDC"])("keeps the two CoinGecko coins with symbol %s apart", (symbol) => {
    const ids = page.filter((r) => r.symbol === symbol).map((r) => r.sourceAssetId);
    expect(ids).toHaveLength(2);
    expect(assetOf.get(`COINGECKO:${ids[0]}`)).not.toBe(assetOf.get(`COINGECKO:${ids[1]}`));
  });
});

describe("identity resolution for CSV rows", () => {
  const base = coingecko250.slice(0, 20);
  const csv = (over: Partial<NormalizedRecord>): NormalizedRecord => ({
    ...base[0]!,
    source: "CSV",
    file: "x.csv",
    idColumn: null,
    name: null,
    rank: null,
    location: "x.csv:2",
    ...over,
  });
  const cgId = (id: string) => coingecko250.find((r) => r.sourceAssetId === id)!;

  it("uses an id column equal to a CoinGecko id", () => {
    const { assetOf, decisions } = resolveAll(base, [
      csv({ sourceAssetId: "ethereum", idColumn: "ethereum", symbol: "ETH", priceUsd: 1600 }),
    ]);
    expect(decisions.at(-1)?.decision).toMatchObject({ kind: "join", matchedBy: "id-column" });
    expect(assetOf.get("CSV:x.csv#ethereum")).toBe(assetOf.get("COINGECKO:ethereum"));
  });

  it("never treats a symbol as an id: LINK joins Chainlink, not the coin whose CoinGecko id is `link`", () => {
    const link: NormalizedRecord = {
      ...cgId("chainlink"),
      sourceAssetId: "link",
      symbol: "LN",
      name: "Link",
      rank: 900,
      priceUsd: 0.4,
    };
    const { assetOf, decisions } = resolveAll(
      coingecko250,
      [link],
      [csv({ sourceAssetId: "LINK", symbol: "LINK" })],
    );
    expect(decisions.at(-1)?.decision).toMatchObject({ kind: "join", matchedBy: "symbol" });
    expect(assetOf.get("CSV:x.csv#LINK")).toBe(assetOf.get("COINGECKO:chainlink"));
    expect(assetOf.get("CSV:x.csv#LINK")).not.toBe(assetOf.get("COINGECKO:link"));
  });

  it("refuses an id-column join whose symbol or name contradicts the asset", () => {
    const bySymbol = resolveAll(base, [
      csv({ sourceAssetId: "bitcoin", idColumn: "bitcoin", symbol: "SOL" }),
    ]);
    expect(bySymbol.decisions.at(-1)?.decision).toMatchObject({
      kind: "reject",
      reason: expect.stringMatching(/^id bitcoin is COINGECKO's id, but symbol SOL contradicts/),
    });
    const byName = resolveAll(base, [
      csv({ sourceAssetId: "bitcoin", idColumn: "bitcoin", symbol: "BTC", name: "Solana" }),
    ]);
    expect(byName.decisions.at(-1)?.decision).toMatchObject({
      kind: "reject",
      reason: expect.stringMatching(/name "Solana" contradicts/),
    });
  });

  it.each(["比特币", "Биткоин", "比特币 2023"])(
    "takes a name without Latin words (%s) as no evidence against a join",
    (name) => {
      const { assetOf, decisions } = resolveAll(base, [
        csv({ sourceAssetId: "bitcoin", idColumn: "bitcoin", symbol: "BTC", name }),
      ]);
      expect(decisions.at(-1)?.decision).toMatchObject({ kind: "join", matchedBy: "id-column" });
      expect(assetOf.get("CSV:x.csv#bitcoin")).toBe(assetOf.get("COINGECKO:bitcoin"));
    },
  );

  it("scopes ids to their file: the same id in two files names two coins", () => {
    const { assetOf } = resolveAll(base, [
      csv({ file: "a.csv", sourceAssetId: "c1", symbol: "BTC", priceUsd: 26_000 }),
      csv({ file: "b.csv", sourceAssetId: "c1", symbol: "SOL", priceUsd: 20 }),
    ]);
    expect(assetOf.get("CSV:a.csv#c1")).toBe(assetOf.get("COINGECKO:bitcoin"));
    expect(assetOf.get("CSV:b.csv#c1")).toBe(assetOf.get("COINGECKO:solana"));
  });

  it("rejects a row whose symbol contradicts what its id was mapped to in the same file", () => {
    const { decisions } = resolveAll(base, [
      csv({ sourceAssetId: "c1", symbol: "BTC" }),
      csv({ sourceAssetId: "c1", symbol: "SOL" }),
    ]);
    expect(decisions.at(-1)?.decision).toMatchObject({
      kind: "reject",
      reason: "id c1 of this file is mapped to BTC; this row says SOL",
    });
  });

  it("joins a symbol-only row to the top-ranked asset with that symbol", () => {
    const near = resolveAll(base, [csv({ sourceAssetId: "BTC", symbol: "BTC", priceUsd: 26_800 })]);
    expect(near.decisions.at(-1)?.decision).toMatchObject({
      kind: "join",
      matchedBy: "symbol",
      confidence: 0.9,
    });
  });

  it("refuses a join whose price is far from the asset's own near the same date, and says why", () => {
    const reference = () => ({
      priceUsd: 26_816,
      source: "COINGECKO" as const,
      observedAt: new Date("2023-09-01"),
    });
    const { decisions } = resolveWith({ reference }, base, [
      csv({ sourceAssetId: "BTC", symbol: "BTC", priceUsd: 1.5 }),
    ]);
    expect(decisions.at(-1)?.decision).toMatchObject({
      kind: "reject",
      reason: expect.stringMatching(
        /^not joining BTC: price 1\.5 is 17877\.3x from BTC's own 26816 \(COINGECKO at 2023-09-01/,
      ),
    });
  });

  it("picks the asset whose price agrees when two share a symbol", () => {
    const other: NormalizedRecord = {
      ...cgId("solana"),
      sourceAssetId: "wrapped-sol-clone",
      name: "Sol Clone",
      rank: 800,
      priceUsd: 0.05,
    };
    const { assetOf, decisions, resolver } = resolveAll(coingecko250, [other]);
    void decisions;
    const solana = assetOf.get("COINGECKO:solana")!;
    const clone = assetOf.get("COINGECKO:wrapped-sol-clone")!;
    expect(clone).not.toBe(solana);
    const prices = new Map([
      [solana, 20],
      [clone, 0.05],
    ]);
    const reference = (id: number) => ({
      priceUsd: prices.get(id)!,
      source: "COINGECKO" as const,
      observedAt: new Date(),
    });
    const decision = resolver.resolve(csv({ sourceAssetId: "SOL", symbol: "SOL", priceUsd: 0.051 }), {
      reference,
    });
    expect(decision).toMatchObject({ kind: "join", assetId: clone });
  });

  it("rejects a row with an unknown id and no symbol", () => {
    const { decisions } = resolveAll([csv({ sourceAssetId: "csv_1", symbol: null })]);
    expect(decisions[0]?.decision).toMatchObject({ kind: "reject" });
  });

  it("creates a new asset for a symbol nobody knows", () => {
    const { decisions } = resolveAll(base, [csv({ sourceAssetId: "MCOIN", symbol: "MCOIN" })]);
    expect(decisions.at(-1)?.decision).toMatchObject({ kind: "new", asset: { symbol: "MCOIN" } });
  });
});
