import { describe, expect, it } from "vitest";
import { createAuthFailureLimiter } from "./auth.ts";

describe("createAuthFailureLimiter", () => {
  it("blocks a client after maxFailures in the window, and frees it when the window passes", () => {
    const limiter = createAuthFailureLimiter({ maxFailures: 3, windowMs: 1_000 });
    for (const t of [0, 10, 20]) limiter.fail("a", t);
    expect(limiter.blocked("a", 30)).toBe(true);
    expect(limiter.blocked("b", 30)).toBe(false);
    expect(limiter.blocked("a", 1_011)).toBe(false);
  });

  it("when full, forgets the client that failed least recently, not one failing now", () => {
    const limiter = createAuthFailureLimiter({ maxFailures: 3, windowMs: 60_000, maxClients: 2 });
    limiter.fail("attacker", 0);
    limiter.fail("quiet", 1);
    limiter.fail("attacker", 2);
    limiter.fail("attacker", 3);
    // A third client fills the map: "quiet" goes, the attacker (first seen, but failing now) stays blocked.
    limiter.fail("newcomer", 4);
    expect(limiter.blocked("attacker", 5)).toBe(true);
  });
});
