import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createMarketStream } from "../../public/market-stream.js";

/** A stand-in for the page's live client: records each subscription and what it was sent with. */
function fakeClient() {
  const subs: {
    variables: Record<string, unknown>;
    payload: { variables: Record<string, unknown> };
    sink: { next: (d: unknown) => void; complete: () => void; error: (e: unknown) => void };
    ended: boolean;
  }[] = [];
  return {
    subs,
    terminated: 0,
    subscribe(payload: any, sink: any) {
      const sub = { variables: { ...payload.variables }, payload, sink, ended: false };
      subs.push(sub);
      return () => {
        sub.ended = true;
      };
    },
    terminate() {
      this.terminated++;
    },
    /** The server sends an event on the newest subscription. */
    send(update: Record<string, unknown>) {
      subs.at(-1)!.sink.next({ marketUpdates: update });
    },
    /** The server completes subscription i (graphql-ws forgets it, then calls complete). */
    complete(i: number) {
      subs[i]!.ended = true;
      subs[i]!.sink.complete();
    },
    open: () => subs.filter((s) => !s.ended),
  };
}

let clock = 0;
const states: any[] = [];
function start(client: ReturnType<typeof fakeClient>) {
  const seen = { snapshots: [] as unknown[], updates: [] as unknown[] };
  const stream = createMarketStream(
    client,
    {
      snapshot: (prices: unknown) => seen.snapshots.push(prices),
      update: (u: unknown) => seen.updates.push(u),
      state: (s: unknown) => states.push(s),
    },
    { now: () => clock },
  );
  return { stream, seen };
}

beforeEach(() => {
  vi.useFakeTimers();
  clock = 0;
  states.length = 0;
});
afterEach(() => {
  vi.useRealTimers();
});

describe("the live page's marketUpdates stream", () => {
  it("starts with a snapshot, then keeps the resume point in the payload graphql-ws re-sends", () => {
    const client = fakeClient();
    const { stream, seen } = start(client);
    expect(client.subs[0]!.variables).toEqual({ afterSeq: null, snapshot: true });
    client.send({ kind: "SNAPSHOT", seq: 40, snapshot: [{ id: "1", priceUsd: 5 }] });
    expect(seen.snapshots).toEqual([[{ id: "1", priceUsd: 5 }]]);
    client.send({ kind: "UPDATE", seq: 41, observation: { asset: { id: "1" } } });
    // The very object graphql-ws holds: a reconnect sends afterSeq 41, and no second snapshot.
    expect(client.subs[0]!.payload.variables).toEqual({ afterSeq: 41, snapshot: false });
    expect(seen.updates).toHaveLength(1);
    expect(states.at(-1)).toMatchObject({ seq: 41, behind: 0, stalled: false });
    stream.stop();
  });

  it("subscribes again from a RECONNECT's seq once the server completed and closed the socket", () => {
    const client = fakeClient();
    const { stream } = start(client);
    client.send({ kind: "SNAPSHOT", seq: 40, snapshot: [] });
    client.send({ kind: "RECONNECT", seq: 44 });
    client.complete(0);
    expect(client.subs).toHaveLength(1);
    stream.socketClosed();
    expect(client.subs).toHaveLength(2);
    expect(client.subs[1]!.variables).toEqual({ afterSeq: 44, snapshot: false });
    stream.stop();
  });

  it("subscribes again a second after the server completed without a close", () => {
    const client = fakeClient();
    const { stream } = start(client);
    client.send({ kind: "SNAPSHOT", seq: 40, snapshot: [] });
    client.complete(0);
    vi.advanceTimersByTime(999);
    expect(client.subs).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(client.subs[1]!.variables).toEqual({ afterSeq: 40, snapshot: false });
    stream.stop();
  });

  it("starts over with a snapshot on RESYNC, ending the old subscription", () => {
    const client = fakeClient();
    const { stream } = start(client);
    client.send({ kind: "SNAPSHOT", seq: 40, snapshot: [] });
    client.send({ kind: "RESYNC", seq: 900 });
    expect(client.subs[0]!.ended).toBe(true);
    expect(client.subs[1]!.variables).toEqual({ afterSeq: null, snapshot: true });
    expect(client.open()).toHaveLength(1);
    stream.stop();
  });

  it("says it is behind when a heartbeat's seq is above its own, and replays from its own seq", () => {
    const client = fakeClient();
    const { stream } = start(client);
    client.send({ kind: "SNAPSHOT", seq: 40, snapshot: [] });
    client.send({ kind: "HEARTBEAT", seq: 40, serverTime: "2026-01-05T10:00:15.000Z" });
    expect(client.subs).toHaveLength(1);
    expect(states.at(-1)).toMatchObject({ behind: 0, heartbeatAt: "2026-01-05T10:00:15.000Z" });

    client.send({ kind: "HEARTBEAT", seq: 47 });
    expect(states.at(-1)).toMatchObject({ seq: 40, head: 47, behind: 7 });
    expect(client.subs[0]!.ended).toBe(true);
    expect(client.subs[1]!.variables).toEqual({ afterSeq: 40, snapshot: false });
    // The replay brings what was missed: caught up.
    client.send({ kind: "UPDATE", seq: 47, observation: { asset: { id: "1" } } });
    expect(states.at(-1)).toMatchObject({ seq: 47, behind: 0 });
    stream.stop();
  });

  it("takes a heartbeat's seq as the resume point when a catch-up found nothing to replay", () => {
    const client = fakeClient();
    const { stream } = start(client);
    client.send({ kind: "SNAPSHOT", seq: 40, snapshot: [] });
    client.send({ kind: "HEARTBEAT", seq: 47 });
    client.send({ kind: "HEARTBEAT", seq: 47 });
    expect(client.subs).toHaveLength(2);
    expect(states.at(-1)).toMatchObject({ seq: 47, behind: 0 });
    expect(client.subs[1]!.payload.variables).toEqual({ afterSeq: 47, snapshot: false });
    stream.stop();
  });

  it("terminates a socket that stopped sending heartbeats, and clears the state on the next event", () => {
    const client = fakeClient();
    const { stream } = start(client);
    client.send({ kind: "SNAPSHOT", seq: 40, snapshot: [] });
    clock = 15_000;
    client.send({ kind: "HEARTBEAT", seq: 40 });
    // 2 × 15 s + 5 s of silence is still tolerated; beyond it the socket is taken for dead.
    clock = 15_000 + 35_000;
    vi.advanceTimersByTime(5000);
    expect(client.terminated).toBe(0);
    clock += 1000;
    vi.advanceTimersByTime(5000);
    expect(client.terminated).toBe(1);
    expect(states.at(-1)).toMatchObject({ stalled: true });
    client.send({ kind: "HEARTBEAT", seq: 40 });
    expect(states.at(-1)).toMatchObject({ stalled: false });
    stream.stop();
  });

  it("stops for good: no subscription left, none opened later", () => {
    const client = fakeClient();
    const { stream } = start(client);
    client.send({ kind: "SNAPSHOT", seq: 40, snapshot: [] });
    client.complete(0);
    stream.stop();
    vi.advanceTimersByTime(10_000);
    expect(client.open()).toHaveLength(0);
    expect(client.subs).toHaveLength(1);
  });
});
