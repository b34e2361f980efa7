import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createTestApp, startStack, TEST_API_KEY, type TestStack } from "../support/app.ts";
import type { TestDatabase } from "../support/databases.ts";
import { COINGECKO_TOP250, loadFixture, type ReplayServer } from "../support/replay-server.ts";
import { collect, wsClient } from "../support/ws-client.ts";

type Item = Record<string, unknown>;
let stack: TestStack;
let replay: ReplayServer;
let t: TestDatabase;
let http: TestStack["http"];

beforeAll(async () => {
  // A buffer larger than any run here: these tests check the resume seam, not the slow-consumer
  // policy (market-feed.test.ts does), so a busy CI machine must not conflate updates.
  // No HEARTBEAT either: a busy machine's long run would slip one between the updates counted.
  stack = await startStack({
    env: { ETL_BATCH_SIZE: "100", SUBSCRIPTION_HEARTBEAT_SECONDS: "0" },
    bufferSize: 10_000,
  });
  ({ replay, t, http } = stack);
});
afterAll(() => stack.close());
beforeEach(async () => {
  await t.reset();
  replay.setCoinGeckoPages([loadFixture<Item[]>(COINGECKO_TOP250)]);
  replay.clearFaults();
});

const UPDATES = `subscription($symbols: [String!], $afterSeq: BigInt, $mode: MarketUpdateMode) {
  marketUpdates(symbols: $symbols, afterSeq: $afterSeq, mode: $mode) {
    kind seq fromSeq toSeq
    observation { source priceUsd observedAt asset { symbol } }
    latestPrice { priceUsd sources { source } }
  }
}`;

async function trigger(sources?: string[]) {
  const res = await fetch(`${http.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${TEST_API_KEY}` },
    body: JSON.stringify({
      query: "mutation($s: [Source!]) { triggerEtl(input: { sources: $s }) { run { id } alreadyRunning } }",
      variables: { s: sources },
    }),
  });
  const body = await res.json();
  expect(body.errors).toBeUndefined();
  return Number(body.data.triggerEtl.run.id);
}

async function waitForRun(id: number) {
  for (let i = 0; i < 400; i++) {
    const run = await t.db.prisma.etlRun.findUnique({ where: { id } });
    if (run && run.status !== "RUNNING") return run;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`run ${id} did not finish`);
}

const seqsInDb = async (where: object = {}) =>
  (
    await t.db.prisma.marketObservation.findMany({ where, select: { seq: true }, orderBy: { seq: "asc" } })
  ).map((r) => Number(r.seq));

describe("subscriptions over graphql-ws on a real port", () => {
  it("marketUpdates(symbols: [BTC]) receives the BTC updates of a triggered run, and nothing else", async () => {
    const client = wsClient(http.wsUrl);
    const sub = collect(client, UPDATES, { symbols: ["BTC"] });
    await new Promise((r) => setTimeout(r, 300));
    await waitForRun(await trigger());
    const expected = await seqsInDb({ asset: { symbol: "BTC" } });
    expect(expected.length).toBe(184);
    const events = await sub.until(expected.length);
    sub.stop();
    await client.dispose();
    expect(events.map((e) => e.marketUpdates.observation.asset.symbol)).toEqual(expected.map(() => "BTC"));
    expect(events.map((e) => e.marketUpdates.seq)).toEqual(expected);
    expect(events[0].marketUpdates).toMatchObject({
      kind: "UPDATE",
      latestPrice: { priceUsd: expect.any(Number) },
    });
  });

  it("resolves relations the feed did not read (run, asset.sources) for each subscriber, and the asset it did", async () => {
    // The feed reads each row once with its asset, for every subscriber; a subscriber selecting
    // more than that must still get it, each with its own selection.
    const clients = [wsClient(http.wsUrl), wsClient(http.wsUrl)];
    const deep = collect(
      clients[0]!,
      `subscription { marketUpdates(symbols: ["ETH"]) { seq observation { asset { symbol name sources { source sourceAssetId } } run { id status } } } }`,
    );
    const shallow = collect(
      clients[1]!,
      `subscription { marketUpdates(symbols: ["ETH"]) { seq observation { priceUsd asset { symbol } } } }`,
    );
    await new Promise((r) => setTimeout(r, 300));
    const id = await trigger(["COINGECKO"]);
    await waitForRun(id);
    const expected = await seqsInDb({ asset: { symbol: "ETH" }, source: "COINGECKO" });
    expect(expected.length).toBe(1);
    const [d] = await deep.until(1);
    const [s] = await shallow.until(1);
    deep.stop();
    shallow.stop();
    await Promise.all(clients.map((c) => c.dispose()));
    expect(d.marketUpdates).toEqual({
      seq: expected[0],
      observation: {
        asset: {
          symbol: "ETH",
          name: "Ethereum",
          sources: [{ source: "COINGECKO", sourceAssetId: "ethereum" }],
        },
        run: { id: String(id), status: expect.stringMatching(/RUNNING|SUCCEEDED/) },
      },
    });
    expect(s.marketUpdates).toEqual({
      seq: expected[0],
      observation: { priceUsd: expect.any(Number), asset: { symbol: "ETH" } },
    });
    expect([...deep.errors, ...shallow.errors]).toEqual([]);
  });

  it("executes each update once for subscribers of the same operation, apart for another selection or key", async () => {
    const executions = async () => {
      const { values } = await stack.app.metrics.subscriptionEvents.get();
      const of = (execution: string) => values.find((v) => v.labels.execution === execution)?.value ?? 0;
      return { own: of("own"), shared: of("shared") };
    };
    const SELECTION = `{ kind seq observation { priceUsd asset { symbol } } latestPrice { priceUsd } }`;
    const same = `subscription($symbols: [String!], $afterSeq: BigInt) {
      marketUpdates(symbols: $symbols, afterSeq: $afterSeq) ${SELECTION}
    }`;
    const other = `subscription($symbols: [String!]) { marketUpdates(symbols: $symbols) { seq observation { source } } }`;
    const clients = [
      wsClient(http.wsUrl),
      wsClient(http.wsUrl),
      wsClient(http.wsUrl),
      wsClient(http.wsUrl, { authorization: "Bearer someone-else" }),
    ];
    const [top] = await seqsInDb();
    const group = clients.slice(0, 3).map((c) => collect(c, same, { symbols: ["BTC"] }));
    // The arguments of marketUpdates choose which updates arrive, not what an update's result is:
    // other symbols, a resume point (the README's reconnecting client) or an undeclared extra
    // variable still share.
    const wide = collect(clients[0]!, same, { afterSeq: top ?? 0, pad: 1, symbols: ["BTC", "ETH"] });
    const eth = collect(clients[1]!, same, { symbols: ["ETH"] });
    const keyed = collect(clients[3]!, same, { symbols: ["BTC"] });
    const selection = collect(clients[1]!, other, { symbols: ["BTC"] });
    await new Promise((r) => setTimeout(r, 300));
    const before = await executions();
    await waitForRun(await trigger(["COINGECKO"]));
    const btc = await seqsInDb({ asset: { symbol: "BTC" } });
    const ethSeqs = await seqsInDb({ asset: { symbol: "ETH" } });
    expect(btc.length).toBeGreaterThan(0);
    expect(ethSeqs.length).toBeGreaterThan(0);
    const received = await Promise.all([...group, keyed, selection].map((c) => c.until(btc.length)));
    await eth.until(ethSeqs.length);
    await wide.until(btc.length + ethSeqs.length);
    const after = await executions();
    for (const c of [...group, wide, keyed, eth, selection]) c.stop();
    await Promise.all(clients.map((c) => c.dispose()));

    // Everyone got what they asked for: the same operation the same data, other ones their own.
    const [first, ...rest] = received.slice(0, 4);
    expect(first!.map((e) => e.marketUpdates.seq)).toEqual(btc);
    for (const events of rest) expect(events).toEqual(first);
    expect(received[4]!.map((e) => e.marketUpdates)).toEqual(
      btc.map((seq) => ({ seq, observation: { source: "COINGECKO" } })),
    );
    expect(eth.events.map((e) => e.marketUpdates.observation.asset.symbol)).toEqual(ethSeqs.map(() => "ETH"));
    expect(wide.events.map((e) => e.marketUpdates.seq)).toEqual([...btc, ...ethSeqs].sort((a, b) => a - b));
    expect(wide.events.filter((e) => e.marketUpdates.observation.asset.symbol === "BTC")).toEqual(first);
    // A BTC update: once for the group and `wide`, once for the other key, once for the other
    // selection. An ETH update: once for `eth` and `wide`.
    expect(after.own - before.own).toBe(3 * btc.length + ethSeqs.length);
    expect(after.shared - before.shared).toBe(3 * btc.length + ethSeqs.length);
  });

  it("etlRunEvents sees RUNNING, per-batch progress, then SUCCEEDED", async () => {
    const client = wsClient(http.wsUrl);
    const sub = collect(
      client,
      `subscription { etlRunEvents { runId status progress { source written } run { id } } }`,
    );
    await new Promise((r) => setTimeout(r, 300));
    const id = await trigger(["COINGECKO"]);
    const events = await sub.until((es) => es.some((e) => e.etlRunEvents.status === "SUCCEEDED"));
    sub.stop();
    await client.dispose();
    const statuses = events.map((e) => e.etlRunEvents.status);
    expect(statuses[0]).toBe("RUNNING");
    expect(statuses.at(-1)).toBe("SUCCEEDED");
    expect(events.some((e) => e.etlRunEvents.progress?.written === 100)).toBe(true);
    expect(events.every((e) => e.etlRunEvents.runId === String(id))).toBe(true);
  });

  it("driftWarnings receives the events of a drifted payload", async () => {
    await waitForRun(await trigger(["COINGECKO"]));
    const client = wsClient(http.wsUrl);
    const sub = collect(
      client,
      `subscription { driftWarnings(source: COINGECKO) { kind path renamedFrom confidence } }`,
    );
    await new Promise((r) => setTimeout(r, 300));
    replay.setCoinGeckoPages([
      loadFixture<Item[]>(COINGECKO_TOP250).map(({ current_price, ...rest }) => ({
        ...rest,
        price_current: current_price,
      })),
    ]);
    await waitForRun(await trigger(["COINGECKO"]));
    const events = await sub.until(1);
    sub.stop();
    await client.dispose();
    expect(events[0].driftWarnings).toMatchObject({
      kind: "RENAMED",
      path: "price_current",
      renamedFrom: "current_price",
    });
  });

  it("resumes with afterSeq: exactly the missed updates, then live ones, no gap and no duplicate", async () => {
    await waitForRun(await trigger(["COINGECKO"]));
    const last = (await seqsInDb()).at(-1)!;
    // Offline while a run writes.
    await waitForRun(await trigger(["COINPAPRIKA"]));
    const missed = (await seqsInDb()).filter((s) => s > last);
    expect(missed.length).toBe(500);
    const client = wsClient(http.wsUrl);
    const sub = collect(client, UPDATES, { afterSeq: last });
    await sub.until(missed.length);
    // …then live.
    await waitForRun(await trigger(["CSV"]));
    const all = (await seqsInDb()).filter((s) => s > last);
    const events = await sub.until(all.length);
    await new Promise((r) => setTimeout(r, 300));
    sub.stop();
    await client.dispose();
    expect(events.map((e) => e.marketUpdates.seq)).toEqual(all);
  });

  it("resumes without gap or duplicate when the disconnect falls during a run's batches", async () => {
    const first = wsClient(http.wsUrl);
    const a = collect(first, UPDATES, { afterSeq: 0 });
    const id = await trigger();
    await a.until(150);
    a.stop();
    await first.dispose();
    const seen = a.events.map((e) => e.marketUpdates.seq as number);
    const lastSeen = seen.at(-1)!;
    const second = wsClient(http.wsUrl);
    const b = collect(second, UPDATES, { afterSeq: lastSeen });
    await waitForRun(id);
    const all = await seqsInDb();
    await b.until(all.filter((s) => s > lastSeen).length);
    await new Promise((r) => setTimeout(r, 300));
    b.stop();
    await second.dispose();
    const combined = [...seen, ...b.events.map((e) => e.marketUpdates.seq as number)];
    expect(combined).toEqual(all);
  });

  it("sends RESYNC first when afterSeq is beyond the retention window", async () => {
    await waitForRun(await trigger(["COINGECKO"]));
    const expired = createTestApp(t.db, replay, { retentionHours: 0 });
    const server = await expired.listen();
    const client = wsClient(server.wsUrl);
    const sub = collect(client, UPDATES, { afterSeq: 1 });
    const events = await sub.until(1);
    sub.stop();
    await client.dispose();
    await server.server.stop();
    expired.stop();
    const max = (await seqsInDb()).at(-1);
    expect(events[0].marketUpdates).toMatchObject({ kind: "RESYNC", seq: max, observation: null });
  });

  it("sends RESYNC at the database's highest seq when afterSeq is above it (a restore, a new DATA_DIR), then live updates", async () => {
    await waitForRun(await trigger(["COINGECKO"]));
    const max = (await seqsInDb()).at(-1)!;
    const client = wsClient(http.wsUrl);
    const sub = collect(client, UPDATES, { afterSeq: max + 1_000_000, symbols: ["BTC"] });
    const [first] = await sub.until(1, 10_000);
    expect(first.marketUpdates).toMatchObject({ kind: "RESYNC", seq: max, observation: null });
    await waitForRun(await trigger(["CSV"]));
    const live = await seqsInDb({ asset: { symbol: "BTC" }, seq: { gt: max } });
    expect(live.length).toBeGreaterThan(0);
    const events = await sub.until(1 + live.length);
    sub.stop();
    await client.dispose();
    expect(events.slice(1).map((e) => e.marketUpdates.seq)).toEqual(live);
  });

  it("uses connectionParams.authorization for triggerEtl over WebSocket", async () => {
    const anonymous = wsClient(http.wsUrl);
    const denied = collect(anonymous, `mutation { triggerEtl { alreadyRunning } }`);
    await denied.until(() => denied.errors.length > 0).catch(() => undefined);
    await anonymous.dispose();
    expect(JSON.stringify(denied.errors)).toContain("UNAUTHENTICATED");
    const authorized = wsClient(http.wsUrl, { authorization: `Bearer ${TEST_API_KEY}` });
    const ok = collect(
      authorized,
      `mutation { triggerEtl(input: { sources: [CSV] }) { run { id status } } }`,
    );
    const [event] = await ok.until(1);
    await authorized.dispose();
    expect(event.triggerEtl.run.status).toBe("RUNNING");
    await waitForRun(Number(event.triggerEtl.run.id));
  });
});

describe("subscriptions over SSE", () => {
  it("streams marketUpdates as server-sent events", async () => {
    const controller = new AbortController();
    const res = await fetch(`${http.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ query: UPDATES, variables: { symbols: ["ETH"] } }),
      signal: controller.signal,
    });
    expect(res.headers.get("content-type")).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    await new Promise((r) => setTimeout(r, 300));
    await waitForRun(await trigger(["COINGECKO"]));
    let text = "";
    const deadline = Date.now() + 20_000;
    while (!text.includes('"symbol":"ETH"') && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    controller.abort();
    const data = text.split("\n").find((l) => l.startsWith("data: {"));
    const event = JSON.parse(data!.slice(6));
    expect(event.data.marketUpdates.observation.asset.symbol).toBe("ETH");
    // Every response carries the request id, events included, and its latency counts from its
    // event: the subscription was open for 300 ms and a whole run before this event.
    expect(event.extensions.requestId).toBe(res.headers.get("x-request-id"));
    expect(event.extensions.latencyMs).toBeGreaterThanOrEqual(0);
    expect(event.extensions.latencyMs).toBeLessThan(300);
  });
});
