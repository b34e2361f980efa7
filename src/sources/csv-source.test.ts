import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Papa from "papaparse";
import { describe, expect, it } from "vitest";
import { baseSymbol, createCsvSource } from "./csv-source.ts";
import type { NormalizedRecord, ParsedItem } from "./record.ts";

// The curated CSVs (real captures, other implementations' files, hand-made cases; each named by
// what it shows, provenance in test/fixtures/PROVENANCE.md) and the seed CSV that npm start reads.
const CSV_FIXTURES = "test/fixtures/csv";
const SEED_CSV = "seeds/prices.csv";
const csvFiles = [
  SEED_CSV,
  ...readdirSync(CSV_FIXTURES)
    .filter((f) => f.endsWith(".csv"))
    .map((f) => `${CSV_FIXTURES}/${f}`),
];

async function read(path: string, chunkSize?: number) {
  const items: ParsedItem[] = [];
  const chunks: number[] = [];
  for await (const stream of createCsvSource({ paths: [path], chunkSize }).streams()) {
    for await (const chunk of stream.chunks()) {
      chunks.push(chunk.length);
      items.push(...chunk);
    }
  }
  const records = items.filter((i) => i.ok).map((i) => (i as { record: NormalizedRecord }).record);
  const rejections = items
    .filter((i) => !i.ok)
    .map((i) => (i as { rejection: { reason: string } }).rejection);
  return { items, records, rejections, chunks };
}

function tempCsv(content: string | Buffer, name = "x.csv") {
  const path = join(mkdtempSync(join(tmpdir(), "coinflow-csv-")), name);
  writeFileSync(path, content);
  return path;
}

describe("every CSV in the fixtures and the seed", () => {
  it.each(csvFiles)("%s: accepted + rejected = rows, no crash", async (path) => {
    const expectedRows = Papa.parse(readFileSync(path, "utf8"), { skipEmptyLines: true }).data.length - 1;
    const { records, rejections, items } = await read(path);
    expect(records.length + rejections.length).toBe(expectedRows);
    expect(items.map((i) => (i.ok ? i.record.position : i.rejection.position))).toEqual(
      Array.from({ length: expectedRows }, (_, i) => i),
    );
    for (const r of rejections) expect(r.reason.length).toBeGreaterThan(5);
  });
});

describe("CSV values and layouts", () => {
  it("reads quirky money: $87,000, 4800 USD, $1.7T, 600B", async () => {
    const { records } = await read(`${CSV_FIXTURES}/money-with-signs-separators-and-suffixes.csv`);
    expect(records.map((r) => [r.symbol, r.priceUsd, r.marketCapUsd])).toEqual([
      ["BTC", 87000, 1.7e12],
      ["ETH", 4800, 600e9],
    ]);
  });

  it("reads Excel's 8.61E+11 cells and M/D/YYYY H:MM dates (Kaggle via Excel)", async () => {
    const btc = await read(`${CSV_FIXTURES}/kaggle-excel-exponent-cells-excerpt.csv`);
    expect(btc.rejections).toEqual([]);
    expect(btc.records.some((r) => r.marketCapUsd === 8.61e11 || (r.marketCapUsd ?? 0) > 1e11)).toBe(true);
    const aave = await read(`${CSV_FIXTURES}/kaggle-excel-us-datetimes.csv`);
    expect(aave.records[0]).toMatchObject({ symbol: "AAVE", open: 52.67503496, close: 53.21924296 });
    expect(aave.records[0]!.observedAt.toISOString()).toBe("2020-10-05T23:59:00.000Z");
  });

  it("reads newest-first CryptoDataDownload files with BTCUSD symbols and USD volume", async () => {
    const { records } = await read(`${CSV_FIXTURES}/cryptodatadownload-newest-first-excerpt.csv`);
    expect(records[0]).toMatchObject({
      symbol: "BTC",
      sourceAssetId: "BTC",
      priceUsd: 3988,
      volume24hUsd: 19135016.78,
    });
    expect(records[0]!.observedAt.toISOString()).toBe("2019-03-16T00:00:00.000Z");
  });

  it("reads DD-MM-YYYY HH:MM:SS decided for the whole file", async () => {
    const { records, rejections } = await read(`${CSV_FIXTURES}/dd-mm-yyyy-dates.csv`);
    expect(rejections).toEqual([]);
    expect(records[0]!.observedAt.toISOString()).toBe("2025-12-05T17:43:10.000Z");
  });

  it("reads `YYYY-MM-DD 00:00:00 UTC` and names a symbol-less file's asset with path#SYMBOL", async () => {
    const path = `${CSV_FIXTURES}/coingecko-export-without-symbol.csv`;
    const plain = await read(path);
    expect(plain.records).toEqual([]);
    expect(plain.rejections[0]!.reason).toMatch(/path#SYMBOL/);
    const named = await read(`${path}#BTC`);
    expect(named.records).toHaveLength(3776);
    expect(named.records[0]).toMatchObject({ symbol: "BTC", priceUsd: 135.3 });
    expect(named.records[0]!.observedAt.toISOString()).toBe("2013-04-28T00:00:00.000Z");
    expect(named.records.filter((r) => r.marketCapUsd === null)).toHaveLength(1);
  });

  it("handles a BOM, CRLF line endings and quoted commas", async () => {
    const path = tempCsv(
      '\uFEFFSymbol,Name,Price,Date\r\nBTC,"Bitcoin, the first","87,000",2024-01-02\r\nETH,Ethereum,3000.5,2024-01-02\r\n',
    );
    const { records, rejections } = await read(path);
    expect(rejections).toEqual([]);
    expect(records.map((r) => [r.symbol, r.name, r.priceUsd])).toEqual([
      ["BTC", "Bitcoin, the first", 87000],
      ["ETH", "Ethereum", 3000.5],
    ]);
  });

  it("rejects each bad row with its line and reason, never coercing to 0", async () => {
    const path = tempCsv(
      [
        "symbol,price,market_cap,date",
        "BTC,87000,1.7T,2024-01-02",
        "ETH,,1,2024-01-02",
        "SOL,abc,1,2024-01-02",
        "XRP,0,1,2024-01-02",
        "ADA,-1,1,2024-01-02",
        "DOT,5,lots,2024-01-02",
        "DOGE,0.1,1,not-a-date",
        "LTC,70,1",
        "",
        "BNB,300,1,2024-01-03",
      ].join("\n"),
    );
    const { records, rejections } = await read(path);
    expect(records.map((r) => r.symbol)).toEqual(["BTC", "BNB"]);
    expect(
      rejections.map((r) => [(r as unknown as { location: string }).location.split(":").at(-1), r.reason]),
    ).toEqual([
      ["3", "price: missing"],
      ["4", 'price: not a number: "abc"'],
      ["5", "price: must be positive, got 0"],
      ["6", "price: must be positive, got -1"],
      ["7", 'market_cap: not a number: "lots"'],
      ["8", 'date: "not-a-date" does not match the file\'s date format (iso)'],
      ["9", "row has 3 fields, the header has 4"],
    ]);
  });

  it("streams in chunks of the configured size", async () => {
    const { chunks } = await read(SEED_CSV, 100);
    expect(chunks.slice(0, 10)).toEqual(Array(10).fill(100));
    expect(chunks.reduce((a, b) => a + b, 0)).toBe(1092);
  });

  it("scopes ids to the file and never takes a row number for a coin's id", async () => {
    const path = tempCsv(
      "id,symbol,price,date\n1,BTC,26800,2023-05-13\nbitcoin,BTC,26800,2023-05-14\n7.0,,1,2023-05-15\n",
    );
    const { records, rejections } = await read(path);
    expect(records.map((r) => [r.file, r.sourceAssetId, r.idColumn])).toEqual([
      [path, "BTC", null],
      [path, "bitcoin", "bitcoin"],
    ]);
    expect(rejections.map((r) => r.reason)).toEqual([
      'id: "7.0" is a row number, not a coin, and the row has no symbol: add a symbol column',
    ]);
  });

  it("knows a file of OHLC rows for bars of their length, and a file of closes for points", async () => {
    const daily = await read(`${CSV_FIXTURES}/daily-ohlc-bars.csv`);
    expect(daily.records.map((r) => r.barSeconds)).toEqual([86_400, 86_400]);
    const hourly = await read(
      tempCsv(
        "date,symbol,open,high,low,close\n2024-01-01 00:00,BTC,1,2,0.5,1.5\n2024-01-01 01:00,BTC,1.5,2,1,1.8\n",
      ),
    );
    expect(hourly.records.map((r) => r.barSeconds)).toEqual([3_600, 3_600]);
    const closes = await read(SEED_CSV);
    expect(new Set(closes.records.map((r) => r.barSeconds))).toEqual(new Set([null]));
  });

  it("handles an empty file and a header-only file", async () => {
    expect((await read(tempCsv(""))).items).toEqual([]);
    expect((await read(tempCsv("symbol,price\n"))).items).toEqual([]);
  });

  it.each([
    ["BTCUSD", "BTC"],
    ["BTC-USD", "BTC"],
    ["eth/usd", "ETH"],
    ["USDT", "USDT"],
    ["TUSD", "TUSD"],
    ["BUSD", "BUSD"],
    ["btc", "BTC"],
  ])("strips the quote suffix: %s → %s", (input, expected) => {
    expect(baseSymbol(input)).toBe(expected);
  });
});
