/**
 * The values of an async iterable passed through `map`, one at a time, in order. return() and
 * throw() reach the source at once (a client unsubscribing ends the source's wait, see
 * abortable.ts), so the source's cleanup runs.
 */
export function mapStream<T, U>(
  source: AsyncIterable<T>,
  map: (value: T) => U | Promise<U>,
): AsyncIterableIterator<U> {
  const inner = source[Symbol.asyncIterator]();
  const it: AsyncIterableIterator<U> = {
    next: async () => {
      const step = await inner.next();
      return step.done ? step : { done: false, value: await map(step.value) };
    },
    return: async (value?: unknown) =>
      ((await inner.return?.(value as T)) as IteratorResult<U> | undefined) ?? {
        done: true,
        value: undefined,
      },
    throw: async (error?: unknown) => {
      if (inner.throw) return (await inner.throw(error)) as IteratorResult<U>;
      throw error;
    },
    [Symbol.asyncIterator]: () => it,
  };
  return it;
}
