import { describe, expect, it } from "vitest";
import { createTimeSlices } from "./time-slices.ts";

/** Counts turns of the event loop (check phases) while fn runs. */
async function withTurns<T>(fn: (turn: () => number) => Promise<T>): Promise<T> {
  let turn = 0;
  let counting = true;
  const counter = (async () => {
    while (counting) {
      await new Promise((r) => setImmediate(r));
      turn++;
    }
  })();
  try {
    return await fn(() => turn);
  } finally {
    counting = false;
    await counter;
  }
}

describe("createTimeSlices", () => {
  it("starts a step at once while the slice lasts and a permit is free: no turn of the event loop", async () => {
    let now = 0;
    const slices = createTimeSlices(10, { clock: () => now });
    let turned = false;
    setImmediate(() => {
      turned = true;
    });
    for (let i = 0; i < 100; i++) {
      await slices.enter();
      now += 0.05;
      slices.leave();
    }
    expect(turned).toBe(false);
  });

  it("bounds a turn to the slice plus the steps already started, however many callers wait, and lets them take turns", async () => {
    let now = 0;
    const slices = createTimeSlices(10, { permits: 4, clock: () => now });
    const log: [turn: number, worker: number, unit: number][] = [];
    await withTurns(async (turn) => {
      const worker = async (w: number) => {
        for (let unit = 0; unit < 3; unit++) {
          await slices.enter();
          log.push([turn(), w, unit]);
          // A step: 4 ms of work, finished a few microtasks later (as graphql-ws sends).
          now += 4;
          await Promise.resolve();
          await Promise.resolve();
          slices.leave();
        }
      };
      await Promise.all(Array.from({ length: 50 }, (_, w) => worker(w)));
    });
    expect(log).toHaveLength(150);
    expect(slices.inFlight).toBe(0);
    const perTurn = new Map<number, number>();
    for (const [t] of log) perTurn.set(t, (perTurn.get(t) ?? 0) + 1);
    // 10 ms of 4 ms steps: 3 start within the slice, plus at most the 4 permits' worth after it.
    for (const n of perTurn.values()) expect(n).toBeLessThanOrEqual(3 + 4);
    expect(perTurn.size).toBeGreaterThanOrEqual(150 / 7);
    // In arrival order: every worker's first step comes before any worker's third.
    const lastFirst = Math.max(...log.map(([, , u], i) => (u === 0 ? i : -1)));
    const firstThird = log.findIndex(([, , u]) => u === 2);
    expect(lastFirst).toBeLessThan(firstThird);
  });

  it("a step that never finishes holds only its own permit", async () => {
    let now = 0;
    const slices = createTimeSlices(10, { permits: 2, clock: () => now });
    await slices.enter(); // never left
    let done = 0;
    for (let i = 0; i < 5; i++) {
      await slices.enter();
      now += 1;
      done++;
      slices.leave();
    }
    expect(done).toBe(5);
    expect(slices.inFlight).toBe(1);
  });

  it("pause() returns nothing while the slice lasts; once spent it resumes first in the next turn, before waiting steps", async () => {
    let now = 0;
    const slices = createTimeSlices(10, { permits: 2, clock: () => now });
    expect(slices.pause()).toBeUndefined();
    now += 10;
    const order: string[] = [];
    // Steps queued first; the pause second: the pause still goes first.
    const steps = [1, 2, 3].map(async (i) => {
      await slices.enter();
      order.push(`step ${i}`);
      now += 4;
      slices.leave();
    });
    const paused = slices.pause();
    expect(paused).toBeInstanceOf(Promise);
    const pump = paused!.then(() => order.push("pump"));
    await Promise.all([...steps, pump]);
    expect(order[0]).toBe("pump");
    expect(order).toHaveLength(4);
  });

  it("a permit is kept for up to `burst` steps in a row while the slice lasts, then goes to the next in line", async () => {
    let now = 0;
    const slices = createTimeSlices(10, { permits: 1, clock: () => now });
    const log: string[] = [];
    const worker = async (name: string, steps: number) => {
      const permit = slices.permit(3);
      for (let i = 0; i < steps; i++) {
        if (!permit.held) await permit.take();
        log.push(name);
        now += 0.1;
        await Promise.resolve(); // the send, a few microtasks later
        permit.delivered();
      }
      permit.release();
    };
    await Promise.all([worker("a", 6), worker("b", 6)]);
    // One permit: a holds it for 3 steps, then b (waiting) gets it for 3, and so on.
    expect(log.join("")).toBe("aaabbbaaabbb");
    expect(slices.inFlight).toBe(0);
  });

  it("a permit goes back once the slice is spent, whatever is left of its burst, and release() is idempotent", async () => {
    let now = 0;
    const slices = createTimeSlices(10, { permits: 4, clock: () => now });
    const permit = slices.permit(16);
    await permit.take();
    expect(permit.held).toBe(true);
    expect(slices.inFlight).toBe(1);
    permit.delivered();
    expect(permit.held).toBe(true);
    now += 10; // the slice is spent
    permit.delivered();
    expect(permit.held).toBe(false);
    expect(slices.inFlight).toBe(0);
    permit.release();
    expect(slices.inFlight).toBe(0);
  });
});
