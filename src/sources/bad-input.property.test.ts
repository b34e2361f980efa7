import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { normalizeCoinGeckoItem } from "./coingecko.ts";
import { normalizeCoinPaprikaTicker } from "./coinpaprika.ts";

const gecko = JSON.parse(readFileSync("seeds/demo/coingecko-markets.json", "utf8")) as Record<
  string,
  unknown
>[];
const paprika = JSON.parse(readFileSync("seeds/demo/coinpaprika-tickers.json", "utf8")) as Record<
  string,
  unknown
>[];

/** Values that break naive parsers: huge and tiny numbers, NaN-like strings, unicode, nesting. */
const hostileValue = fc.oneof(
  fc.constantFrom(
    null,
    "",
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "0x10",
    "١٢٣",
    "💥",
    "\u0000",
    "null",
    "-0",
  ),
  fc.double(),
  fc.integer(),
  fc.constantFrom(Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53 + 1, -1e308),
  fc.string(),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }),
);

/** One mutation of an item: drop a field, rename it, retype it, or nest it. */
const mutation = (keys: string[]) =>
  fc.record({
    key: fc.constantFrom(...keys),
    kind: fc.constantFrom("drop", "rename", "retype", "nest"),
    value: hostileValue,
    name: fc.string({ minLength: 1, maxLength: 12 }),
  });

function mutate(
  item: Record<string, unknown>,
  ms: { key: string; kind: string; value: unknown; name: string }[],
) {
  const out: Record<string, unknown> = { ...item };
  for (const m of ms) {
    const v = out[m.key];
    if (m.kind === "drop") delete out[m.key];
    else if (m.kind === "rename") {
      delete out[m.key];
      out[m.name] = v;
    } else if (m.kind === "retype") out[m.key] = m.value;
    else out[m.key] = { nested: v };
  }
  return out;
}

describe("mutated real payloads never crash normalization", () => {
  it("CoinGecko: every mutated item becomes a record with a positive finite price or a rejection", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: gecko.length - 1 }),
        fc.array(mutation(Object.keys(gecko[0]!)), { minLength: 1, maxLength: 4 }),
        (i, ms) => {
          const item = normalizeCoinGeckoItem(mutate(gecko[i]!, ms), i, `item ${i}`);
          if (item.ok) {
            expect(Number.isFinite(item.record.priceUsd) && item.record.priceUsd > 0).toBe(true);
            expect(Number.isNaN(item.record.observedAt.getTime())).toBe(false);
          } else {
            expect(item.rejection.reason.length).toBeGreaterThan(3);
          }
        },
      ),
      { numRuns: 500, seed: 20261125 },
    );
  });

  it("CoinPaprika: every mutated ticker becomes a record or a rejection", () => {
    const keys = [...Object.keys(paprika[0]!), "quotes"];
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 499 }),
        fc.array(mutation(keys), { minLength: 1, maxLength: 4 }),
        (i, ms) => {
          const item = normalizeCoinPaprikaTicker(mutate(paprika[i]!, ms), i, `ticker ${i}`);
          if (item.ok) expect(item.record.priceUsd).toBeGreaterThan(0);
          else expect(item.rejection.reason.length).toBeGreaterThan(3);
        },
      ),
      { numRuns: 500, seed: 20261125 },
    );
  });
});
