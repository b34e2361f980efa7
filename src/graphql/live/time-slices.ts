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
 * of subscribers. Waiting steps start in arrival order, so subscribers take turns; a permit()
 * is kept for a few steps in a row while the slice lasts (no more than a step each past it). The pump,
 * which fills their buffers, only pauses (pause()): queued behind the steps once per subscriber,
 * it would take a turn per subscriber to hand out one page.
 */
export function createTimeSlices(sliceMs: number, options: { permits?: number; clock?: () => number } = {}) {
  const permits = options.permits ?? 32;
  const clock = options.clock ?? (() => performance.now());
  let sliceStart = clock();
  let inFlight = 0;
  const waiting: (() => void)[] = [];
  /** Waiting in pause(): resumed first next turn. */
  let paused: (() => void)[] = [];
  let scheduled = false;
  const spent = () => clock() - sliceStart >= sliceMs;

  function nextTurn() {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      sliceStart = clock();
      const resume = paused;
      paused = [];
      for (const resolve of resume) resolve();
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

  /** Resolves when this step may run; call leave() when it is done. */
  function enter(): Promise<void> {
    if (waiting.length === 0 && inFlight < permits && !spent()) {
      inFlight++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      waiting.push(resolve);
      admit();
    });
  }

  function leave(): void {
    inFlight--;
    admit();
  }

  return {
    enter,
    leave,
    /**
     * One consumer's permit, kept for up to `burst` steps in a row while the slice lasts: take()
     * before a step (resolves at once while held), delivered() after it, release() before
     * anything that waits. A subscriber's updates of one turn then leave in one socket write.
     */
    permit(burst: number) {
      let held = false;
      let steps = 0;
      const release = () => {
        if (!held) return;
        held = false;
        leave();
      };
      return {
        get held() {
          return held;
        },
        async take(): Promise<void> {
          if (held) return;
          await enter();
          held = true;
          steps = 0;
        },
        delivered(): void {
          if (held && (++steps >= burst || spent())) release();
        },
        release,
      };
    },
    /**
     * For work that holds no permit and must not queue behind the steps it feeds (the pump): once
     * the slice is spent, resolves at the start of the next turn, before the waiting steps run.
     * Returns undefined while the slice lasts (no microtask to wait for).
     */
    pause(): Promise<void> | undefined {
      if (!spent()) return undefined;
      return new Promise<void>((resolve) => {
        paused.push(resolve);
        nextTurn();
      });
    },
    /** Steps running now (tests). */
    get inFlight() {
      return inFlight;
    },
  };
}

export type TimeSlices = ReturnType<typeof createTimeSlices>;
