import { describe, expect, it } from "vitest";
import { gaps, mergeCandle, niceStep, olderThan, priceScale } from "../../public/candles.js";

const candle = (bucket: string, over: Record<string, unknown> = {}) => ({
  bucket: `${bucket}T00:00:00.000Z`,
  open: 10,
  high: 12,
  low: 9,
  close: 11,
  observations: 1,
  final: true,
  revision: 0,
  ...over,
});

describe("mergeCandle", () => {
  const history = [candle("2024-01-01"), candle("2024-01-02"), candle("2024-01-04", { final: false })];

  it("replaces the bucket's candle with a newer state of it and leaves the input alone", () => {
    const next = mergeCandle(history, candle("2024-01-04", { final: false, observations: 2, close: 13 }));
    expect(next.map((c) => c.close)).toEqual([11, 11, 13]);
    expect(history[2]!.close).toBe(11);
  });

  it("keeps the candle when the update is an older state of the bucket (in flight while history was read)", () => {
    const read = [candle("2024-01-04", { final: true, observations: 3 })];
    expect(mergeCandle(read, candle("2024-01-04", { final: false, observations: 2 }))).toBe(read);
    const revised = [candle("2024-01-01", { revision: 2 })];
    expect(mergeCandle(revised, candle("2024-01-01", { revision: 1 }))).toBe(revised);
    const forming = [candle("2024-01-04", { final: false, observations: 5 })];
    expect(mergeCandle(forming, candle("2024-01-04", { final: false, observations: 4 }))).toBe(forming);
  });

  it("takes an update of equal progress (a corrected price at the same key)", () => {
    const next = mergeCandle(history, candle("2024-01-02", { close: 99 }));
    expect(next[1]!.close).toBe(99);
  });

  it("puts a new bucket in bucket order, and keeps only the newest `limit`", () => {
    expect(mergeCandle(history, candle("2024-01-03")).map((c) => c.bucket.slice(0, 10))).toEqual([
      "2024-01-01",
      "2024-01-02",
      "2024-01-03",
      "2024-01-04",
    ]);
    expect(mergeCandle(history, candle("2024-01-05"), 3).map((c) => c.bucket.slice(0, 10))).toEqual([
      "2024-01-02",
      "2024-01-04",
      "2024-01-05",
    ]);
    expect(mergeCandle([], candle("2024-01-05"))).toHaveLength(1);
  });

  it("orders states: final after forming, then revision, then observations", () => {
    expect(olderThan(candle("x", { final: false, observations: 9 }), candle("x", { final: true }))).toBe(
      true,
    );
    expect(olderThan(candle("x", { revision: 1 }), candle("x", { revision: 0, observations: 9 }))).toBe(
      false,
    );
    expect(olderThan(candle("x"), candle("x"))).toBe(false);
  });
});

describe("chart scales", () => {
  it("steps on 1, 2 or 5 times a power of ten", () => {
    expect(niceStep(10_000, 5)).toBe(2000);
    expect(niceStep(0.0012, 5)).toBe(0.0002);
    expect(niceStep(0.0007, 5)).toBe(0.0001);
    expect(niceStep(0)).toBe(1);
  });

  it("spans every candle with a margin and round ticks; a flat series gets a range around its price", () => {
    const scale = priceScale([candle("2024-01-01", { low: 21_500, high: 30_900 })]);
    expect(scale.lo).toBeLessThan(21_500);
    expect(scale.hi).toBeGreaterThan(30_900);
    expect(scale.ticks).toEqual([22_000, 24_000, 26_000, 28_000, 30_000]);
    const flat = priceScale([candle("2024-01-01", { low: 1, high: 1, open: 1, close: 1 })]);
    expect(flat.lo).toBeLessThan(1);
    expect(flat.hi).toBeGreaterThan(1);
  });

  it("finds the buckets that do not follow their predecessor", () => {
    const list = [candle("2024-01-01"), candle("2024-01-02"), candle("2024-01-05"), candle("2024-01-06")];
    expect(gaps(list, "D1")).toEqual([2]);
    expect(gaps(list.slice(0, 2), "D1")).toEqual([]);
  });
});
