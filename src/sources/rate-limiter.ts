/**
 * A sliding-window limiter: never more than `limit` acquisitions in any `windowMs`. One per
 * source, shared by its pages and their retries, so a retry storm cannot exceed the plan.
 */
export interface RateLimiter {
  acquire(signal?: AbortSignal): Promise<void>;
}

export interface RateLimiterOptions {
  limit: number;
  windowMs?: number;
  now?: () => number;
}

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const windowMs = options.windowMs ?? 60_000;
  const now = options.now ?? Date.now;
  const stamps: number[] = [];
  let queue: Promise<void> = Promise.resolve();

  const take = async (signal?: AbortSignal) => {
    for (;;) {
      signal?.throwIfAborted();
      const t = now();
      while (stamps.length > 0 && stamps[0]! <= t - windowMs) stamps.shift();
      if (stamps.length < options.limit) {
        stamps.push(t);
        return;
      }
      await sleep(stamps[0]! + windowMs - t, signal);
    }
  };

  return {
    acquire(signal) {
      // Callers are served in arrival order; one waiting caller does not let a later one jump in.
      const turn = queue.then(() => take(signal));
      queue = turn.catch(() => undefined);
      return turn;
    },
  };
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(
      () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
