// Fan-out: N graphql-ws subscribers to marketUpdates, batch events committed at a fixed rate
// through the pipeline's write path, against a bare `ws` server broadcasting the same bytes to
// as many sockets. Both servers run in their own processes; the clients run here.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { createDatabase } from "../src/db/database.ts";
import type { Logger } from "../src/logger/logger.ts";
import { upsertObservations } from "../src/pipeline/batch-writer.ts";
import { createEventBus } from "../src/pipeline/events.ts";
import { createPgEventTransport } from "../src/pipeline/pg-event-transport.ts";
import { EMPTY_MARKET_FIELDS, type NormalizedRecord } from "../src/sources/record.ts";
import { heldMemory, rssOf, startProcess, stop } from "./processes.ts";
import { log, median, percentile, row } from "./results.ts";

const SUBSCRIPTION = `subscription {
  marketUpdates { kind seq observation { priceUsd observedAt source asset { symbol name } } latestPrice { priceUsd } }
}`;
/**
 * A frontend's first subscription (#17): a watchlist's consensus as of seq N, then every update
 * after N. The watchlist is the symbols the batches write to, so every update matches, as for the
 * plain subscribers, and the updates are the same bytes.
 */
const SNAPSHOT_SUBSCRIPTION = `subscription($symbols: [String!]) {
  marketUpdates(symbols: $symbols, snapshot: true) {
    kind seq observation { priceUsd observedAt source asset { symbol name } } latestPrice { priceUsd }
    snapshot { id priceUsd spreadPct asset { symbol name } }
  }
}`;

/** What one side (ours or raw) received: per client, the seqs of this round and when they came. */
class Receipts {
  perClient: Set<number>[] = [];
  times: [seq: number, at: number][] = [];
  duplicates = 0;
  add(client: number, seq: number) {
    const seen = this.perClient[client] ?? new Set<number>();
    this.perClient[client] = seen;
    if (seen.has(seq)) this.duplicates++;
    seen.add(seq);
    this.times.push([seq, performance.now()]);
  }
  reset() {
    this.perClient = [];
    this.times = [];
    this.duplicates = 0;
  }
  count() {
    return this.times.length;
  }
}

async function until(done: () => boolean, timeoutMs: number) {
  const deadline = performance.now() + timeoutMs;
  while (!done() && performance.now() < deadline) await sleep(20);
  return done();
}

/** Opens n sockets, a few at a time (a thousand at once is a SYN flood, not a benchmark). */
async function openMany<T>(n: number, open: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += 50) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, k) => open(i + k)))));
  }
  return out;
}

export async function benchFanout(url: string, quick: boolean, logger: Logger) {
  const clients = quick ? 200 : 1_000;
  const rounds = quick ? 1 : 3;
  const seconds = quick ? 2 : 4;
  const rate = 10;
  const db = await createDatabase({ url, dataDir: "unused", logger });
  const bus = createEventBus({ transport: createPgEventTransport({ db, logger }) });
  const run = await db.prisma.etlRun.create({ data: { trigger: "CLI", requested: ["CSV"] } });
  const benchAssets = await db.prisma.asset.findMany({
    take: 10,
    orderBy: { id: "asc" },
    select: { id: true, symbol: true },
  });
  const assets = benchAssets.map((a) => a.id);
  const watchlist = [...new Set(benchAssets.map((a) => a.symbol))];
  if (assets.length === 0) throw new Error("fan-out needs assets: run the end-to-end scenario first");

  const ours = await startProcess(
    ["src/main.ts", "serve"],
    { DATABASE_URL: url, PORT: "0", HOST: "127.0.0.1", ETL_INTERVAL_SECONDS: "0", LOG_LEVEL: "info" },
    /"port":(\d+)/,
    { inspect: true },
  );
  const raw = await startProcess(["bench/raw-broadcast.ts"], {}, /"port":(\d+)/);
  const oursPid = ours.child.pid!;
  const held = () => heldMemory(oursPid, ours.inspector!);

  // One observation per batch event, each a new observedAt: every commit writes one row and the
  // server's feed reads it once and hands it to every subscriber.
  let tick = 0;
  const commitBatch = async (): Promise<number> => {
    tick++;
    const record: NormalizedRecord = {
      source: "CSV",
      sourceAssetId: "bench",
      file: "",
      idColumn: null,
      symbol: null,
      name: null,
      observedAt: new Date(Date.UTC(2030, 0, 1) + tick * 1_000),
      priceUsd: 100 + (tick % 50),
      ...EMPTY_MARKET_FIELDS,
      position: tick,
      location: `bench ${tick}`,
      raw: null,
    };
    // Through the bus, as a run commits: the event crosses to the server's process with the commit.
    const seq = await bus.transaction(db.prisma, async (tx, stage) => {
      const { written } = await upsertObservations(tx, run.id, "CSV", [
        { record, assetId: assets[tick % assets.length]! },
      ]);
      const w = written[0]!;
      await stage("batchCommitted", { runId: run.id, source: "CSV", seqFrom: w.seq, seqTo: w.seq });
      return w.seq;
    });
    return Number(seq);
  };

  const oursReceipts = new Receipts();
  const errors: unknown[] = [];
  /** The first update frame each subscription query was sent: the bytes the baseline sends. */
  const frameTemplates = new Map<string, unknown>();
  interface Subscription {
    query: string;
    variables?: Record<string, unknown>;
    /** A SNAPSHOT event arrived at client i (its seq: where its updates start). */
    onSnapshot?: (client: number, seq: number) => void;
    /** Client i sends its subscribe message now. */
    onSubscribe?: (client: number) => void;
  }
  const subscribeMany = (
    n: number,
    receipts: Receipts,
    subscription: Subscription = { query: SUBSCRIPTION },
  ) =>
    openMany(n, async (i) => {
      const client = createClient({
        url: `ws://127.0.0.1:${ours.port}/graphql`,
        webSocketImpl: WebSocket,
        lazy: false,
        retryAttempts: 0,
        onNonLazyError: (e) => errors.push(e),
      });
      await new Promise<void>((resolve, reject) => {
        const off = client.on("connected", () => {
          off();
          resolve();
        });
        client.on("closed", (e) => reject(new Error(`closed before connecting: ${JSON.stringify(e)}`)));
      });
      subscription.onSubscribe?.(i);
      client.subscribe<{ marketUpdates: { kind: string; seq: string } }>(
        { query: subscription.query, variables: subscription.variables },
        {
          next: (value) => {
            if (value.errors) errors.push(value.errors);
            const update = value.data?.marketUpdates;
            if (update?.kind === "SNAPSHOT") subscription.onSnapshot?.(i, Number(update.seq));
            else if (update?.seq !== undefined) {
              if (!frameTemplates.has(subscription.query)) frameTemplates.set(subscription.query, value);
              receipts.add(i, Number(update.seq));
            }
          },
          error: (e) => errors.push(e),
          complete: () => undefined,
        },
      );
      return client;
    });
  /** Subscriptions are live once one commit has reached every client. */
  const allReached = async (n: number, receipts: Receipts) => {
    receipts.reset();
    await commitBatch();
    if (!(await until(() => receipts.count() >= n, 30_000)))
      throw new Error(`only ${receipts.count()} of ${n} subscribers got the warm-up update`);
  };

  // The server's memory without the subscribers, measured once the subscription path has run
  // (a few subscribers, one update, then gone): what remains after that is the connections' own.
  const warm = new Receipts();
  const warmClients = await subscribeMany(10, warm);
  await allReached(10, warm);
  for (const c of warmClients) await c.dispose();
  await sleep(500);
  const before = await held();
  const graphqlClients = await subscribeMany(clients, oursReceipts);
  await allReached(clients, oursReceipts);
  const subscribed = await held();

  const rawReceipts = new Receipts();
  const rawSockets = await openMany(
    clients,
    (i) =>
      new Promise<WebSocket>((resolve, reject) => {
        const socket = new WebSocket(`ws://127.0.0.1:${raw.port}/raw`);
        socket.on("message", (data) => {
          const frame = JSON.parse(String(data)) as { payload: { data: { marketUpdates: { seq: string } } } };
          rawReceipts.add(i, Number(frame.payload.data.marketUpdates.seq));
        });
        socket.once("open", () => resolve(socket));
        socket.once("error", reject);
      }),
  );
  // The baseline sends the bytes our server sent, with its own seq.
  let rawSeq = 0;
  const publishRaw = async (query = SUBSCRIPTION): Promise<number> => {
    rawSeq++;
    const frame = structuredClone(frameTemplates.get(query)) as { data: { marketUpdates: { seq: string } } };
    frame.data.marketUpdates.seq = String(rawSeq);
    const bytes = JSON.stringify({ id: randomUUID(), type: "next", payload: frame });
    const res = await fetch(`http://127.0.0.1:${raw.port}/publish`, {
      method: "POST",
      body: JSON.stringify([bytes]),
    });
    if (res.status !== 204) throw new Error(`raw publish answered ${res.status}`);
    return rawSeq;
  };

  async function measure(publish: () => Promise<number>, receipts: Receipts) {
    receipts.reset();
    const sent = new Map<number, number>();
    const events = rate * seconds;
    const started = performance.now();
    for (let i = 0; i < events; i++) {
      const due = started + (i * 1_000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const at = performance.now();
      sent.set(await publish(), at);
    }
    const expected = events * clients;
    await until(() => receipts.count() >= expected, 15_000);
    let received = 0;
    for (const seen of receipts.perClient) for (const seq of seen ?? []) if (sent.has(seq)) received++;
    const latencies = receipts.times.filter(([seq]) => sent.has(seq)).map(([seq, at]) => at - sent.get(seq)!);
    const last = Math.max(...receipts.times.map(([, at]) => at));
    return {
      msgPerSec: received / ((last - started) / 1_000),
      lost: expected - received,
      duplicates: receipts.duplicates,
      p99: percentile(latencies, 99),
    };
  }

  /** Interleaved rounds: the raw broadcast, then ours, each its median over the rounds. */
  async function rounds_(label: string, receipts: Receipts, query: string) {
    const ratios: number[] = [];
    const rates: number[] = [];
    const p99s: number[] = [];
    let lost = 0;
    let duplicates = 0;
    for (let r = 0; r < rounds; r++) {
      log(`fan-out${label} round ${r + 1}/${rounds}`);
      const baseline = await measure(() => publishRaw(query), rawReceipts);
      const ourRound = await measure(commitBatch, receipts);
      rssPeak = Math.max(rssPeak, rssOf(oursPid));
      ratios.push(ourRound.msgPerSec / baseline.msgPerSec);
      rates.push(ourRound.msgPerSec);
      p99s.push(ourRound.p99);
      lost += ourRound.lost;
      duplicates += ourRound.duplicates;
    }
    return { ratio: median(ratios), rate: median(rates), p99: median(p99s), lost, duplicates };
  }
  let rssPeak = subscribed.rss;
  const plain = await rounds_("", oursReceipts, SUBSCRIPTION);
  // Held after the traffic too: a connection must not keep what its messages needed.
  const after = await held();
  for (const c of graphqlClients) await c.dispose();

  // snapshot: true (#17). The subscribers connect while batches commit at the same rate: the time
  // from subscribe to the SNAPSHOT event is the snapshot's own cost under load, and each must get
  // every update after its snapshot's seq (nothing missing, nothing twice at the seam). Then the
  // same rounds as above, with these subscribers.
  const snapReceipts = new Receipts();
  const snapshotAt: number[] = [];
  const snapshotSeq: number[] = [];
  const subscribedAt: number[] = [];
  const loadSent: number[] = [];
  let loading = true;
  const load = (async () => {
    const started = performance.now();
    for (let i = 0; loading; i++) {
      const wait = started + (i * 1_000) / rate - performance.now();
      if (wait > 0) await sleep(wait);
      loadSent.push(await commitBatch());
    }
  })();
  await sleep(500);
  const snapshotClients = await subscribeMany(clients, snapReceipts, {
    query: SNAPSHOT_SUBSCRIPTION,
    variables: { symbols: watchlist },
    onSubscribe: (i) => {
      subscribedAt[i] = performance.now();
    },
    onSnapshot: (i, seq) => {
      snapshotAt[i] = performance.now();
      snapshotSeq[i] = seq;
    },
  });
  if (!(await until(() => snapshotSeq.filter((x) => x !== undefined).length >= clients, 120_000)))
    throw new Error(
      `only ${snapshotSeq.filter((x) => x !== undefined).length} of ${clients} snapshots arrived`,
    );
  await sleep(1_000);
  loading = false;
  await load;
  const lastLoad = loadSent.at(-1)!;
  await until(
    () =>
      Array.from({ length: clients }, (_, i) => snapReceipts.perClient[i]).every((seen) =>
        seen?.has(lastLoad),
      ),
    15_000,
  );
  let seamLost = 0;
  for (let i = 0; i < clients; i++) {
    const seen = snapReceipts.perClient[i] ?? new Set<number>();
    for (const seq of loadSent) if (seq > snapshotSeq[i]! && !seen.has(seq)) seamLost++;
    // Nothing at or below the snapshot's seq: the snapshot already holds it.
    for (const seq of seen) if (seq <= snapshotSeq[i]!) seamLost++;
  }
  const seamDuplicates = snapReceipts.duplicates;
  const snapshotMs = snapshotAt.map((at, i) => at - subscribedAt[i]!);
  const withSnapshot = await rounds_(" (snapshot: true)", snapReceipts, SNAPSHOT_SUBSCRIPTION);

  for (const c of snapshotClients) await c.dispose();
  for (const s of rawSockets) s.terminate();
  await stop(ours.child);
  await stop(raw.child);
  await db.close();

  const scenario = `fan-out (${clients} subscribers, ${rate} batch events/s)`;
  const targetRows = (scenario: string, m: typeof plain, extraLost: number) => {
    row({
      scenario,
      metric: "msg/s delivered vs raw ws broadcast of the same bytes",
      value: m.rate,
      baseline: m.rate / m.ratio,
      ratio: m.ratio,
      target: ">= 0.20",
      check: (x) => x >= 0.2,
    });
    row({
      scenario,
      metric: "updates lost or duplicated (all rounds)",
      value: m.lost + m.duplicates + extraLost,
      baseline: null,
      ratio: null,
      target: "= 0",
      check: (_r, v) => v === 0,
    });
    row({
      scenario,
      metric: "p99 ms, start of the commit -> client",
      value: m.p99,
      baseline: null,
      ratio: null,
      target: "<= 250",
      check: (_r, v) => v <= 250,
    });
  };
  targetRows(scenario, plain, errors.length);
  row({
    scenario,
    // RSS moves by megabytes for reasons of its own (allocator, code space); the V8 heap after a
    // full GC does not. The heap the connections hold is resident, so it bounds RSS from below.
    metric: "server RSS per connection, KB (held after a full GC; at least its V8 heap)",
    value:
      Math.max(
        Math.max(subscribed.rss, after.rss) - before.rss,
        Math.max(subscribed.heap, after.heap) - before.heap,
      ) /
      clients /
      1024,
    baseline: null,
    ratio: null,
    target: "<= 64",
    check: (_r, v) => v <= 64,
  });
  row({
    scenario,
    metric: "server RSS per connection, KB (peak during the traffic: mostly garbage in flight)",
    value: (rssPeak - before.rss) / clients / 1024,
    baseline: null,
    target: null,
  });
  row({
    scenario,
    metric: "server V8 heap per connection, KB (held, after a full GC, before or after the traffic)",
    value: (Math.max(subscribed.heap, after.heap) - before.heap) / clients / 1024,
    baseline: null,
    target: null,
  });

  const snapScenario = `fan-out (${clients} subscribers with snapshot: true, ${rate} batch events/s)`;
  targetRows(snapScenario, withSnapshot, 0);
  row({
    scenario: snapScenario,
    metric: `updates lost, duplicated or at/below the snapshot's seq, subscribing while batches commit (${loadSent.length} batches)`,
    value: seamLost + seamDuplicates,
    baseline: null,
    ratio: null,
    target: "= 0",
    check: (_r, v) => v === 0,
  });
  for (const p of [50, 99]) {
    row({
      scenario: snapScenario,
      metric: `p${p} ms, subscribe -> SNAPSHOT (${watchlist.length} symbols; ${clients} subscribing, 50 at a time, while batches commit)`,
      value: percentile(snapshotMs, p),
      baseline: null,
      target: null,
    });
  }
}
