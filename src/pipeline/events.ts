import type { SourceId } from "../sources/record.ts";

/**
 * What the pipeline tells the rest of the system, always after the commit it describes. The bus
 * is defined once here, next to its producer; subscribers read it; scaling out swaps only the
 * transport (PostgreSQL LISTEN/NOTIFY carries the events between processes).
 */
export interface PipelineEvents {
  batchCommitted: {
    runId: number;
    source?: SourceId;
    seqFrom: bigint;
    seqTo: bigint;
    assetIds?: number[];
    written?: number;
  };
  driftDetected: {
    runId: number;
    source: SourceId;
    eventIds: number[];
  };
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
 * Carries events to every process, this one included. Batch events are already notified inside
 * their transaction (delivered on commit), so the bus hands them to local listeners directly and
 * never sends them; a copy echoed back by the transport is a harmless extra wake-up.
 */
export interface EventTransport {
  send<K extends EventName>(name: K, payload: PipelineEvents[K]): void;
  start(deliver: Deliver): Promise<void>;
  stop(): Promise<void>;
}

export interface EventBus {
  publish<K extends EventName>(name: K, payload: PipelineEvents[K]): void;
  subscribe<K extends EventName>(name: K, listener: Listener<K>): () => void;
  /** Connects the transport (if any): from then on events also arrive from other processes. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A listener that throws never breaks the publisher or other listeners. */
export function createEventBus(
  options:
    | { transport?: EventTransport; onListenerError?: (error: unknown) => void }
    | ((e: unknown) => void) = {},
): EventBus {
  const opts = typeof options === "function" ? { onListenerError: options } : options;
  const listeners = new Map<EventName, Set<Listener<EventName>>>();
  const deliver: Deliver = (name, payload) => {
    for (const listener of listeners.get(name) ?? []) {
      try {
        (listener as Listener<typeof name>)(payload);
      } catch (error) {
        opts.onListenerError?.(error);
      }
    }
  };
  return {
    publish(name, payload) {
      if (!opts.transport || name === "batchCommitted") deliver(name, payload);
      else opts.transport.send(name, payload);
    },
    subscribe(name, listener) {
      const set = listeners.get(name) ?? new Set();
      set.add(listener as Listener<EventName>);
      listeners.set(name, set);
      return () => set.delete(listener as Listener<EventName>);
    },
    start: async () => opts.transport?.start(deliver),
    stop: async () => opts.transport?.stop(),
  };
}
