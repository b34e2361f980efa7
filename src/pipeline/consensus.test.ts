import { describe, expect, it } from "vitest";
import { type ConsensusOptions, computeConsensus } from "./consensus.ts";

const at = (iso: string) => new Date(iso);
const opts = (freshnessMs: number, over: Partial<ConsensusOptions> = {}): ConsensusOptions => ({
  freshnessMs,
  deviationPct: 5,
  maxSkewMs: 300_000,
  now: Date.parse("2026-12-01T00:00:00Z"),
  ...over,
});

describe("computeConsensus", () => {
  it("takes the median of the real near-simultaneous CoinGecko/CoinPaprika BTC prices", () => {
    // pranavraj28 export: coingecko 87569.0 at 15:58:08, coinpaprika 87593.1165 minutes later.
    const c = computeConsensus(
      [
        { source: "COINGECKO", priceUsd: 87569.0, observedAt: at("2025-12-29T15:58:08Z") },
        { source: "COINPAPRIKA", priceUsd: 87593.1165, observedAt: at("2025-12-29T16:01:00Z") },
      ],
      opts(900_000),
    );
    expect(c.priceUsd).toBeCloseTo(87581.05825, 5);
    expect(c.disputed).toBe(false);
    expect(c.spreadPct).toBeCloseTo(0.0275, 3);
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
      opts(900_000),
    );
    expect(c.priceUsd).toBe(101);
    expect(c.sources[2]).toMatchObject({ included: false, excludedReason: expect.stringMatching(/^stale/) });
    expect(c.sources[2]!.deviationPct).toBeCloseTo(-50.495, 2);
  });

  it("uses the middle value of three that agree", () => {
    const t = at("2024-01-01T00:00:00Z");
    const c = computeConsensus(
      [
        { source: "COINGECKO", priceUsd: 100, observedAt: t },
        { source: "COINPAPRIKA", priceUsd: 103, observedAt: t },
        { source: "CSV", priceUsd: 101, observedAt: t },
      ],
      opts(1),
    );
    expect(c.priceUsd).toBe(101);
    expect(c.sources.every((s) => s.included)).toBe(true);
    expect(c.spreadPct).toBeCloseTo(2.97, 2);
  });

  it("leaves out the one of three far from the median of the others, and says so", () => {
    const t = at("2024-01-01T00:00:00Z");
    const c = computeConsensus(
      [
        { source: "COINGECKO", priceUsd: 10, observedAt: t },
        { source: "COINPAPRIKA", priceUsd: 10.2, observedAt: t },
        { source: "CSV", priceUsd: 30, observedAt: t },
      ],
      opts(1),
    );
    expect(c.priceUsd).toBeCloseTo(10.1, 9);
    expect(c.sources[2]).toMatchObject({
      included: false,
      excludedReason: expect.stringMatching(
        /^outlier: 197.03 % from the median of the other sources \(10.1\)/,
      ),
    });
    expect(c.disputed).toBe(false);
  });

  it("calls two sources 25 % apart disputed instead of trusting their mean (BNB in the demo)", () => {
    const t = at("2024-01-01T00:00:00Z");
    const c = computeConsensus(
      [
        { source: "COINGECKO", priceUsd: 308, observedAt: t },
        { source: "COINPAPRIKA", priceUsd: 239, observedAt: t },
      ],
      opts(900_000),
    );
    expect(c.priceUsd).toBe(273.5);
    expect(c.disputed).toBe(true);
    expect(c.spreadPct).toBeCloseTo(25.23, 2);
    expect(c.sources.every((s) => s.included)).toBe(true);
  });

  it("of three spread out, drops only the farthest and calls the rest disputed", () => {
    const t = at("2024-01-01T00:00:00Z");
    const c = computeConsensus(
      [
        { source: "COINGECKO", priceUsd: 100, observedAt: t },
        { source: "COINPAPRIKA", priceUsd: 108, observedAt: t },
        { source: "CSV", priceUsd: 116, observedAt: t },
      ],
      opts(1),
    );
    expect(c.sources.filter((s) => !s.included).map((s) => s.source)).toEqual(["CSV"]);
    expect(c.priceUsd).toBe(104);
    expect(c.disputed).toBe(true);
  });

  it("never lets a price dated ahead of the clock make the others stale", () => {
    const now = Date.parse("2026-12-01T00:00:00Z");
    const c = computeConsensus(
      [
        { source: "COINGECKO", priceUsd: 100, observedAt: new Date(now - 60_000) },
        { source: "COINPAPRIKA", priceUsd: 101, observedAt: new Date(now - 30_000) },
        { source: "CSV", priceUsd: 1.5, observedAt: at("2099-01-01T00:00:00Z") },
      ],
      opts(900_000, { now }),
    );
    expect(c.priceUsd).toBe(100.5);
    expect(c.sources.map((s) => s.included)).toEqual([true, true, false]);
    expect(c.sources[2]!.excludedReason).toMatch(/^future: observed \d+ s ahead/);
  });

  it("has no consensus without prices", () => {
    expect(computeConsensus([], opts(1))).toEqual({
      priceUsd: null,
      observedAt: null,
      spreadPct: null,
      disputed: false,
      sources: [],
    });
  });
});
