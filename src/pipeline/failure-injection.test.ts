import { describe, expect, it } from "vitest";
import { CHAOS_MAX_RECORDS, createFailureInjector, InjectedFailure } from "./failure-injection.ts";

describe("failure injection", () => {
  it("throws once, inside the batch that holds record N", () => {
    const injector = createFailureInjector({ failAfterRecords: 501 });
    injector.beforeWrite(250);
    injector.beforeWrite(250);
    expect(() => injector.beforeWrite(500)).toThrow(InjectedFailure);
    expect(() => injector.beforeWrite(500)).not.toThrow();
  });

  it("picks the same random point for the same CHAOS_SEED, and another for another seed", () => {
    const a = createFailureInjector({ chaos: { enabled: true, seed: "42" } }).threshold;
    const b = createFailureInjector({ chaos: { enabled: true, seed: "42" } }).threshold;
    const c = createFailureInjector({ chaos: { enabled: true, seed: "43" } }).threshold;
    expect(a).toBe(b);
    expect(a).not.toBe(c);
    expect(a).toBeGreaterThanOrEqual(1);
    expect(a).toBeLessThanOrEqual(CHAOS_MAX_RECORDS);
  });

  it("does nothing when neither is set", () => {
    const injector = createFailureInjector({ chaos: { enabled: false } });
    expect(injector.threshold).toBeNull();
    expect(() => injector.beforeWrite(1_000_000)).not.toThrow();
  });
});
