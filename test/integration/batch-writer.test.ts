import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ResolvedRecord, upsertObservations } from "../../src/pipeline/batch-writer.ts";
import type { NormalizedRecord } from "../../src/sources/record.ts";
import { databaseKinds, type TestDatabase } from "../support/databases.ts";

// The write path carries the batch as one JSON parameter: every double must come back bit-exact,
// nulls must stay nulls, and a second write of the same values must write nothing.
const EXTREMES = [
  1e-12,
  0.000_000_05,
  1.5e-323,
  123_456_789.123_456_78,
  0.1 + 0.2,
  1e21,
  1.797_693_134_862_315_7e308,
  42,
];

function record(i: number, price: number): NormalizedRecord {
  return {
    source: "CSV",
    sourceAssetId: `x${i}`,
    file: "x.csv",
    idColumn: null,
    symbol: `X${i}`,
    name: null,
    observedAt: new Date(Date.UTC(2024, 0, 1, 0, 0, 0, i)),
    priceUsd: price,
    marketCapUsd: i % 2 ? null : price / 3,
    volume24hUsd: null,
    change24hPct: -99.999_999_9,
    circulatingSupply: null,
    totalSupply: null,
    maxSupply: 21e6,
    rank: i % 2 ? null : i,
    open: price,
    high: null,
    low: null,
    close: price,
    barSeconds: null,
    position: i,
    location: `row ${i}`,
    raw: null,
  };
}

describe.each(databaseKinds.filter((k) => k.available))("batch writer on $kind", ({ create }) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await create();
  });
  afterAll(() => t.dispose());

  it("stores every value exactly, keeps nulls and rewrites nothing on a second write", async () => {
    const { prisma } = t.db;
    const asset = await prisma.asset.create({ data: { symbol: "X", name: "X" } });
    const run = await prisma.etlRun.create({ data: { trigger: "CLI", requested: ["CSV"] } });
    const rows: ResolvedRecord[] = EXTREMES.map((p, i) => ({ record: record(i, p), assetId: asset.id }));

    const { written: first } = await prisma.$transaction((tx) => upsertObservations(tx, run.id, "CSV", rows));
    expect(first).toHaveLength(EXTREMES.length);
    const stored = await prisma.marketObservation.findMany({ orderBy: { observedAt: "asc" } });
    expect(stored.map((o) => o.priceUsd)).toEqual(EXTREMES);
    for (const [i, o] of stored.entries()) {
      const r = rows[i]!.record;
      expect(o.observedAt).toEqual(r.observedAt);
      expect([
        o.marketCapUsd,
        o.volume24hUsd,
        o.change24hPct,
        o.maxSupply,
        o.rank,
        o.open,
        o.high,
        o.close,
      ]).toEqual([
        r.marketCapUsd,
        r.volume24hUsd,
        r.change24hPct,
        r.maxSupply,
        r.rank,
        r.open,
        r.high,
        r.close,
      ]);
    }
    const latest = await prisma.latestPrice.findUniqueOrThrow({
      where: { assetId_source: { assetId: asset.id, source: "CSV" } },
    });
    expect(latest.priceUsd).toBe(EXTREMES.at(-1));

    // The same run writing the same keys again: nothing rewritten, every key reported as repeated.
    const again = await prisma.$transaction((tx) => upsertObservations(tx, run.id, "CSV", rows));
    expect(again.written).toEqual([]);
    expect(again.repeated.size).toBe(EXTREMES.length);
    const other = await prisma.etlRun.create({ data: { trigger: "CLI", requested: ["CSV"] } });
    const later = await prisma.$transaction((tx) => upsertObservations(tx, other.id, "CSV", rows));
    expect(later).toEqual({ written: [], repeated: new Set() });
  });
});
