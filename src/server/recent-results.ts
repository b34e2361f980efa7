/**
 * Results shared between subscribers for a short while: found by (event object, key), kept for
 * at least `windowMs` and at most twice that. Keyed weakly by the event, so a result never outlives
 * its event either. Why not simply as long as the event: a subscriber that stops reading holds
 * the events in its buffer (up to SUBSCRIPTION_BUFFER_SIZE, or for a paced one up to an hour), and
 * with them every other subscriber's result for them: 50 keys behind one stalled client held
 * 200 MB (review, 2026-12-07). Subscribers of one event get it within the same pump pass, well
 * inside the window; one that comes later executes its own.
 */
export function createRecentResults<R>(options: { windowMs: number; now?: () => number }) {
  const now = options.now ?? (() => performance.now());
  let current = new WeakMap<object, Map<string, R>>();
  let previous = new WeakMap<object, Map<string, R>>();
  let rotatedAt = now();

  /** Generations turn as they are used: no timer; an idle cache holds what its events still hold. */
  function rotate() {
    const at = now();
    if (at - rotatedAt < options.windowMs) return;
    previous = at - rotatedAt < 2 * options.windowMs ? current : new WeakMap();
    current = new WeakMap();
    rotatedAt = at;
  }

  return {
    get(event: object, key: string): R | undefined {
      rotate();
      return (current.get(event) ?? previous.get(event))?.get(key);
    },
    set(event: object, key: string, result: R): void {
      rotate();
      let byKey = current.get(event);
      if (!byKey) {
        byKey = new Map();
        current.set(event, byKey);
      }
      byKey.set(key, result);
    },
  };
}
