import { describe, expect, it } from "vitest";
import { createSizedResponseCache } from "./sized-response-cache.ts";

const result = (text: string) => ({ data: { text } });

describe("createSizedResponseCache", () => {
  it("drops the least recently used entries beyond its entry bound", () => {
    const cache = createSizedResponseCache({ maxEntries: 2, maxBytes: 1_000_000 });
    cache.set("a", result("a"), [], 60_000);
    cache.set("b", result("b"), [], 60_000);
    expect(cache.get("a")).toEqual(result("a"));
    cache.set("c", result("c"), [], 60_000);
    expect([cache.get("a"), cache.get("b"), cache.get("c")]).toEqual([result("a"), undefined, result("c")]);
  });

  it("drops entries until the kept results fit its byte bound, and never keeps one larger than it", () => {
    const size = JSON.stringify(result("x".repeat(100))).length;
    const cache = createSizedResponseCache({ maxEntries: 100, maxBytes: size * 2 });
    for (const key of ["a", "b", "c"]) cache.set(key, result("x".repeat(100)), [], 60_000);
    expect([cache.get("a"), cache.get("b"), cache.get("c")].filter(Boolean)).toHaveLength(2);
    cache.set("big", result("x".repeat(1_000)), [], 60_000);
    expect(cache.get("big")).toBeUndefined();
    expect(cache.get("c")).toBeDefined();
  });

  it("does not answer with an entry older than its TTL", async () => {
    const cache = createSizedResponseCache({ maxEntries: 10, maxBytes: 10_000 });
    cache.set("a", result("a"), [], 1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(cache.get("a")).toBeUndefined();
  });
});
