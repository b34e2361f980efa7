import type { FeedClock } from "../../src/graphql/live/market-feed.ts";

/** A clock whose sleeps end only when the test advances it; `pending` lists what waits. */
export function createFakeClock() {
  let now = 0;
  const sleeps: { until: number; ms: number; resolve: () => void }[] = [];
  const clock: FeedClock & {
    readonly pending: number[];
    advance(ms: number): void;
  } = {
    sleep: (ms, signal) =>
      new Promise<void>((resolve) => {
        const entry = { until: now + ms, ms, resolve };
        sleeps.push(entry);
        signal?.addEventListener(
          "abort",
          () => {
            // advance() may have ended it already: never splice(-1), another sleep's entry.
            const i = sleeps.indexOf(entry);
            if (i >= 0) sleeps.splice(i, 1);
            resolve();
          },
          { once: true },
        );
      }),
    /** The durations (ms) of the sleeps still waiting. */
    get pending() {
      return sleeps.map((s) => s.ms);
    },
    advance(ms) {
      now += ms;
      for (const s of sleeps.filter((s) => s.until <= now)) {
        sleeps.splice(sleeps.indexOf(s), 1);
        s.resolve();
      }
    },
  };
  return clock;
}
