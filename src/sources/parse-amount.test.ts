import { describe, expect, it } from "vitest";
import { parseAmount } from "./parse-amount.ts";

describe("parseAmount", () => {
  it.each([
    ["87000", 87000],
    ["$87,000", 87000],
    ["4800 USD", 4800],
    ["1.7T", 1.7e12],
    ["$1.7T", 1.7e12],
    ["600B", 600e9],
    ["8.61E+11", 8.61e11],
    ["3.2014e-8", 3.2014e-8],
    ["1575032004.0", 1575032004],
    ["  42.5 ", 42.5],
    ["-1.25", -1.25],
    ["2.5%", 2.5],
    ["1,234,567.89", 1234567.89],
    [26816, 26816],
  ])("reads %j as %d", (input, expected) => {
    expect(parseAmount(input)).toEqual({ value: expected });
  });

  it.each(["", "null", "NaN", "N/A", "-", undefined, null])("reads %j as an explicit null", (input) => {
    expect(parseAmount(input)).toEqual({ value: null });
  });

  it.each(["bad_price", "12abc", "1,5", "$", "1e999", "Infinity", "0x10", "１２"])(
    "rejects %j with a reason instead of coercing it",
    (input) => {
      const r = parseAmount(input);
      expect("error" in r && r.error).toBeTruthy();
    },
  );
});
