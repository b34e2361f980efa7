import { describe, expect, it } from "vitest";
import type { MarketUpdate } from "./market-update.ts";
import { Pacer } from "./pacer.ts";

let seq = 0n;
const update = (assetId: number, price: number): MarketUpdate =>
  ({
    kind: "UPDATE",
    seq: ++seq,
    observation: { assetId, priceUsd: price },
    latestPrice: { priceUsd: price },
  }) as unknown as MarketUpdate;

/** Offers a scripted price path [time ms, asset, price] and takes at each step; returns what went out when. */
function run(pacer: Pacer, path: [number, number, number][], until: number) {
  const out: [number, number, number][] = [];
  const times = [...new Set([...path.map((p) => p[0]), until])].sort((a, b) => a - b);
  let next: number | null = null;
  const emit = (now: number) => {
    const r = pacer.take(now);
    for (const u of r.ready) out.push([now, u.observation!.assetId, u.observation!.priceUsd]);
    next = r.nextAt;
  };
  for (const t of times) {
    while (next !== null && next <= t) emit(next);
    for (const p of path) if (p[0] === t) pacer.offer(update(p[1], p[2]));
    emit(t);
  }
  return out;
}

describe("Pacer", () => {
  it("throttleMs: at most one update per asset per window, the newest, and assets do not delay each other", () => {
    const out = run(
      new Pacer({ throttleMs: 1000 }),
      [
        [0, 1, 100],
        [100, 1, 101],
        [200, 1, 102],
        [300, 2, 50],
        [1500, 1, 103],
        [1600, 1, 104],
      ],
      3000,
    );
    expect(out).toEqual([
      [0, 1, 100],
      [300, 2, 50],
      [1000, 1, 102],
      [2000, 1, 104],
    ]);
  });

  it("minMoveBps with maxSilenceSeconds: a move of at least that many bps since the last sent, or the newest after the silence", () => {
    const out = run(
      new Pacer({ minMoveBps: 100, maxSilenceSeconds: 10 }),
      [
        [0, 1, 100],
        [1000, 1, 100.5], // 50 bps: held
        [2000, 1, 101], // 100 bps from 100: sent
        [3000, 1, 101.2], // 20 bps: held until 10 s after the last sent
        [4000, 1, 101.3],
      ],
      20_000,
    );
    expect(out).toEqual([
      [0, 1, 100],
      [2000, 1, 101],
      [12_000, 1, 101.3],
    ]);
  });

  it("minMoveBps alone drops small moves but measures the next against the last one sent", () => {
    const out = run(
      new Pacer({ minMoveBps: 100 }),
      [
        [0, 1, 100],
        [1000, 1, 100.6],
        [2000, 1, 101.1],
      ],
      5000,
    );
    expect(out).toEqual([
      [0, 1, 100],
      [2000, 1, 101.1],
    ]);
  });

  it("resumePoint stays below the oldest held update, so a resume sends that asset's newest price again", () => {
    const pacer = new Pacer({ throttleMs: 1000 });
    const first = update(1, 100);
    pacer.offer(first);
    expect(pacer.take(0).ready).toEqual([first]);
    const held = update(1, 101); // inside the window: held, not sent
    pacer.offer(held);
    expect(pacer.take(10).ready).toEqual([]);
    pacer.offer(update(2, 50)); // another asset: sent at once
    const other = pacer.take(20).ready;
    expect(other).toHaveLength(1);
    expect(pacer.holding).toBe(true);
    expect(pacer.resumePoint(other[0]!.seq)).toBe(held.seq - 1n);
    expect(pacer.take(1000).ready).toEqual([held]);
    expect(pacer.holding).toBe(false);
    expect(pacer.resumePoint(other[0]!.seq)).toBe(other[0]!.seq);
  });
});
