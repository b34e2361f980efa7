import { describe, expect, it } from "vitest";
import { intArray } from "./int-array.ts";

describe("intArray", () => {
  it("renders an int[] literal, empty included", () => {
    expect(intArray([1, -2, 30])).toBe("{1,-2,30}");
    expect(intArray(new Set([7]))).toBe("{7}");
    expect(intArray([])).toBe("{}");
  });

  it("refuses anything that is not a safe integer", () => {
    for (const bad of [1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      expect(() => intArray([1, bad])).toThrow(/not an integer/);
    }
  });
});
