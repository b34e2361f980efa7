import type { PrismaClient } from "../../db/database.ts";
import type { Logger } from "../../logger/logger.ts";
import type { EventBus } from "../../pipeline/events.ts";
import { type ConsensusSettings, loadConsensus } from "../../services/consensus.ts";
import {
  filterWhere,
  type MarketFilter,
  type MarketUpdate,
  matches,
  type ObservationWithAsset,
} from "./market-update.ts";
import { maxSeq } from "./max-seq.ts";
import { Pacer, type Pacing, pacingActive } from "./pacer.ts";
import { readSnapshot } from "./read-snapshot.ts";
import { SubscriberBuffer } from "./subscriber-buffer.ts";
import { createTimeSlices } from "./time-slices.ts";

const PAGE = 500;
/** How long the feed's delivery (all subscribers together) runs before letting the event loop turn. */
const SLICE_MS = 10;
/**
 * Updates a subscriber delivers in a row under one permit, while the slice lasts: its frames of
 * one turn then leave in one write (ws-transport.ts corks a socket for the turn). One update per
 * permit sent every frame alone, one `writev` each: 31 % of the server's busy time at 1,000
 * subscribers of 500-row batches (BENCHMARKS.md, capacity).
 */
const BURST = 16;
/** On shutdown, how long subscribers get to send their RECONNECT before the sockets close anyway. */
const RECONNECT_FLUSH_MS = 2_000;

export interface FeedOptions {
  prisma: PrismaClient;
  bus: EventBus;
  logger: Logger;
  consensus: ConsensusSettings;
  retentionHours: number;
  bufferSize: number;
  /** SUBSCRIPTION_HEARTBEAT_SECONDS in ms: a subscriber sent nothing this long gets a HEARTBEAT (0: never). */
  heartbeatMs?: number;
  /** Replay pacing's clock (replaySpeed): injected so tests run it on a fake one. */
  clock?: FeedClock;
}

export interface FeedClock {
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

const realClock: FeedClock = {
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener("abort", done, { once: true });
    }),
};
/**
 * The longest pause a replay makes between two batches, whatever the speed: a night without
 * commits replayed at 10x would otherwise hold a subscription silent for an hour.
 */
export const REPLAY_PAUSE_MAX_MS = 60_000;

interface Subscriber {
  filter: MarketFilter;
  buffer: SubscriberBuffer;
  wake: () => void;
}

/**
 * Fans committed observations out to marketUpdates subscribers. A batch event is only a wake-up:
 * the feed reads every row with seq above what it has dispatched, in seq order (seq order is
 * commit order), once per process, and hands the same update objects to every matching
 * subscriber. Gap-free by construction: nothing is skipped, whatever the events said.
 */
export function createMarketFeed(options: FeedOptions) {
  const { prisma } = options;
  const log = options.logger.child({ module: "market-feed" });
  const subscribers = new Set<Subscriber>();
  let dispatched: bigint | null = null;
  let pumping: Promise<void> | null = null;
  let again = false;
  let unsubscribe: (() => void) | null = null;
  /** Shutting down: each subscriber sends RECONNECT at its resume point, then completes. */
  let closing = false;
  /** Aborted on shutdown: ends a replay's pause at once, so the subscriber can send RECONNECT. */
  let shutdown = new AbortController();
  const heartbeatMs = options.heartbeatMs ?? 0;
  const clock = options.clock ?? realClock;
  // Shared by the pump and every subscriber's loop: a burst is delivered in slices of SLICE_MS.
  const slices = createTimeSlices(SLICE_MS);

  /**
   * The latest committed seq the feed has read: everything up to it that matched a subscriber with
   * an empty buffer was delivered, so it is also a resume point for one (`caughtUp`). A paced
   * subscriber holding updates passes its own resume point instead, which must not move past them.
   */
  const heartbeat = (resumeAt: bigint, caughtUp: boolean): MarketUpdate => ({
    kind: "HEARTBEAT",
    seq: caughtUp && dispatched !== null && dispatched > resumeAt ? dispatched : resumeAt,
    observation: null,
    latestPrice: null,
    serverTime: new Date(),
  });

  async function toUpdates(rows: ObservationWithAsset[]): Promise<MarketUpdate[]> {
    const consensus = await loadConsensus(
      prisma,
      [...new Set(rows.map((r) => r.assetId))],
      options.consensus,
    );
    return rows.map((o) => ({
      kind: "UPDATE",
      seq: o.seq,
      observation: o,
      latestPrice: consensus.get(o.assetId) ?? null,
    }));
  }

  function readAfter(seq: bigint, filter: MarketFilter = {}, take = PAGE) {
    return prisma.marketObservation.findMany({
      where: { seq: { gt: seq }, ...filterWhere(filter) },
      include: { asset: true },
      orderBy: { seq: "asc" },
      take,
    });
  }

  async function pumpOnce() {
    dispatched ??= await maxSeq(prisma);
    for (;;) {
      const rows = await readAfter(dispatched);
      if (rows.length === 0) return;
      const updates = await toUpdates(rows);
      dispatched = rows.at(-1)!.seq;
      for (const s of subscribers) {
        let any = false;
        for (const u of updates) {
          if (u.observation && matches(s.filter, u.observation)) {
            s.buffer.push(u);
            any = true;
          }
        }
        if (any) s.wake();
        // 500 updates times thousands of subscribers is itself a stall: the pump pauses too (first
        // in the next turn, not behind the deliveries it feeds).
        const pause = slices.pause();
        if (pause) await pause;
      }
      if (rows.length < PAGE) return;
    }
  }

  /** Serialized: one reader at a time; a wake-up during a pump triggers one more pass. */
  function pump(): Promise<void> {
    if (pumping) {
      again = true;
      return pumping;
    }
    pumping = (async () => {
      do {
        again = false;
        try {
          await pumpOnce();
        } catch (error) {
          log.error({ err: (error as Error).message }, "could not read committed observations");
        }
      } while (again);
      pumping = null;
    })();
    return pumping;
  }

  async function* subscribe(
    filter: MarketFilter,
    opts: {
      afterSeq?: bigint | null;
      mode: "LATEST" | "ALL";
      /** First send every subscribed asset's consensus as of seq N, then everything after N. */
      snapshot?: boolean;
      /** Resolves once the client's socket has room; undefined when it has room now. */
      backpressure?: () => Promise<void> | undefined;
      pacing?: Pacing;
      /** Replay missed updates paced by their commit times, this many times as fast; then LIVE. */
      replaySpeed?: number | null;
    },
    signal?: AbortSignal,
  ): AsyncGenerator<MarketUpdate> {
    // A slow client is not allowed to grow the socket's send buffer: while it drains, updates
    // wait in the bounded subscriber buffer, which conflates (LATEST) or folds into a GAP (ALL).
    const drained = opts.backpressure ?? (() => undefined);
    // A snapshot is a resume point: the stream continues after its seq through the replay below,
    // gap-free whatever committed while it was read or sent.
    const snapshot = opts.snapshot ? await readSnapshot(prisma, filter, options.consensus) : null;
    const resume = snapshot?.seq ?? opts.afterSeq ?? null;
    let delivered = resume ?? dispatched ?? (await maxSeq(prisma));
    let wake: (() => void) | null = null;
    // The buffer must keep whatever the pump pushes from now on: never start it above what the
    // pump has dispatched (an afterSeq beyond the database's highest seq, after a restore or on a
    // new DATA_DIR, would otherwise drop every live update up to it).
    const floor = dispatched === null ? 0n : delivered < dispatched ? delivered : dispatched;
    const buffer = new SubscriberBuffer(options.bufferSize, opts.mode, floor);
    const subscriber: Subscriber = { filter, buffer, wake: () => wake?.() };
    const permit = slices.permit(BURST);
    // Registered before the replay reads: whatever commits from now on arrives live, and what the
    // replay already delivered is skipped by seq (no gap, no duplicate at the seam).
    subscribers.add(subscriber);
    const onAbort = () => subscriber.wake();
    signal?.addEventListener("abort", onAbort);
    try {
      if (snapshot) {
        await drained();
        yield {
          kind: "SNAPSHOT",
          seq: snapshot.seq,
          observation: null,
          latestPrice: null,
          snapshot: snapshot.prices,
        };
      }
      if (resume !== null) {
        const cutoff = new Date(Date.now() - options.retentionHours * 3_600_000);
        const expired = await prisma.marketObservation.findFirst({
          where: { seq: { gt: resume }, committedAt: { lt: cutoff } },
          select: { id: true },
        });
        const highest = await maxSeq(prisma);
        // Beyond retention, or beyond anything this database ever committed: refetch, then go on.
        if (expired || resume > highest) {
          const latest = highest;
          buffer.skipTo(latest);
          delivered = latest;
          yield { kind: "RESYNC", seq: latest, observation: null, latestPrice: null };
        } else {
          const speed = opts.replaySpeed ?? null;
          let committedBefore: number | null = null;
          // Replay pulls the next page only when the consumer has taken the previous one.
          replay: for (let cursor = resume; ; ) {
            const rows = await readAfter(cursor, filter);
            if (rows.length === 0) break;
            cursor = rows.at(-1)!.seq;
            for (const u of await toUpdates(rows)) {
              if (u.seq <= delivered) continue;
              // committedAt is the batch transaction's now(): rows of one batch go out together,
              // batches as far apart as they committed, divided by the speed.
              const at = u.observation!.committedAt.getTime();
              if (speed && committedBefore !== null && at > committedBefore)
                await clock.sleep(
                  Math.min((at - committedBefore) / speed, REPLAY_PAUSE_MAX_MS),
                  signal ? AbortSignal.any([signal, shutdown.signal]) : shutdown.signal,
                );
              if (signal?.aborted) return;
              if (closing) break replay;
              // Seqs are taken at commit, committedAt at the transaction's start: not monotonic.
              committedBefore = committedBefore === null ? at : Math.max(committedBefore, at);
              await drained();
              delivered = u.seq;
              yield u;
            }
            if (rows.length < PAGE) break;
          }
          if (speed && !closing) yield { kind: "LIVE", seq: delivered, observation: null, latestPrice: null };
        }
      }
      let sentAt = Date.now();
      // Pacing runs here, in this subscriber's loop: the shared pump never waits for it.
      const pacer = opts.pacing && pacingActive(opts.pacing) ? new Pacer(opts.pacing) : null;
      let pacedAt: number | null = null;
      while (!signal?.aborted) {
        if (closing) {
          permit.release();
          // The last seq this subscriber was sent: afterSeq = it resumes gap-free on another
          // instance. Not behind backpressure: the socket closes next either way.
          yield {
            kind: "RECONNECT",
            seq: pacer ? pacer.resumePoint(delivered) : delivered,
            observation: null,
            latestPrice: null,
          };
          return;
        }
        // Anything but the next update of a burst (a wait, an idle buffer, a paced release) gives
        // the permit back first: a permit is never held across a wait.
        const congested = drained();
        if (congested) {
          permit.release();
          await congested;
        }
        const next = buffer.shift();
        if (!next || pacer) permit.release();
        if (next && pacer && next.kind === "UPDATE") {
          if (next.seq > delivered) {
            delivered = next.seq;
            pacer.offer(next);
            // Judged as it arrives: a burst read at once must not conflate the first update of
            // an asset away before its move is measured.
            const { ready, nextAt } = pacer.take(Date.now());
            pacedAt = nextAt;
            for (const u of ready) {
              sentAt = Date.now();
              yield u;
            }
          }
          continue;
        }
        if (!next && pacer) {
          const { ready, nextAt } = pacer.take(Date.now());
          pacedAt = nextAt;
          if (ready.length > 0) {
            for (const u of ready) {
              sentAt = Date.now();
              yield u;
            }
            continue;
          }
        }
        if (!next) {
          // Idle: a heartbeat tells the client the stream is alive and how far the feed has read
          // (a proxy that drops quiet sockets keeps this one, too).
          const heartbeatIn = heartbeatMs > 0 ? sentAt + heartbeatMs - Date.now() : null;
          const pacedIn = pacedAt === null ? null : Math.max(0, pacedAt - Date.now());
          const waitMs =
            heartbeatIn === null ? pacedIn : pacedIn === null ? heartbeatIn : Math.min(heartbeatIn, pacedIn);
          if (heartbeatIn !== null && heartbeatIn <= 0) {
            sentAt = Date.now();
            // A paced subscriber's held updates are not delivered: its heartbeat stays below them.
            yield heartbeat(pacer ? pacer.resumePoint(delivered) : delivered, !pacer?.holding);
            continue;
          }
          let timer: NodeJS.Timeout | undefined;
          await new Promise<void>((resolve) => {
            wake = resolve;
            if (waitMs !== null) timer = setTimeout(resolve, waitMs);
          });
          clearTimeout(timer);
          wake = null;
          continue;
        }
        const top = next.kind === "GAP" ? (next.toSeq ?? next.seq) : next.seq;
        if (top <= delivered) continue;
        delivered = top;
        sentAt = Date.now();
        // A burst is delivered in time slices shared by every subscriber (time-slices.ts): a
        // permit is held from here until graphql-ws has executed and sent the update and asks for
        // the next, and for up to BURST updates in a row while the slice lasts.
        if (!permit.held) await permit.take();
        yield next;
        permit.delivered();
      }
    } finally {
      permit.release();
      subscribers.delete(subscriber);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  return {
    start() {
      closing = false;
      shutdown = new AbortController();
      const offBatch = options.bus.subscribe("batchCommitted", () => void pump());
      const offReconnect = options.bus.onReconnect(() => void pump());
      unsubscribe = () => {
        offBatch();
        offReconnect();
      };
      void pump();
    },
    /**
     * Stops reading and tells every subscriber to RECONNECT; resolves once each has sent it (its
     * generator finished, so the message was handed to the socket) or after RECONNECT_FLUSH_MS.
     * The server closes the sockets (1001) after this.
     */
    async stop(): Promise<void> {
      unsubscribe?.();
      closing = true;
      shutdown.abort();
      for (const s of subscribers) s.wake();
      const deadline = Date.now() + RECONNECT_FLUSH_MS;
      while (subscribers.size > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    /** Catch up after a missed wake-up (a dropped LISTEN connection): reads by seq, loses nothing. */
    catchUp: pump,
    subscribe,
    /** Updates held in subscriber buffers right now (bounded: see SubscriberBuffer). */
    get buffered() {
      let n = 0;
      for (const s of subscribers) n += s.buffer.size;
      return n;
    },
  };
}

export type MarketFeed = ReturnType<typeof createMarketFeed>;
