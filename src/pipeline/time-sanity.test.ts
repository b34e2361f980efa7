import { describe, expect, it } from "vitest";
import { timeProblem } from "./time-sanity.ts";

const now = Date.parse("2026-12-01T12:00:00Z");

describe("timeProblem", () => {
  it("accepts the past and the allowed clock skew, refuses what lies beyond it", () => {
    expect(timeProblem(new Date("2013-04-28T00:00:00Z"), now, 300_000)).toBeNull();
    expect(timeProblem(new Date(now + 299_000), now, 300_000)).toBeNull();
    expect(timeProblem(new Date(now + 301_000), now, 300_000)).toMatch(
      /is 301 s in the future \(more than MAX_CLOCK_SKEW_SECONDS=300/,
    );
    expect(timeProblem(new Date("2099-01-01T00:00:00Z"), now, 300_000)).toMatch(/^observedAt 2099-01-01/);
  });

  it("refuses dates before any coin traded (a parsed epoch 0)", () => {
    expect(timeProblem(new Date(0), now, 300_000)).toMatch(/before 2009-01-03/);
  });
});
