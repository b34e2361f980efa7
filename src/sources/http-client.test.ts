import { describe, expect, it } from "vitest";
import { backoffDelay, parseRetryAfter } from "./http-client.ts";
import { createRateLimiter } from "./rate-limiter.ts";
import { describeBody, redactUrl } from "./upstream-error.ts";

const policy = {
  timeoutMs: 1000,
  maxAttempts: 4,
  backoffBaseMs: 500,
  backoffMaxMs: 3000,
  retryAfterMaxMs: 60_000,
};

describe("parseRetryAfter", () => {
  it("reads seconds", () => expect(parseRetryAfter("119")).toBe(119_000));
  it("reads an HTTP date relative to now", () => {
    const now = Date.parse("Thu, 29 Sep 2022 10:00:00 GMT");
    expect(parseRetryAfter("Thu, 29 Sep 2022 10:00:30 GMT", now)).toBe(30_000);
  });
  it("never returns a negative wait for a past date", () => {
    expect(parseRetryAfter("Thu, 01 Jan 2015 00:00:00 GMT")).toBe(0);
  });
  it("ignores absent or unreadable values", () => {
    expect(parseRetryAfter(null)).toBeNull();
    expect(parseRetryAfter("soon")).toBeNull();
  });
});

describe("backoffDelay", () => {
  it("doubles per attempt, with jitter in the upper half, capped", () => {
    expect(backoffDelay(1, policy, () => 0)).toBe(250);
    expect(backoffDelay(1, policy, () => 1)).toBe(500);
    expect(backoffDelay(3, policy, () => 1)).toBe(2000);
    expect(backoffDelay(10, policy, () => 1)).toBe(3000);
    expect(backoffDelay(10, policy, () => 0)).toBe(1500);
  });
});

describe("rate limiter", () => {
  it("never lets more than the limit through in any window", async () => {
    const limiter = createRateLimiter({ limit: 3, windowMs: 300 });
    const stamps: number[] = [];
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        await limiter.acquire();
        stamps.push(performance.now());
      }),
    );
    stamps.sort((a, b) => a - b);
    for (let i = 3; i < stamps.length; i++) {
      // the 4th acquisition after any three must come at least one window later (1 ms timer slack)
      expect(stamps[i]! - stamps[i - 3]!).toBeGreaterThanOrEqual(299);
    }
  });

  it("stops waiting when aborted", async () => {
    const limiter = createRateLimiter({ limit: 1, windowMs: 10_000 });
    await limiter.acquire();
    const controller = new AbortController();
    const waiting = limiter.acquire(controller.signal);
    controller.abort(new Error("stop"));
    await expect(waiting).rejects.toThrow("stop");
  });
});

describe("error bodies and URLs", () => {
  it("reads CoinGecko's JSON, plain-text and HTML error bodies leniently", () => {
    expect(
      describeBody('{"status":{"error_code":429,"error_message":"You\'ve exceeded the Rate Limit."}}'),
    ).toBe("You've exceeded the Rate Limit.");
    expect(describeBody('{"error":"Could not find coin with the given id"}')).toBe(
      "Could not find coin with the given id",
    );
    expect(describeBody("Throttled")).toBe("Throttled");
    expect(describeBody("<html><head><title>502: Bad gateway</title></head></html>")).toBe(
      "HTML page: 502: Bad gateway",
    );
    expect(describeBody("")).toBe("empty body");
  });

  it("removes key-like query parameters and credentials from URLs", () => {
    const safe = redactUrl("https://u:p@api.example.com/v3/x?x_cg_demo_api_key=CG-abc&page=2");
    expect(safe).not.toContain("CG-abc");
    expect(safe).not.toContain("u:p");
    expect(safe).toContain("page=2");
  });
});
