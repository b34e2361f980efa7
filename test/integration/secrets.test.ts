import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, TEST_API_KEY } from "../support/app.ts";
import { createPgliteTestDatabase, type TestDatabase } from "../support/databases.ts";
import { type ReplayServer, startReplayServer } from "../support/replay-server.ts";

const KEYS = { COINGECKO_API_KEY: "CG-leak-canary-7f3a9", COINPAPRIKA_API_KEY: "paprika-leak-canary-b21c" };
let replay: ReplayServer;
let t: TestDatabase;

beforeAll(async () => {
  replay = await startReplayServer();
  t = await createPgliteTestDatabase();
});
afterAll(async () => {
  await t.dispose();
  await replay.close();
});

describe("secrets after a full run with keys set", () => {
  it("appear in no GraphQL response, metric, archived request or stored error", async () => {
    replay.fault("coinpaprika", { kind: "status", status: 500 }, { always: true });
    const app = createTestApp(t.db, replay, { env: { ...KEYS } });
    const run = await app.runner.run({ trigger: "CLI" });
    expect(run.status).toBe("PARTIAL");
    expect(replay.requests.some((r) => r.headers["x-cg-demo-api-key"] === KEYS.COINGECKO_API_KEY)).toBe(true);
    const auth = { authorization: `Bearer ${TEST_API_KEY}` };
    const outputs: string[] = [];
    for (const q of [
      "{ etlRuns(first: 10) { edges { node { error stoppedAt sources { error errorKind checkpointBefore checkpointAfter } } } } }",
      "{ sourceHealth { lastError } etlStats { sources { source } } }",
      `{ etlRun(id: "${run.runId}") { rejectedRecords(first: 50) { edges { node { raw reason location } } } } }`,
      "mutation { triggerEtl { run { error } } }",
    ]) {
      outputs.push(JSON.stringify((await app.gql(q, {}, auth)).body));
    }
    outputs.push(await app.metrics.registry.metrics());
    const payloads = await t.db.prisma.rawPayload.findMany();
    outputs.push(JSON.stringify(payloads.map((p) => p.request)));
    const sourceRuns = await t.db.prisma.sourceRun.findMany();
    outputs.push(JSON.stringify(sourceRuns));
    app.stop();
    const all = outputs.join("\n");
    expect(all).toContain("COINPAPRIKA transient error");
    for (const key of [...Object.values(KEYS), TEST_API_KEY]) expect(all).not.toContain(key);
    expect(JSON.stringify(payloads.map((p) => p.request))).toContain("[REDACTED]");
  });
});
