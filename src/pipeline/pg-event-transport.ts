import { randomUUID } from "node:crypto";
import type { Database } from "../db/database.ts";
import type { SqlConnection } from "../db/sql-connection.ts";
import type { Logger } from "../logger/logger.ts";
import type { Deliver, EventName, EventTransport, PipelineEvents } from "./events.ts";

export const EVENT_CHANNEL = "coinflow_events";

/** JSON with bigint as strings, and the process it comes from (a process ignores its own). */
export function encodeEvent(name: EventName, payload: unknown, origin = ""): string {
  return JSON.stringify({ name, payload, origin }, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
}

export function decodeEvent(
  text: string,
): { name: EventName; payload: PipelineEvents[EventName]; origin: string } | null {
  try {
    const { name, payload, origin } = JSON.parse(text) as {
      name: EventName;
      payload: Record<string, unknown>;
      origin?: string;
    };
    if (name === "batchCommitted") {
      payload.seqFrom = BigInt(payload.seqFrom as string);
      payload.seqTo = BigInt(payload.seqTo as string);
    }
    return { name, payload: payload as unknown as PipelineEvents[EventName], origin: origin ?? "" };
  } catch {
    return null;
  }
}

/**
 * Cross-process events over PostgreSQL LISTEN/NOTIFY (no new infrastructure). LISTEN holds its
 * own dedicated connection; when it drops, it reconnects with backoff and tells the bus (EventBus.onReconnect) so
 * readers catch up by seq: a notification missed while disconnected loses nothing.
 */
export function createPgEventTransport(options: {
  db: Database;
  logger: Logger;
  maxBackoffMs?: number;
}): EventTransport {
  const log = options.logger.child({ module: "events" });
  // This process's events reach its own listeners through the bus: its echoes are dropped.
  const origin = randomUUID();
  let listener: SqlConnection | null = null;
  let stopped = false;
  let deliver: Deliver | null = null;
  let reconnected: () => void = () => {};
  let connectedBefore = false;

  const connect = async (): Promise<void> => {
    for (let attempt = 0; !stopped; attempt++) {
      try {
        const conn = await options.db.connect({
          applicationName: "coinflow-listen",
          // A silent listener looks exactly like a quiet market: the heartbeat tells them apart.
          heartbeat: true,
          onNotification: (payload) => {
            const event = decodeEvent(payload);
            if (event && event.origin !== origin && deliver) deliver(event.name, event.payload);
          },
        });
        await conn.query(`LISTEN ${EVENT_CHANNEL}`);
        listener = conn;
        if (connectedBefore) {
          log.info({ attempts: attempt + 1 }, "event listener reconnected; catching up");
          reconnected();
        }
        connectedBefore = true;
        void conn.closed.then(() => {
          if (stopped || listener !== conn) return;
          listener = null;
          log.warn("event listener connection lost; reconnecting");
          void connect();
        });
        return;
      } catch (error) {
        const delay = Math.min(options.maxBackoffMs ?? 10_000, 250 * 2 ** attempt);
        log.warn({ err: (error as Error).message, retryInMs: delay }, "event listener cannot connect");
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  };

  return {
    send(name, payload) {
      // Published after commit; a failure to notify is logged, subscribers catch up on the next event.
      options.db.prisma
        .$executeRaw`SELECT pg_notify(${EVENT_CHANNEL}, ${encodeEvent(name, payload, origin)})`.catch(
        (error: unknown) => log.warn({ err: (error as Error).message, event: name }, "notify failed"),
      );
    },
    async sendWithin(tx, name, payload) {
      // PostgreSQL delivers a notification on commit, never before, never for a rollback.
      await tx.$executeRaw`SELECT pg_notify(${EVENT_CHANNEL}, ${encodeEvent(name, payload, origin)})`;
    },
    async start(d, onReconnected) {
      deliver = d;
      reconnected = onReconnected;
      stopped = false;
      await connect();
    },
    async stop() {
      stopped = true;
      const conn = listener;
      listener = null;
      await conn?.release();
    },
  };
}
