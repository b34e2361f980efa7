import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase } from "../../src/db/database.ts";
import { createTestApp } from "../support/app.ts";
import { createPgliteTestDatabase, quietLogger, type TestDatabase } from "../support/databases.ts";
import { type ReplayServer, startReplayServer } from "../support/replay-server.ts";

let replay: ReplayServer;
beforeAll(async () => {
  replay = await startReplayServer();
});
afterAll(() => replay.close());

describe("HTTP server on embedded PGlite", () => {
  let t: TestDatabase;
  let app: ReturnType<typeof createTestApp>;
  let listening: Awaited<ReturnType<ReturnType<typeof createTestApp>["listen"]>>;
  beforeAll(async () => {
    t = await createPgliteTestDatabase();
    app = createTestApp(t.db, replay);
    listening = await app.listen();
  });
  afterAll(async () => {
    await listening.server.stop();
    app.stop();
    await t.dispose();
  });

  it("answers /health with 200, the database status, the last run and the sources", async () => {
    const res = await fetch(`${listening.url}/health`);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ status: "ok", database: { status: "up" }, lastRun: null });
    expect(body.sources.map((s: { source: string; status: string }) => [s.source, s.status])).toEqual([
      ["COINGECKO", "UNKNOWN"],
      ["COINPAPRIKA", "UNKNOWN"],
      ["CSV", "UNKNOWN"],
    ]);
  });

  it("answers a GraphQL POST with data and request metadata", async () => {
    const res = await fetch(`${listening.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": "req-123" },
      body: JSON.stringify({
        query: "{ __typename etlRuns(first: 5) { totalCount edges { node { id } } } }",
      }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toBe("req-123");
    const body = await res.json();
    expect(body.data).toEqual({ __typename: "Query", etlRuns: { totalCount: 0, edges: [] } });
    expect(body.extensions.requestId).toBe("req-123");
    expect(typeof body.extensions.latencyMs).toBe("number");
  });

  it("replaces an insane inbound request id with a fresh one", async () => {
    const res = await fetch(`${listening.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": "bad id\twith spaces" },
      body: JSON.stringify({ query: "{ __typename }" }),
    });
    const id = res.headers.get("x-request-id");
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await res.json()).extensions.requestId).toBe(id);
  });

  it("serves GraphiQL to browsers at /graphql", async () => {
    const res = await fetch(`${listening.url}/graphql`, { headers: { accept: "text/html" } });
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/graphiql/i);
  });

  it("lists the named metrics at /metrics", async () => {
    const text = await (await fetch(`${listening.url}/metrics`)).text();
    for (const name of [
      "etl_runs_total",
      "etl_records_total",
      "etl_run_duration_seconds",
      "etl_source_duration_seconds",
      "etl_source_up",
      "etl_source_last_success_timestamp_seconds",
      "etl_drift_events_total",
      "etl_upstream_retries_total",
      "etl_upstream_rate_limited_total",
      "graphql_operations_total",
      "graphql_operation_duration_seconds",
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
  });

  it("refuses a request body over the limit with 413", async () => {
    const res = await fetch(`${listening.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: `{ __typename }${" ".repeat(1_100_000)}` }),
    });
    expect(res.status).toBe(413);
  });
});

describe("HTTP server with an unreachable database", () => {
  it("answers /health with 503 and says the database is down", async () => {
    const db = await createDatabase({
      url: "postgresql://postgres@127.0.0.1:1/none",
      dataDir: "unused",
      logger: quietLogger,
    });
    const app = createTestApp(db, replay);
    const { server, url } = await app.listen();
    try {
      const res = await fetch(`${url}/health`);
      expect(res.status).toBe(503);
      const body = await res.json();
      expect(body.status).toBe("unavailable");
      expect(body.database.status).toBe("down");
      expect(body.database.error).toBeTruthy();
    } finally {
      await server.stop();
      app.stop();
      await db.close();
    }
  });
});
