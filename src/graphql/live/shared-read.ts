/**
 * Reads in flight, per database client: callers asking the same question (`key`) at the same
 * moment share one answer instead of one query each. Only while in flight: nothing is cached.
 */
const inFlight = new WeakMap<object, Map<string, Promise<unknown>>>();

export function sharedRead<T>(owner: object, key: string, read: () => Promise<T>): Promise<T> {
  let reads = inFlight.get(owner);
  if (!reads) {
    reads = new Map();
    inFlight.set(owner, reads);
  }
  const running = reads.get(key) as Promise<T> | undefined;
  if (running) return running;
  const started = read().finally(() => reads.delete(key));
  reads.set(key, started);
  return started;
}
