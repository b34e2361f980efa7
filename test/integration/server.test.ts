import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase } from "../../src/db/database.ts";
import { buildSchema } from "../../src/graphql/schema.ts";
import { createServer, type Server } from "../../src/server/server.ts";
import { createPgliteTestDatabase, quietLogger, type TestDatabase } from "../support/databases.ts";

function serverOn(db: TestDatabase["db"]): Server {
  return createServer({
    schema: buildSchema(),
    db,
    logger: quietLogger,
    port: 0,
    host: "127.0.0.1",
    explorer: true,
    shutdownTimeoutMs: 1_000,
  });
}

describe("HTTP server on embedded PGlite", () => {
  let t: TestDatabase;
  let server: Server;
  let base: string;
  beforeAll(async () => {
    t = await createPgliteTestDatabase();
    server = serverOn(t.db);
    base = `http://127.0.0.1:${(await server.start()).port}`;
  });
  afterAll(async () => {
    await server.stop();
    await t.dispose();
  });

  it("answers /health with 200 and the database status", async () => {
    const res = await fetch(`${base}/health`);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ status: "ok", database: { status: "up" }, lastRun: null });
  });

  it("answers a GraphQL POST with data and request metadata", async () => {
    const res = await fetch(`${base}/graphql`, {
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
    const res = await fetch(`${base}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": "bad id\twith spaces" },
      body: JSON.stringify({ query: "{ __typename }" }),
    });
    const id = res.headers.get("x-request-id");
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await res.json()).extensions.requestId).toBe(id);
  });

  it("serves GraphiQL to browsers at /graphql", async () => {
    const res = await fetch(`${base}/graphql`, { headers: { accept: "text/html" } });
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/graphiql/i);
  });
});

describe("HTTP server with an unreachable database", () => {
  it("answers /health with 503 and says the database is down", async () => {
    const db = await createDatabase({
      url: "postgresql://postgres@127.0.0.1:1/none",
      dataDir: "unused",
      logger: quietLogger,
    });
    const server = serverOn(db);
    const { port } = await server.start();
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health`);
      expect(res.status).toBe(503);
      const body = await res.json();
      expect(body.status).toBe("unavailable");
      expect(body.database.status).toBe("down");
      expect(body.database.error).toBeTruthy();
    } finally {
      await server.stop();
      await db.close();
    }
  });
});
