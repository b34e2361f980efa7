import { describe, expect, it } from "vitest";
import { createRecentResults } from "./recent-results.ts";

describe("createRecentResults", () => {
  it("shares a result for at least one window and forgets it within two", () => {
    let t = 0;
    const cache = createRecentResults<string>({ windowMs: 1_000, now: () => t });
    const event = {};
    cache.set(event, "k", "r");
    expect(cache.get(event, "k")).toBe("r");
    expect(cache.get(event, "other")).toBeUndefined();
    expect(cache.get({}, "k")).toBeUndefined();
    t = 999;
    expect(cache.get(event, "k")).toBe("r");
    t = 1_500; // one rotation: still found, in the previous generation
    expect(cache.get(event, "k")).toBe("r");
    t = 2_600; // two: gone, although the event is alive (a stalled subscriber still holds it)
    expect(cache.get(event, "k")).toBeUndefined();
  });

  it("forgets everything after a pause longer than two windows", () => {
    let t = 0;
    const cache = createRecentResults<string>({ windowMs: 1_000, now: () => t });
    const event = {};
    cache.set(event, "k", "r");
    t = 5_000;
    expect(cache.get(event, "k")).toBeUndefined();
  });

  it("keeps results of the same event under other keys apart", () => {
    const cache = createRecentResults<number>({ windowMs: 1_000 });
    const event = {};
    cache.set(event, "a", 1);
    cache.set(event, "b", 2);
    expect([cache.get(event, "a"), cache.get(event, "b")]).toEqual([1, 2]);
  });
});
