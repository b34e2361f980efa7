import { describe, expect, it } from "vitest";
import { MAX_ID, parseId, parseIds } from "./parse-id.ts";

describe("parseId", () => {
  it("accepts database ids from 1 to int4's maximum, as ID strings or Ints", () => {
    expect(parseId("1", "id")).toBe(1);
    expect(parseId(" 42 ", "id")).toBe(42);
    expect(parseId(MAX_ID, "id")).toBe(2_147_483_647);
    expect(parseIds(["7", 8], "ids")).toEqual([7, 8]);
    expect(parseIds(null, "ids")).toBeUndefined();
  });

  it.each(["0", "-1", "2147483648", "99999999999999999999", "1.5", "1e3", "0x10", "12abc", ""])(
    "refuses %j with BAD_USER_INPUT naming the argument",
    (value) => {
      expect(() => parseId(value, "filter.ids", "an asset id")).toThrow(
        expect.objectContaining({ extensions: { code: "BAD_USER_INPUT", argument: "filter.ids" } }),
      );
    },
  );
});
