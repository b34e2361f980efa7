import type { EventBus, EventName, PipelineEvents } from "../../pipeline/events.ts";

export interface BusEventsOptions<K extends EventName> {
  accept?: (event: PipelineEvents[K]) => boolean;
  /** Events held for a consumer that is not reading (SUBSCRIPTION_BUFFER_SIZE). */
  capacity?: number;
  /**
   * An event supersedes the queued one with the same key (a run's per-batch progress counters
   * are cumulative: only the newest matters). When the queue is full and nothing can be
   * superseded, the oldest event is dropped.
   */
  keyOf?: (event: PipelineEvents[K]) => string | null;
  /** Resolves when the client's connection can take more (the WebSocket send buffer drained). */
  backpressure?: () => Promise<void> | undefined;
}

/**
 * Events of one kind as an async iterator for a subscription, with a bounded queue and the same
 * backpressure as marketUpdates: while the client's socket is full, nothing is sent and events
 * wait in the queue (bounded, superseded or dropped as above). Map insertion order keeps the
 * queue in arrival order; superseding deletes and re-inserts a key, so every step is O(1).
 */
export async function* busEvents<K extends EventName>(
  bus: EventBus,
  name: K,
  signal: AbortSignal,
  options: BusEventsOptions<K> = {},
): AsyncGenerator<PipelineEvents[K]> {
  const capacity = options.capacity ?? 1000;
  const queue = new Map<unknown, PipelineEvents[K]>();
  let unique = 0;
  let wake: (() => void) | null = null;
  const unsubscribe = bus.subscribe(name, (event) => {
    if (options.accept && !options.accept(event)) return;
    const key = options.keyOf?.(event) ?? null;
    if (key !== null && queue.has(key)) queue.delete(key);
    else if (queue.size >= capacity) queue.delete(queue.keys().next().value);
    queue.set(key ?? unique++, event);
    wake?.();
  });
  const onAbort = () => wake?.();
  signal.addEventListener("abort", onAbort);
  try {
    while (!signal.aborted) {
      await options.backpressure?.();
      const first = queue.entries().next();
      if (!first.done) {
        queue.delete(first.value[0]);
        yield first.value[1];
        continue;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = null;
    }
  } finally {
    unsubscribe();
    signal.removeEventListener("abort", onAbort);
  }
}
