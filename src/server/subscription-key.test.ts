import { buildSchema, type ExecutionArgs, parse } from "graphql";
import { describe, expect, it } from "vitest";
import { canonical, createSubscriptionKeys } from "./subscription-key.ts";

const schema = buildSchema(`
  type Query { ok: Boolean }
  type Price { usd(currency: String): Float, asset(id: ID): String }
  type Subscription { prices(symbols: [String!], afterSeq: Int, runId: ID): Price }
`);

describe("subscription keys", () => {
  const keyOf = createSubscriptionKeys();
  const args = (
    document: ReturnType<typeof parse>,
    variableValues: Record<string, unknown> = {},
    extra: Partial<ExecutionArgs> = {},
  ): ExecutionArgs => ({ schema, document, variableValues, contextValue: { authorization: null }, ...extra });

  const stream = parse(`subscription($s: [String!], $after: Int, $run: ID, $c: String) {
    prices(symbols: $s, afterSeq: $after, runId: $run) { usd(currency: $c) }
  }`);

  it("is the same for subscribers whose results are the same", () => {
    const base = keyOf(args(stream, { s: ["BTC"], after: 5, run: "42", c: "usd" }));
    expect(base).not.toBeNull();
    // Arguments of the root field choose the events, not their results; key order, undeclared
    // extras and an ID sent as a number do not matter either.
    expect(keyOf(args(stream, { c: "usd", after: 900, s: ["ETH"], run: 42, pad: 1 }))).toBe(base);
  });

  it("differs where a result can differ", () => {
    const base = keyOf(args(stream, { c: "usd" }));
    expect(keyOf(args(stream, { c: "eur" }))).not.toBe(base);
    expect(keyOf(args(stream, { c: "usd" }, { contextValue: { authorization: "Bearer x" } }))).not.toBe(base);
    // The same text parsed again is another document (yoga's parser cache makes it the same one).
    expect(keyOf(args(parse(stream.loc!.source.body), { c: "usd" }))).not.toBe(base);
    const two = parse(`subscription A { prices { usd } } subscription B { prices { asset } }`);
    expect(keyOf(args(two, {}, { operationName: "A" }))).not.toBe(
      keyOf(args(two, {}, { operationName: "B" })),
    );
  });

  it("keys a root-field variable that is also read below the root or in a directive", () => {
    const nested = parse(`subscription($run: ID) { prices(runId: $run) { asset(id: $run) } }`);
    expect(keyOf(args(nested, { run: "1" }))).not.toBe(keyOf(args(nested, { run: "2" })));
    const directive = parse(`subscription($x: Boolean!) { prices @include(if: $x) { usd } }`);
    expect(keyOf(args(directive, { x: true }))).not.toBe(keyOf(args(directive, { x: false })));
    const fragment = parse(
      `subscription($c: String) { prices { ...P } } fragment P on Price { usd(currency: $c) }`,
    );
    expect(keyOf(args(fragment, { c: "a" }))).not.toBe(keyOf(args(fragment, { c: "b" })));
  });

  it("is null when the variables do not coerce (no sharing; the execution reports it)", () => {
    expect(keyOf(args(stream, { after: "not a number" }))).toBeNull();
  });
});

describe("canonical", () => {
  it("orders keys and keeps BigInt, Date, strings and numbers apart", () => {
    expect(canonical({ b: 1, a: [1, "1"] })).toBe(canonical({ a: [1, "1"], b: 1 }));
    const values = [5n, 5, "5", "5n", new Date(5), "D5", null, "null", true, "true"];
    expect(new Set(values.map(canonical)).size).toBe(values.length);
  });
});
