import type { SourceId } from "../sources/record.ts";

/**
 * What the pipeline tells the rest of the system, always after the commit it describes. The bus
 * is defined once here, next to its producer; subscribers read it; scaling out swaps only the
 * transport (PostgreSQL NOTIFY carries the same events between processes).
 */
export interface PipelineEvents {
  batchCommitted: {
    runId: number;
    source: SourceId;
    seqFrom: bigint;
    seqTo: bigint;
    assetIds: number[];
    written: number;
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

export interface EventBus {
  publish<K extends EventName>(name: K, payload: PipelineEvents[K]): void;
  subscribe<K extends EventName>(name: K, listener: Listener<K>): () => void;
}

/** In-process transport. A listener that throws never breaks the publisher or other listeners. */
export function createEventBus(onListenerError?: (error: unknown) => void): EventBus {
  const listeners = new Map<EventName, Set<Listener<EventName>>>();
  return {
    publish(name, payload) {
      for (const listener of listeners.get(name) ?? []) {
        try {
          (listener as Listener<typeof name>)(payload);
        } catch (error) {
          onListenerError?.(error);
        }
      }
    },
    subscribe(name, listener) {
      const set = listeners.get(name) ?? new Set();
      set.add(listener as Listener<EventName>);
      listeners.set(name, set);
      return () => set.delete(listener as Listener<EventName>);
    },
  };
}
