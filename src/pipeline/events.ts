import type { PrismaClient, Tx } from "../db/database.ts";
import type { SourceId } from "../sources/record.ts";

/**
 * What the pipeline tells the rest of the system, always after the commit it describes. The bus
 * is defined once here, next to its producer; subscribers read it; scaling out swaps only the
 * transport (PostgreSQL LISTEN/NOTIFY carries the events between processes).
 */
export interface PipelineEvents {
  /** Rows with seq in seqFrom..seqTo were written by one batch of `source` in run `runId`. */
  batchCommitted: { runId: number; source: SourceId; seqFrom: bigint; seqTo: bigint };
  driftDetected: { runId: number; source: SourceId; eventIds: number[] };
  runStatusChanged: {
    runId: number;
    status: "RUNNING" | "SUCCEEDED" | "PARTIAL" | "FAILED";
    source?: SourceId;
    /** Per-batch progress while RUNNING. */
    progress?: { source: SourceId; fetched: number; written: number; unchanged: number; rejected: number };
  };
}

export type EventName = keyof PipelineEvents;
type Listener<K extends EventName> = (payload: PipelineEvents[K]) => void;
export type Deliver = <K extends EventName>(name: K, payload: PipelineEvents[K]) => void;

/**
 * Carries events to the other processes (never back to this one: the bus delivers locally).
 * `sendWithin` sends inside a transaction, so the others get the event when it commits and never
 * for a rollback; `send` is for events published after their commit.
 */
export interface EventTransport {
  send<K extends EventName>(name: K, payload: PipelineEvents[K]): void;
  sendWithin<K extends EventName>(tx: Tx, name: K, payload: PipelineEvents[K]): Promise<void>;
  /** `reconnected` is called when the transport was cut off and is back: events may be missed. */
  start(deliver: Deliver, reconnected: () => void): Promise<void>;
  stop(): Promise<void>;
}

/** Stages events inside a transaction (EventBus.transaction). */
export type Stage = <K extends EventName>(name: K, payload: PipelineEvents[K]) => Promise<void>;

export interface EventBus {
  /** An event whose commit is done: to this process's listeners now, and to the others. */
  publish<K extends EventName>(name: K, payload: PipelineEvents[K]): void;
  /**
   * Runs `fn` in one transaction. Events it stages reach the other processes with the commit
   * (sent inside the transaction) and this process's listeners right after it; a rollback tells
   * nobody anything. The write path stages; how an event travels is the bus's business.
   */
  transaction<T>(
    prisma: PrismaClient,
    fn: (tx: Tx, stage: Stage) => Promise<T>,
    options?: { timeout?: number; maxWait?: number },
  ): Promise<T>;
  subscribe<K extends EventName>(name: K, listener: Listener<K>): () => void;
  /** After the transport was cut off and came back: readers catch up by seq, since events may be lost. */
  onReconnect(listener: () => void): () => void;
  /** Connects the transport (if any): from then on events also arrive from other processes. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A listener that throws never breaks the publisher or other listeners. */
export function createEventBus(
  options: { transport?: EventTransport; onListenerError?: (error: unknown) => void } = {},
): EventBus {
  const { transport } = options;
  const listeners = new Map<EventName, Set<Listener<EventName>>>();
  const reconnectListeners = new Set<() => void>();
  const guarded = (listener: () => void) => {
    try {
      listener();
    } catch (error) {
      options.onListenerError?.(error);
    }
  };
  const deliver: Deliver = (name, payload) => {
    for (const listener of listeners.get(name) ?? []) {
      try {
        (listener as Listener<typeof name>)(payload);
      } catch (error) {
        options.onListenerError?.(error);
      }
    }
  };
  return {
    publish(name, payload) {
      deliver(name, payload);
      transport?.send(name, payload);
    },
    async transaction(prisma, fn, txOptions) {
      const staged: [EventName, PipelineEvents[EventName]][] = [];
      const result = await prisma.$transaction(
        (tx) =>
          fn(tx, async (name, payload) => {
            await transport?.sendWithin(tx, name, payload);
            staged.push([name, payload]);
          }),
        txOptions,
      );
      for (const [name, payload] of staged) deliver(name, payload);
      return result;
    },
    subscribe(name, listener) {
      const set = listeners.get(name) ?? new Set();
      set.add(listener as Listener<EventName>);
      listeners.set(name, set);
      return () => set.delete(listener as Listener<EventName>);
    },
    onReconnect(listener) {
      reconnectListeners.add(listener);
      return () => reconnectListeners.delete(listener);
    },
    start: async () => transport?.start(deliver, () => reconnectListeners.forEach(guarded)),
    stop: async () => transport?.stop(),
  };
}
