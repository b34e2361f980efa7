import { describe, expect, it } from "vitest";
import { applyRenames } from "./renames.ts";

describe("applyRenames", () => {
  it("copies a renamed field back to the path the normalizer reads, nested ones too", () => {
    const item = { id: "bitcoin", price: 1, quotes: { USD: { px: 2 } } };
    const out = applyRenames(item, { current_price: "price", "quotes.USD.price": "quotes.USD.px" });
    expect(out).toEqual({ id: "bitcoin", price: 1, current_price: 1, quotes: { USD: { px: 2, price: 2 } } });
    expect(item).toEqual({ id: "bitcoin", price: 1, quotes: { USD: { px: 2 } } });
  });

  it("keeps a field that still arrives under its old name, and leaves non-objects alone", () => {
    expect(applyRenames({ current_price: 5, price: 1 }, { current_price: "price" })).toEqual({
      current_price: 5,
      price: 1,
    });
    expect(applyRenames(null, { a: "b" })).toBeNull();
    expect(applyRenames([1], { a: "b" })).toEqual([1]);
    expect(applyRenames({ b: 1 }, undefined)).toEqual({ b: 1 });
  });
});
