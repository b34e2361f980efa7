import { describe, expect, it } from "vitest";
import { createEventBus, type PipelineEvents } from "../../pipeline/events.ts";
import { busEvents } from "./bus-iterator.ts";

type RunEvent = PipelineEvents["runStatusChanged"];
const progress = (runId: number, written: number): RunEvent => ({
  runId,
  status: "RUNNING",
  progress: { source: "CSV", fetched: written, written, unchanged: 0, rejected: 0 },
});

describe("busEvents", () => {
  it("sends nothing while the client's connection is full, then the newest progress per run and every status", async () => {
    const bus = createEventBus();
    const controller = new AbortController();
    let release!: () => void;
    let full = true;
    const backpressure = () => {
      if (!full) return Promise.resolve();
      return new Promise<void>((resolve) => {
        release = () => {
          full = false;
          resolve();
        };
      });
    };
    const events = busEvents(bus, "runStatusChanged", controller.signal, {
      capacity: 100,
      keyOf: (e) => (e.progress ? `${e.runId}:${e.progress.source}` : null),
      backpressure,
    });
    const first = events.next();
    await new Promise((r) => setImmediate(r));
    bus.publish("runStatusChanged", { runId: 1, status: "RUNNING" });
    for (let w = 100; w <= 1000; w += 100) bus.publish("runStatusChanged", progress(1, w));
    bus.publish("runStatusChanged", { runId: 1, status: "SUCCEEDED" });
    await new Promise((r) => setImmediate(r));
    release();
    const got = [(await first).value as RunEvent];
    for (let i = 0; i < 2; i++) got.push((await events.next()).value as RunEvent);
    controller.abort();
    expect(got.map((e) => [e.status, e.progress?.written ?? null])).toEqual([
      ["RUNNING", null],
      ["RUNNING", 1000],
      ["SUCCEEDED", null],
    ]);
  });

  it("holds at most `capacity` events for a consumer that reads nothing, dropping the oldest", async () => {
    const bus = createEventBus();
    const controller = new AbortController();
    const events = busEvents(bus, "driftDetected", controller.signal, { capacity: 3 });
    const first = events.next();
    await new Promise((r) => setImmediate(r));
    // Ten events arrive before the consumer runs again: the queue keeps the newest three.
    for (let i = 1; i <= 10; i++) bus.publish("driftDetected", { runId: i, source: "CSV", eventIds: [i] });
    const got = [(await first).value!.runId];
    for (let i = 0; i < 2; i++) got.push((await events.next()).value!.runId);
    controller.abort();
    expect(got).toEqual([8, 9, 10]);
  });
});
