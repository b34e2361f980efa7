import type { Client, ExecutionResult } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase } from "../../src/db/database.ts";
import { createTestApp, startStack, TEST_API_KEY, type TestStack } from "../support/app.ts";
import { quietLogger } from "../support/databases.ts";
import { wsClient } from "../support/ws-client.ts";

let stack: TestStack;
beforeAll(async () => {
  // The response cache on, as in production: its plugin is what closed sockets with 4500.
  stack = await startStack({ env: { ETL_SOURCES: "csv" }, responseCacheTtlSeconds: 5 });
  await stack.app.runner.run({ trigger: "CLI" });
});
afterAll(() => stack.close());

type Result = ExecutionResult<any, { requestId?: string; latencyMs?: number }>;

/** Runs one operation on the client's socket and returns its first result (or error). */
function once(client: Client, query: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    let first: Result | null = null;
    const stop = client.subscribe(
      { query },
      {
        next: (r) => {
          first ??= r as Result;
          stop();
          resolve(first);
        },
        error: (e) => (Array.isArray(e) ? resolve({ errors: e }) : reject(e)),
        complete: () => (first ? resolve(first) : reject(new Error("completed without a result"))),
      },
    );
  });
}

function withClosures(client: Client) {
  const closes: unknown[] = [];
  client.on("closed", (e) => closes.push((e as { code?: number }).code ?? e));
  return closes;
}

describe("queries and mutations over graphql-ws, on one socket beside a subscription", () => {
  it("answers a query, a mutation without and with the key, and the subscription keeps working", async () => {
    const client = wsClient(stack.http.wsUrl, { authorization: `Bearer ${TEST_API_KEY}` });
    const anonymous = wsClient(stack.http.wsUrl);
    const closes = withClosures(client);
    const events: Result[] = [];
    const unsubscribe = client.subscribe(
      { query: "subscription { etlRunEvents { runId status } }" },
      { next: (r) => void events.push(r as Result), error: () => undefined, complete: () => undefined },
    );
    await new Promise((r) => setTimeout(r, 200));

    const query = await once(client, `{ assets(first: 2) { totalCount edges { node { symbol } } } }`);
    expect(query.errors).toBeUndefined();
    expect(query.data.assets.totalCount).toBeGreaterThan(0);
    // Twice: the second would come from the response cache over HTTP; over WebSocket it executes.
    expect((await once(client, `{ assets(first: 2) { totalCount } }`)).data.assets.totalCount).toBe(
      query.data.assets.totalCount,
    );

    const denied = await once(anonymous, `mutation { triggerEtl { run { id } } }`);
    expect(denied.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    const started = await once(
      client,
      `mutation { triggerEtl(input: { sources: [CSV] }) { run { id status } } }`,
    );
    expect(started.errors).toBeUndefined();
    const runId = started.data.triggerEtl.run.id as string;

    // The subscription on the same socket sees that run through to its end.
    for (let i = 0; i < 200 && !events.some((e) => e.data?.etlRunEvents.status !== "RUNNING"); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(events.map((e) => e.data?.etlRunEvents.runId)).toContain(runId);
    expect(events.at(-1)?.data?.etlRunEvents.status).toBe("SUCCEEDED");

    for (const r of [query, denied, started, ...events]) {
      expect(r.extensions?.requestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(r.extensions?.latencyMs).toEqual(expect.any(Number));
    }
    // Each operation has its own request id; a subscription's events share theirs.
    expect(new Set([query, denied, started].map((r) => r.extensions?.requestId)).size).toBe(3);
    expect(new Set(events.map((r) => r.extensions?.requestId)).size).toBe(1);
    unsubscribe();
    await client.dispose();
    await anonymous.dispose();
    expect(closes).toEqual([1000]);
  });

  it("refuses one operation more than MAX_SUBSCRIPTIONS_PER_CONNECTION with an error, and the socket stays open", async () => {
    const app = createTestApp(stack.t.db, stack.replay, { env: { MAX_SUBSCRIPTIONS_PER_CONNECTION: "3" } });
    const { server, wsUrl } = await app.listen();
    const client = wsClient(wsUrl);
    const closes = withClosures(client);
    try {
      const stops = Array.from({ length: 3 }, () =>
        client.subscribe(
          { query: "subscription { driftWarnings { id } }" },
          { next: () => undefined, error: () => undefined, complete: () => undefined },
        ),
      );
      await new Promise((r) => setTimeout(r, 300));
      const refused = await once(client, "subscription { etlRunEvents { runId } }");
      expect(refused.errors?.[0]).toMatchObject({
        message: expect.stringMatching(/MAX_SUBSCRIPTIONS_PER_CONNECTION = 3/),
        extensions: { code: "TOO_MANY_SUBSCRIPTIONS", limit: 3 },
      });
      // Closing one makes room; queries go through on the same socket.
      stops[0]!();
      await new Promise((r) => setTimeout(r, 200));
      expect((await once(client, "{ __typename }")).data).toEqual({ __typename: "Query" });
      for (const stop of stops.slice(1)) stop();
      expect(closes).toEqual([]);
    } finally {
      await client.dispose();
      await server.stop();
      app.stop();
    }
  });

  it("masks an unexpected error over WebSocket and gives it the result's request id", async () => {
    const down = await createDatabase({
      url: "postgresql://postgres@127.0.0.1:1/none",
      dataDir: "unused",
      logger: quietLogger,
    });
    const app = createTestApp(down, stack.replay);
    const { server, wsUrl } = await app.listen();
    const client = wsClient(wsUrl);
    try {
      const r = await once(client, "{ etlRuns(first: 1) { totalCount } }");
      expect(r.errors?.[0]).toMatchObject({
        message: "Unexpected error.",
        extensions: { code: "INTERNAL_SERVER_ERROR", requestId: r.extensions?.requestId },
      });
      expect(r.extensions?.requestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(JSON.stringify(r)).not.toMatch(/ECONNREFUSED|prisma|postgres/i);
    } finally {
      await client.dispose();
      await server.stop();
      app.stop();
      await down.close();
    }
  });
});
