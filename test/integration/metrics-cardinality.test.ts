import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type TestStack } from "../support/app.ts";

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack({ env: { METRICS_OPERATION_NAMES_MAX: "100" } });
});
afterAll(() => stack.close());

describe("graphql_operations_total under client-chosen operation names", () => {
  it("keeps the first 100 names and counts the other 4,900 of 5,000 distinct names as other", async () => {
    const before = Buffer.byteLength(await (await fetch(`${stack.http.url}/metrics`)).text());
    for (let i = 0; i < 5_000; i++) {
      const r = await stack.app.gql(`query Probe${i} { __typename }`);
      expect(r.body.data).toEqual({ __typename: "Query" });
    }
    const text = await (await fetch(`${stack.http.url}/metrics`)).text();
    const series = text.split("\n").filter((l) => l.startsWith("graphql_operations_total{"));
    // A figure for RELIABILITY.md.
    process.stderr.write(
      `/metrics after 5,000 names: ${series.length} series, ${Buffer.byteLength(text)} bytes\n`,
    );
    expect(series.length).toBeLessThanOrEqual(101);
    expect(series).toContain('graphql_operations_total{type="query",name="other",outcome="ok"} 4900');
    expect(series).toContain('graphql_operations_total{type="query",name="Probe0",outcome="ok"} 1');
    expect(text).not.toContain('name="Probe100"');
    // Every other metric unchanged in size; this one at most ~100 short lines.
    expect(Buffer.byteLength(text) - before).toBeLessThan(15_000);
  });

  it("labels the operation that operationName picks in a document of several", async () => {
    const r = await fetch(`${stack.http.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        query: "query Probe0 { __typename } mutation Probe1 { __typename }",
        operationName: "Probe1",
      }),
    });
    expect((await r.json()).data).toEqual({ __typename: "Mutation" });
    const text = await (await fetch(`${stack.http.url}/metrics`)).text();
    expect(text).toContain('graphql_operations_total{type="mutation",name="Probe1",outcome="ok"} 1');
    expect(text).toContain('graphql_operations_total{type="query",name="Probe0",outcome="ok"} 1');
  });
});
