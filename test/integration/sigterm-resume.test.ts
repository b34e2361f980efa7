import { createClient } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createEventBus } from "../../src/pipeline/events.ts";
import { createPgEventTransport } from "../../src/pipeline/pg-event-transport.ts";
import {
  createPostgresTestDatabase,
  postgresAdminUrl,
  quietLogger,
  type TestDatabase,
} from "../support/databases.ts";
import { createPriceWriter } from "../support/price-writer.ts";
import { spawnService } from "../support/spawn-service.ts";

// RECONNECT on a real SIGTERM (#17): a real service process, real graphql-ws clients, a writer in
// this process committing batches through the pipeline's write path (NOTIFY reaches the service
// with each commit). The service is terminated mid-stream; a new process on the same database
// takes over, and each client resumes with afterSeq = its RECONNECT seq.
const SYMBOLS = ["RCA", "RCB", "RCC", "RCD"];
const LIVE = `subscription($afterSeq: BigInt, $mode: MarketUpdateMode) {
  marketUpdates(afterSeq: $afterSeq, mode: $mode) { kind seq observation { priceUsd asset { id } } }
}`;

interface Update {
  kind: string;
  seq: number;
  observation: { priceUsd: number; asset: { id: string } } | null;
}

/** A non-lazy graphql-ws client (it stays connected after a completion, so the server's close code is what it sees). */
function subscriber(wsUrl: string, mode: "ALL" | "LATEST", afterSeq: number) {
  const events: Update[] = [];
  const errors: unknown[] = [];
  let completed = false;
  let closeCode: number | null = null;
  const client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 0,
    // A non-lazy client reports the socket's close here too: that one is asserted as closeCode.
    onNonLazyError: (e) => {
      if (!(e instanceof Object && "code" in e)) errors.push(e);
    },
  });
  client.on("closed", (e) => {
    closeCode = (e as { code: number }).code;
  });
  client.subscribe<{ marketUpdates: Update }>(
    { query: LIVE, variables: { afterSeq, mode } },
    {
      next: (v) => {
        if (v.errors) errors.push(v.errors);
        if (v.data) events.push(v.data.marketUpdates);
      },
      error: (e) => errors.push(e),
      complete: () => {
        completed = true;
      },
    },
  );
  return {
    events,
    errors,
    client,
    get completed() {
      return completed;
    },
    get closeCode() {
      return closeCode;
    },
  };
}

async function until(done: () => boolean, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let t: TestDatabase;

describe.runIf(postgresAdminUrl !== null)("RECONNECT on SIGTERM (PostgreSQL, real processes)", () => {
  beforeAll(async () => {
    t = await createPostgresTestDatabase();
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it("each client gets RECONNECT at the last seq it was sent, then close 1001; a new process resumes it gap-free", async () => {
    const bus = createEventBus({ transport: createPgEventTransport({ db: t.db, logger: quietLogger }) });
    const writer = await createPriceWriter(t.db, bus, SYMBOLS);
    const env = { DATABASE_URL: t.url!, LOG_LEVEL: "info" };
    const first = await spawnService(env);
    const wsA = `ws://127.0.0.1:${first.port}/graphql`;
    // afterSeq 0: every observation this database ever committed, so the union can be compared
    // with the whole table.
    const all = subscriber(wsA, "ALL", 0);
    const latest = subscriber(wsA, "LATEST", 0);
    const loop = writer.loop(10);
    let second: Awaited<ReturnType<typeof spawnService>> | null = null;
    const clients = [all.client, latest.client];
    try {
      // Mid-stream: both clients have received several batches and the writer keeps going.
      const updates = (s: { events: Update[] }) => s.events.filter((e) => e.kind === "UPDATE").length;
      await until(
        () => updates(all) >= 5 * SYMBOLS.length && updates(latest) >= 5 * SYMBOLS.length,
        "updates",
      );
      const exit = first.stop("SIGTERM");
      await until(
        () => all.closeCode !== null && latest.closeCode !== null,
        "both sockets to close after SIGTERM",
      );
      expect(await exit).toBe(0);
      expect(first.output()).toContain('"signal":"SIGTERM","msg":"shutting down"');
      for (const s of [all, latest]) {
        // RECONNECT is the last event, its seq the last seq the client was sent (unpaced), then
        // the subscription completed and the server closed the socket with 1001 (going away).
        const last = s.events.at(-1)!;
        expect(last.kind).toBe("RECONNECT");
        const sent = s.events.slice(0, -1);
        expect(sent.length).toBeGreaterThan(0);
        expect(sent.every((e) => e.kind === "UPDATE")).toBe(true);
        expect(last.seq).toBe(sent.at(-1)!.seq);
        expect(s.completed).toBe(true);
        expect(s.closeCode).toBe(1001);
        expect(s.errors).toEqual([]);
      }
      // The writer went on while no process served; then a new process on the same database.
      const before = loop.count;
      await until(() => loop.count >= before + 3, "commits while no service runs");
      second = await spawnService(env);
      const wsB = `ws://127.0.0.1:${second.port}/graphql`;
      const allAgain = subscriber(wsB, "ALL", all.events.at(-1)!.seq);
      const latestAgain = subscriber(wsB, "LATEST", latest.events.at(-1)!.seq);
      clients.push(allAgain.client, latestAgain.client);
      // Live on the new process for a while, then the writer stops and the clients drain.
      const resumedAt = loop.count;
      await until(() => loop.count >= resumedAt + 5, "commits after the resume");
      await loop.stop();
      const max = Number((await t.db.prisma.marketObservation.aggregate({ _max: { seq: true } }))._max.seq);
      const lastSeq = (s: { events: Update[] }) => s.events.at(-1)?.seq ?? 0;
      await until(
        () => lastSeq(allAgain) >= max && lastSeq(latestAgain) >= max,
        `both clients at seq ${max}`,
      );
      await new Promise((r) => setTimeout(r, 200));

      const committed = await t.db.prisma.marketObservation.findMany({ orderBy: { seq: "asc" } });
      const seqs = committed.map((o) => Number(o.seq));
      // Sanity: the stream really crossed the restart (rows before, between and after).
      expect(seqs.length).toBeGreaterThan(all.events.length + 3 * SYMBOLS.length);
      for (const [before, after] of [
        [all, allAgain],
        [latest, latestAgain],
      ] as const) {
        expect(after.errors).toEqual([]);
        expect(after.events.every((e) => e.kind === "UPDATE")).toBe(true);
        const union = [...before.events.slice(0, -1), ...after.events].map((e) => e.seq);
        // In seq order, nothing twice.
        expect(union).toEqual([...new Set(union)].sort((x, y) => x - y));
        expect(after.events[0]!.seq).toBeGreaterThan(before.events.at(-1)!.seq);
      }
      // ALL: every observation committed, in seq order, nothing missing.
      expect([...all.events.slice(0, -1), ...allAgain.events].map((e) => e.seq)).toEqual(seqs);
      // LATEST: each asset's last value is the database's latest price.
      const lastPrice = new Map<string, number>();
      for (const e of [...latest.events.slice(0, -1), ...latestAgain.events])
        lastPrice.set(e.observation!.asset.id, e.observation!.priceUsd);
      const latestRows = await t.db.prisma.latestPrice.findMany({ where: { source: "CSV" } });
      expect(latestRows).toHaveLength(SYMBOLS.length);
      expect(lastPrice).toEqual(new Map(latestRows.map((l) => [String(l.assetId), l.priceUsd])));
    } finally {
      await loop.stop();
      for (const c of clients) await c.dispose();
      await first.stop("SIGKILL");
      await second?.stop("SIGKILL");
    }
  }, 120_000);
});
