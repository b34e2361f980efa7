import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { diffFingerprints, fingerprint, missingRequired } from "./drift.ts";

const items = JSON.parse(readFileSync("seeds/demo/coingecko-markets.json", "utf8")) as Record<
  string,
  unknown
>[];
const baseline = fingerprint(items);

const mutate = (f: (item: Record<string, unknown>) => Record<string, unknown>) => fingerprint(items.map(f));

describe("drift detection on the real CoinGecko payload", () => {
  it("sees no drift in the same payload", () => {
    expect(diffFingerprints(baseline, fingerprint(items))).toEqual([]);
  });

  it("treats null as matching any type", () => {
    expect(baseline.roi?.type).toBe("object");
    expect(baseline.max_supply?.type).toBe("number");
    expect(
      diffFingerprints(
        baseline,
        mutate((i) => ({ ...i, max_supply: null })),
      ),
    ).toEqual([]);
  });

  it("finds current_price → price_current as a rename with confidence ≥ 0.8", () => {
    const changes = diffFingerprints(
      baseline,
      mutate(({ current_price, ...rest }) => ({ ...rest, price_current: current_price })),
    );
    expect(changes).toEqual([
      expect.objectContaining({ kind: "RENAMED", path: "price_current", renamedFrom: "current_price" }),
    ]);
    expect(changes[0]!.confidence).toBeGreaterThanOrEqual(0.8);
  });

  it("reports a removed field", () => {
    expect(
      diffFingerprints(
        baseline,
        mutate(({ market_cap, ...rest }) => rest),
      ),
    ).toEqual([expect.objectContaining({ kind: "REMOVED", path: "market_cap", fromType: "number" })]);
  });

  it("reports a number that became a string", () => {
    expect(
      diffFingerprints(
        baseline,
        mutate((i) => ({ ...i, total_volume: String(i.total_volume) })),
      ),
    ).toEqual([
      expect.objectContaining({
        kind: "TYPE_CHANGED",
        path: "total_volume",
        fromType: "number",
        toType: "string",
      }),
    ]);
  });

  it("reports an added field and does not pair it with an unrelated removal", () => {
    const changes = diffFingerprints(
      baseline,
      mutate(({ ath_date, ...rest }) => ({ ...rest, sparkline_in_7d: { price: [1, 2] } })),
    );
    expect(changes.map((c) => [c.kind, c.path])).toEqual([
      ["REMOVED", "ath_date"],
      ["ADDED", "sparkline_in_7d"],
      ["ADDED", "sparkline_in_7d.price"],
      ["ADDED", "sparkline_in_7d.price[]"],
    ]);
  });

  it("names the required fields a payload lost", () => {
    const renamed = mutate(({ current_price, ...rest }) => ({ ...rest, price_current: current_price }));
    expect(missingRequired("COINGECKO", baseline, renamed)).toEqual(["current_price"]);
    expect(missingRequired("COINGECKO", baseline, baseline)).toEqual([]);
  });
});
