// Fan-out capacity (#16): how many 500-row batches per second our server carries to N graphql-ws
// subscribers in LATEST mode over 2,600 assets before delivery falls behind, against the same for
// a bare `ws` server broadcasting the same bytes. The batch rate is stepped up (×2 a step) until a
// step falls behind; the highest step sustained is each side's capacity. Servers and clients each
// run in processes of their own (bench/capacity-clients.ts): the server's event loop is measured
// alone, through its own /metrics (prom-client's monitorEventLoopDelay, reset on every scrape).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { createDatabase } from "../src/db/database.ts";
import type { Logger } from "../src/logger/logger.ts";
import { upsertObservations } from "../src/pipeline/batch-writer.ts";
import { createEventBus } from "../src/pipeline/events.ts";
import { createPgEventTransport } from "../src/pipeline/pg-event-transport.ts";
import { EMPTY_MARKET_FIELDS, type NormalizedRecord } from "../src/sources/record.ts";
import { type Started, startProcess, stop } from "./processes.ts";
import { log, percentile, row } from "./results.ts";

const ASSETS = 2_600;
const BATCH = 500;
/**
 * Falls behind: one batch interval after a step's last batch, the slowest sampled socket has not
 * received everything before that last batch (it may still be receiving the last one).
 */
const LAG_BATCHES = 1;
const SUBSCRIPTION = `subscription {
  marketUpdates(mode: LATEST) { kind seq observation { priceUsd observedAt source asset { id symbol name } } latestPrice { priceUsd } }
}`;
const now = () => performance.timeOrigin + performance.now();

interface Step {
  rate: number;
  batches: number;
  /** The slowest socket's lag at the step's end, in batches. */
  lag: number;
  drainedMs: number | null;
  /** Every batch was published within one interval of its time. */
  onSchedule: boolean;
  stale: number;
  errors: number;
  p99: number;
  stallMs: number | null;
  sustained: boolean;
}

interface Scrape {
  stallMs: number | null;
  own?: number;
  shared?: number;
}

/** One side under test: publishes batch b, says what every socket should hold at the end. */
interface Side {
  name: string;
  publish(b: number): Promise<{ from: number; to: number }>;
  /** [asset id, price] every socket's last value must equal once drained. */
  expected(): Promise<[string, number][]>;
  /**
   * The longest event-loop stall since the previous call, ms (null: not measured), and the
   * subscription results executed so far, own and shared (ours: graphql_subscription_events_total).
   */
  scrape(): Promise<Scrape>;
}

async function call<T>(port: number, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path} answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

export async function benchCapacity(url: string, quick: boolean, logger: Logger, cpuProf = false) {
  const subscribers = quick ? 100 : 1_000;
  const processes = quick ? 1 : 2;
  const stepSeconds = quick ? 2 : 5;
  const minBatches = quick ? 2 : 3;
  const maxSteps = quick ? 4 : 8;
  const sampled = quick ? 10 : 20;
  const drainMs = quick ? 8_000 : 20_000;
  /** The slowest rate stepped: 1,000 subscribers of a slow server take minutes per step already. */
  const minRate = 1 / 64;
  /** How long a step's end waits for every socket to reach the last seq: set per side from t1. */
  let drainLimit = drainMs;

  const db = await createDatabase({ url, dataDir: "unused", logger });
  const bus = createEventBus({ transport: createPgEventTransport({ db, logger }) });
  const run = await db.prisma.etlRun.create({ data: { trigger: "CLI", requested: ["CSV"] } });
  // The end-to-end run's assets, topped up to 2,600 when it loaded fewer.
  const missing = ASSETS - (await db.prisma.asset.count());
  if (missing > 0)
    await db.prisma
      .$executeRaw`INSERT INTO asset (symbol, name) SELECT 'CAP' || g, 'Capacity ' || g FROM generate_series(1, ${missing}::int) g`;
  const assets = await db.prisma.asset.findMany({
    take: ASSETS,
    orderBy: { id: "asc" },
    select: { id: true, symbol: true, name: true },
  });
  const ids = assets.map((a) => String(a.id));

  const profileDir = cpuProf ? mkdtempSync(join(tmpdir(), "coinflow-capacity-prof-")) : null;
  const ours = await startProcess(
    ["src/main.ts", "serve"],
    { DATABASE_URL: url, PORT: "0", HOST: "127.0.0.1", ETL_INTERVAL_SECONDS: "0", LOG_LEVEL: "info" },
    /"port":(\d+)/,
    profileDir ? { nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] } : {},
  );
  const raw = await startProcess(["bench/raw-broadcast.ts"], {}, /"port":(\d+)/);
  const clientProcesses: Started[] = [];
  for (let i = 0; i < processes; i++)
    clientProcesses.push(await startProcess(["bench/capacity-clients.ts"], {}, /"port":(\d+)/));
  const all = <T>(method: string, path: string, body?: unknown) =>
    Promise.all(clientProcesses.map((c) => call<T>(c.port, method, path, body)));
  const connect = (wsUrl: string, graphql: boolean) =>
    all("POST", "/connect", {
      url: wsUrl,
      graphql,
      n: subscribers / processes,
      query: SUBSCRIPTION,
      assets: ids,
      sample: Math.ceil(sampled / processes),
    });
  const status = async () => {
    const s = await all<{ min: number; max: number; errors: number; closed: number }>("GET", "/status");
    return {
      min: Math.min(...s.map((x) => x.min)),
      errors: s.reduce((a, x) => a + x.errors + x.closed, 0),
    };
  };

  // Batch b: 500 assets in turn (all 2,600 every 5.2 batches), each at a new time and price.
  const base = Date.UTC(2032, 0, 1);
  const priceOf = (b: number, k: number) => 1 + ((b * 31 + k) % 997) + b / 1_000;
  const assetOf = (b: number, k: number) => (b * BATCH + k) % ASSETS;
  const written = new Set<number>();

  const oursSide: Side = {
    name: "ours",
    async publish(b) {
      const rows = Array.from({ length: BATCH }, (_, k) => {
        const a = assets[assetOf(b, k)]!;
        written.add(a.id);
        const record: NormalizedRecord = {
          source: "CSV",
          sourceAssetId: `capacity-${a.id}`,
          file: "",
          idColumn: null,
          symbol: null,
          name: null,
          observedAt: new Date(base + b * 1_000),
          priceUsd: priceOf(b, k),
          ...EMPTY_MARKET_FIELDS,
          position: k,
          location: `capacity ${b}/${k}`,
          raw: null,
        };
        return { record, assetId: a.id };
      });
      // Through the bus, as a run commits: the event reaches the server with the commit.
      return bus.transaction(db.prisma, async (tx, stage) => {
        const { written: w } = await upsertObservations(tx, run.id, "CSV", rows);
        const seqs = w.map((x) => Number(x.seq)).sort((x, y) => x - y);
        await stage("batchCommitted", {
          runId: run.id,
          source: "CSV",
          seqFrom: BigInt(seqs[0]!),
          seqTo: BigInt(seqs.at(-1)!),
        });
        return { from: seqs[0]!, to: seqs.at(-1)! };
      });
    },
    // The database's own latest price per asset written, not what this process thinks it wrote.
    async expected() {
      const latest = await db.prisma.latestPrice.findMany({
        where: { source: "CSV", assetId: { in: [...written] } },
        select: { assetId: true, priceUsd: true },
      });
      return latest.map((l) => [String(l.assetId), l.priceUsd]);
    },
    async scrape() {
      const text = await (await fetch(`http://127.0.0.1:${ours.port}/metrics`)).text();
      const m = /^nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text);
      const executions = (kind: string) =>
        Number(
          new RegExp(`^graphql_subscription_events_total\\{execution="${kind}"\\} (\\S+)$`, "m").exec(
            text,
          )?.[1] ?? 0,
        );
      return {
        stallMs: m ? Number(m[1]) * 1_000 : null,
        own: executions("own"),
        shared: executions("shared"),
      };
    },
  };

  // The baseline's bytes: our server's own update frame, re-stamped per asset, price and seq.
  const template = await firstFrame(`ws://127.0.0.1:${ours.port}/graphql`, () => oursSide.publish(0));
  let rawSeq = 0;
  const rawLast = new Map<string, number>();
  const rawSide: Side = {
    name: "raw ws",
    async publish(b) {
      const from = rawSeq + 1;
      const frames = Array.from({ length: BATCH }, (_, k) => {
        const a = assets[assetOf(b, k)]!;
        const price = priceOf(b, k);
        rawLast.set(String(a.id), price);
        const u = template.payload.data.marketUpdates;
        const frame = {
          ...template,
          payload: {
            data: {
              marketUpdates: {
                ...u,
                seq: ++rawSeq,
                observation: {
                  ...u.observation,
                  priceUsd: price,
                  observedAt: new Date(base + b * 1_000).toISOString(),
                  asset: { id: String(a.id), symbol: a.symbol, name: a.name },
                },
              },
            },
          },
        };
        return JSON.stringify(frame);
      });
      const res = await fetch(`http://127.0.0.1:${raw.port}/publish`, {
        method: "POST",
        body: JSON.stringify(frames),
      });
      if (res.status !== 204) throw new Error(`raw publish answered ${res.status}`);
      return { from, to: rawSeq };
    },
    expected: async () => [...rawLast],
    scrape: async () => ({ stallMs: null }),
  };

  let batch = 1;
  /** Commits one batch and waits until every socket has it: the time one batch takes to deliver. */
  async function oneBatch(side: Side): Promise<number> {
    const started = performance.now();
    const { to } = await side.publish(batch++);
    // Generous: this measures one batch's delivery time, whatever it is.
    const deadline = started + 120_000;
    while ((await status()).min < to && performance.now() < deadline) await sleep(20);
    return performance.now() - started;
  }

  async function step(side: Side, rate: number): Promise<Step> {
    const batches = Math.max(minBatches, Math.ceil(rate * stepSeconds));
    const first = await side.scrape();
    type Samples = { tops: number[]; samples: [number, number, number][] };
    // Each sampled socket's seq as the step starts, per client process.
    const startTops = (await all<Samples>("GET", "/samples")).map((p) => p.tops);
    const before = await status();
    const sent: { from: number; to: number; at: number }[] = [];
    const started = performance.now();
    for (let i = 0; i < batches; i++) {
      const wait = started + (i * 1_000) / rate - performance.now();
      if (wait > 0) await sleep(wait);
      const at = now();
      sent.push({ ...(await side.publish(batch++)), at });
    }
    // The step ends one interval after its last batch: a side that keeps up has delivered it.
    const end = started + (batches * 1_000) / rate;
    // Offered on schedule: a side whose publishing overruns the step by more than one interval
    // (the raw server answers /publish once it has written every frame) did not carry this rate.
    const onSchedule = performance.now() <= end + 1_000 / rate;
    if (end > performance.now()) await sleep(end - performance.now());
    const endAt = now();
    const top = sent.at(-1)!.to;
    const drainStart = performance.now();
    let drained: number | null = null;
    while (performance.now() - drainStart < drainLimit) {
      if ((await status()).min >= top) {
        drained = performance.now() - drainStart;
        break;
      }
      await sleep(20);
    }
    const expected = await side.expected();
    const stale = (await all<{ pairs: number }>("POST", "/stale", { assets: expected })).reduce(
      (a, x) => a + x.pairs,
      0,
    );
    const last = await side.scrape();
    const stallMs = last.stallMs;
    // How many of the step's results were executed for their subscriber, not shared.
    const executed =
      last.own === undefined
        ? ""
        : `, results executed ${last.own - (first.own ?? 0)}, shared ${(last.shared ?? 0) - (first.shared ?? 0)}`;
    const latencies: number[] = [];
    // The lag is read from the sockets' own receipt times, not from /status: a client process
    // behind on its sockets would answer late, after catching up.
    let slowest = Number.POSITIVE_INFINITY;
    (await all<Samples>("GET", "/samples")).forEach((part, p) => {
      const heldAtEnd = [...startTops[p]!];
      for (const [client, seq, at] of part.samples) {
        const b = sent.find((s) => seq >= s.from && seq <= s.to);
        if (b) latencies.push(at - b.at);
        if (at <= endAt && seq > heldAtEnd[client]!) heldAtEnd[client] = seq;
      }
      slowest = Math.min(slowest, ...heldAtEnd);
    });
    const lag = (top - slowest) / BATCH;
    const errors = (await status()).errors - before.errors;
    const result: Step = {
      rate,
      batches,
      lag,
      drainedMs: drained,
      stale,
      errors,
      p99: percentile(latencies, 99),
      stallMs,
      onSchedule,
      sustained: onSchedule && lag <= LAG_BATCHES && drained !== null && stale === 0 && errors === 0,
    };
    log(
      `capacity ${side.name} ${rate} batches/s: ${result.sustained ? "sustained" : "behind"} (${onSchedule ? "" : "publishing overran the schedule, "}lag ${lag.toFixed(1)} batches, drained ${drained === null ? "no" : `${Math.round(drained)} ms`}, stale ${stale}, p99 ${Math.round(result.p99)} ms${stallMs === null ? "" : `, stall ${Math.round(stallMs)} ms`}${executed})`,
    );
    return result;
  }

  /** Steps the rate up from a start set by one batch's delivery time until a step falls behind. */
  async function capacity(side: Side) {
    // Only what these sockets could have seen is expected of them.
    written.clear();
    const t1 = await oneBatch(side);
    // At or below what one batch's delivery time allows (quick: from just below it, to stay short).
    let rate = 2 ** Math.floor(Math.log2(1_000 / ((quick ? 1 : 2) * t1)));
    rate = Math.min(64, Math.max(minRate, rate));
    // A side that keeps up needs up to one batch's delivery time to drain the last one.
    drainLimit = Math.max(drainMs, 2 * t1);
    const steps: Step[] = [];
    let best: Step | null = null;
    let failedAbove = false;
    while (steps.length < maxSteps) {
      const s = await step(side, rate);
      steps.push(s);
      if (s.sustained) {
        best = s;
        if (failedAbove) break;
        rate *= 2;
      } else {
        failedAbove = true;
        // Below the first step only when it fell behind, at most twice.
        if (best || steps.length >= 3 || rate <= minRate) break;
        rate /= 2;
      }
    }
    // One step between the highest sustained and the first that fell behind: ×√2 resolution.
    if (!quick && best && failedAbove && steps.length < maxSteps) {
      const s = await step(side, best.rate * Math.SQRT2);
      steps.push(s);
      if (s.sustained && s.rate > best.rate) best = s;
    }
    return { t1, steps, best };
  }

  await connect(`ws://127.0.0.1:${raw.port}/raw`, false);
  log(`capacity: raw ws, ${subscribers} sockets`);
  const rawResult = await capacity(rawSide);
  await all("POST", "/close");
  await connect(`ws://127.0.0.1:${ours.port}/graphql`, true);
  await sleep(500);
  log(`capacity: ours, ${subscribers} graphql-ws subscribers`);
  const oursResult = await capacity(oursSide);
  await all("POST", "/close");

  for (const c of clientProcesses) await stop(c.child);
  await stop(ours.child);
  await stop(raw.child);
  await db.close();
  if (profileDir) log(`capacity: our server's CPU profile is in ${profileDir}`);

  const scenario = `capacity (${subscribers} subscribers, LATEST, ${ASSETS} assets, ${BATCH}-row batches)`;
  const fmt = (r: typeof oursResult) =>
    r.steps.map((s) => `${+s.rate.toFixed(3)} ${s.sustained ? "ok" : "behind"}`).join(", ") +
    (r.steps.every((s) => s.sustained) ? " (never fell behind: a lower bound)" : "");
  const oursRate = oursResult.best?.rate ?? 0;
  const rawRate = rawResult.best?.rate ?? 0;
  row({
    scenario,
    metric: `highest batch rate sustained (0 stale, lag <= ${LAG_BATCHES} batches), batches/s, vs raw ws broadcast of the same bytes at its own capacity (ours: ${fmt(oursResult)}; raw: ${fmt(rawResult)})`,
    value: oursRate,
    baseline: rawRate,
    ratio: rawRate > 0 ? oursRate / rawRate : null,
    target: ">= 0.5",
    check: (x) => x >= 0.5,
  });
  row({
    scenario,
    metric: "updates per second delivered at that rate (batch rate × 500 × subscribers)",
    value: oursRate * BATCH * subscribers,
    baseline: rawRate * BATCH * subscribers,
    target: null,
  });
  row({
    scenario,
    metric: "p99 ms, start of the commit -> client, at that rate",
    value: oursResult.best?.p99 ?? Number.NaN,
    baseline: rawResult.best?.p99 ?? null,
    ratio: null,
    target: null,
  });
  // At the sustained rate, and at the first rate that fell behind (where stalls grow).
  const stalls = oursResult.steps.map((s) => Math.round(s.stallMs ?? Number.NaN));
  row({
    scenario,
    metric: `longest event-loop stall in the server, ms, at that rate (every step: ${stalls.join(", ")})`,
    value: oursResult.best?.stallMs ?? Number.NaN,
    baseline: null,
    ratio: null,
    target: "<= 50",
    check: (_r, v) => v <= 50,
  });
}

/** Subscribes once, triggers one update, and returns the frame our server sent for it. */
async function firstFrame(
  wsUrl: string,
  trigger: () => Promise<unknown>,
): Promise<{
  id: string;
  type: string;
  payload: { data: { marketUpdates: { seq: number; observation: Record<string, unknown> } } };
}> {
  const client = createClient({ url: wsUrl, webSocketImpl: WebSocket, lazy: true, retryAttempts: 0 });
  try {
    const frame = new Promise<unknown>((resolve, reject) => {
      client.subscribe(
        { query: SUBSCRIPTION },
        { next: (v) => resolve(v), error: reject, complete: () => undefined },
      );
    });
    await sleep(300);
    await trigger();
    const payload = (await Promise.race([
      frame,
      sleep(15_000).then(() => {
        throw new Error("no update frame from our server within 15 s");
      }),
    ])) as { data: { marketUpdates: { seq: number; observation: Record<string, unknown> } } };
    return { id: "1", type: "next", payload };
  } finally {
    await client.dispose();
  }
}
