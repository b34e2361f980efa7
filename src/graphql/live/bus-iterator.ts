import type { EventBus, EventName, PipelineEvents } from "../../pipeline/events.ts";

/**
 * Events of one kind as an async iterator for a subscription, with a bounded queue: a consumer
 * that reads nothing holds at most `capacity` events (the oldest are dropped first).
 */
export async function* busEvents<K extends EventName>(
  bus: EventBus,
  name: K,
  signal: AbortSignal,
  accept: (event: PipelineEvents[K]) => boolean = () => true,
  capacity = 1000,
): AsyncGenerator<PipelineEvents[K]> {
  const queue: PipelineEvents[K][] = [];
  let wake: (() => void) | null = null;
  const unsubscribe = bus.subscribe(name, (event) => {
    if (!accept(event)) return;
    if (queue.length >= capacity) queue.shift();
    queue.push(event);
    wake?.();
  });
  const onAbort = () => wake?.();
  signal.addEventListener("abort", onAbort);
  try {
    while (!signal.aborted) {
      const next = queue.shift();
      if (next !== undefined) {
        yield next;
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
