/**
 * Wraps a generator that waits on an AbortSignal so that `return()` (a client unsubscribing)
 * aborts the wait instead of queueing behind it forever. `onValue` runs as each value is handed
 * out (the server stamps the event's arrival for its latencyMs).
 */
export function abortable<T>(
  make: (signal: AbortSignal) => AsyncGenerator<T>,
  onValue?: () => void,
): AsyncIterableIterator<T> {
  const controller = new AbortController();
  const inner = make(controller.signal);
  const iterator: AsyncIterableIterator<T> = {
    next: async () => {
      const step = await inner.next();
      if (!step.done) onValue?.();
      return step;
    },
    return: (value?: unknown) => {
      controller.abort();
      return inner.return(value as T);
    },
    throw: (error?: unknown) => {
      controller.abort();
      return inner.throw(error);
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}
