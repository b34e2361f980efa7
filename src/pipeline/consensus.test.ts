import { describe, expect, it } from "vitest";
import { computeConsensus } from "./consensus.ts";

const at = (iso: string) => new Date(iso);

describe("computeConsensus", () => {
  it("takes the median of the real near-simultaneous CoinGecko/CoinPaprika BTC prices", () => {
    // pranavraj28 export: coingecko 87569.0 at 15:58:08, coinpaprika 87593.1165 minutes later.
    const c = computeConsensus(
      [
        { source: "COINGECKO", priceUsd: 87569.0, observedAt: at("2025-12-29T15:58:08Z") },
        { source: "COINPAPRIKA", priceUsd: 87593.1165, observedAt: at("2025-12-29T16:01:00Z") },
      ],
      900_000,
    );
    expect(c.priceUsd).toBeCloseTo(87581.05825, 5);
    expect(c.sources.map((s) => s.included)).toEqual([true, true]);
    expect(c.sources[0]!.deviationPct).toBeCloseTo(-0.01377, 4);
    expect(c.sources[1]!.deviationPct).toBeCloseTo(0.01377, 4);
    expect(c.observedAt?.toISOString()).toBe("2025-12-29T16:01:00.000Z");
  });

  it("leaves a stale source out and says why, measuring from the asset's newest observation", () => {
    const c = computeConsensus(
      [
        { source: "COINGECKO", priceUsd: 100, observedAt: at("2024-01-01T12:00:00Z") },
        { source: "COINPAPRIKA", priceUsd: 102, observedAt: at("2024-01-01T12:05:00Z") },
        { source: "CSV", priceUsd: 50, observedAt: at("2023-06-30T00:00:00Z") },
      ],
      900_000,
    );
    expect(c.priceUsd).toBe(101);
    expect(c.sources[2]).toMatchObject({ included: false, excludedReason: expect.stringMatching(/^stale/) });
    expect(c.sources[2]!.deviationPct).toBeCloseTo(-50.495, 2);
  });

  it("uses the middle value of three", () => {
    const t = at("2024-01-01T00:00:00Z");
    const c = computeConsensus(
      [
        { source: "COINGECKO", priceUsd: 10, observedAt: t },
        { source: "COINPAPRIKA", priceUsd: 30, observedAt: t },
        { source: "CSV", priceUsd: 11, observedAt: t },
      ],
      1,
    );
    expect(c.priceUsd).toBe(11);
  });

  it("has no consensus without prices", () => {
    expect(computeConsensus([], 1)).toEqual({ priceUsd: null, observedAt: null, sources: [] });
  });
});
