/**
 * One time budget for everything the live feed delivers between two turns of the event loop.
 * Each delivery step is a chain of microtasks, so without it a burst (a 500-row batch times every
 * subscriber) runs to its end before any request, timer or socket read: a count per subscriber
 * does not bound that, because every subscriber spends its count in the same turn (100
 * subscribers × 16 updates each stalled the server for ~1 s per batch).
 *
 * A step holds one of `permits` while it runs (a subscriber: from taking an update until graphql-ws
 * has executed and sent it and asks for the next). A step may start while the current slice
 * lasts; once it is spent, waiting steps start in the next turn. So a turn runs at most the slice
 * plus the `permits` steps that had already started: a bound that does not grow with the number
 * of subscribers. Waiting steps start in arrival order, so subscribers take turns.
 */
export function createTimeSlices(sliceMs: number, options: { permits?: number; clock?: () => number } = {}) {
  const permits = options.permits ?? 32;
  const clock = options.clock ?? (() => performance.now());
  let sliceStart = clock();
  let inFlight = 0;
  const waiting: (() => void)[] = [];
  let scheduled = false;
  const spent = () => clock() - sliceStart >= sliceMs;

  function nextTurn() {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      sliceStart = clock();
      admit();
    });
  }

  function admit() {
    while (waiting.length > 0 && inFlight < permits) {
      if (spent()) return nextTurn();
      inFlight++;
      waiting.shift()!();
    }
  }

  return {
    /** Resolves when this step may run; call leave() when it is done. */
    enter(): Promise<void> {
      if (waiting.length === 0 && inFlight < permits && !spent()) {
        inFlight++;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        waiting.push(resolve);
        admit();
      });
    },
    leave(): void {
      inFlight--;
      admit();
    },
    /** Steps running now (tests). */
    get inFlight() {
      return inFlight;
    },
  };
}

export type TimeSlices = ReturnType<typeof createTimeSlices>;
