import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { MarketUpdate, ObservationWithAsset } from "./market-update.ts";
import { SubscriberBuffer } from "./subscriber-buffer.ts";

/** An UPDATE of one asset; `reads` counts how often the buffer looked at its asset id. */
function update(seq: number, assetId: number, reads = { n: 0 }): MarketUpdate {
  const observation = {
    get assetId() {
      reads.n++;
      return assetId;
    },
  } as unknown as ObservationWithAsset;
  return { kind: "UPDATE", seq: BigInt(seq), observation, latestPrice: null };
}

const drain = (b: SubscriberBuffer) => {
  const out: MarketUpdate[] = [];
  for (let u = b.shift(); u; u = b.shift()) out.push(u);
  return out;
};
const described = (us: MarketUpdate[]) =>
  us.map((u) =>
    u.kind === "GAP" ? `GAP ${u.fromSeq}-${u.toSeq}` : `${u.seq}:${u.observation?.assetId ?? "-"}`,
  );

describe("SubscriberBuffer, LATEST", () => {
  it("queues every update while it has room, duplicates of an asset included", () => {
    const b = new SubscriberBuffer(10, "LATEST", 0n);
    for (const [seq, asset] of [
      [1, 7],
      [2, 7],
      [3, 8],
    ] as const)
      b.push(update(seq, asset));
    expect(described(drain(b))).toEqual(["1:7", "2:7", "3:8"]);
  });

  it("once full keeps only the newest update per asset, delivered in seq order", () => {
    const b = new SubscriberBuffer(3, "LATEST", 0n);
    for (const [seq, asset] of [
      [1, 1],
      [2, 2],
      [3, 1],
      [4, 3],
      [5, 1],
      [6, 2],
    ] as const) {
      b.push(update(seq, asset));
    }
    expect(described(drain(b))).toEqual(["4:3", "5:1", "6:2"]);
  });

  it("holds at most one update per asset however many arrive, and goes back to queueing once caught up", () => {
    const b = new SubscriberBuffer(10, "LATEST", 0n);
    for (let seq = 1; seq <= 10_000; seq++) b.push(update(seq, seq % 100));
    expect(b.size).toBe(100);
    const out = drain(b);
    expect(described(out)).toEqual(Array.from({ length: 100 }, (_, i) => `${9901 + i}:${(9901 + i) % 100}`));
    b.push(update(10_001, 1));
    b.push(update(10_002, 1));
    expect(described(drain(b))).toEqual(["10001:1", "10002:1"]);
  });

  it("costs O(1) per push when full: the buffer looks at a constant number of asset ids per update", () => {
    // 2,600 assets and a consumer that reads nothing: the slow subscriber. The previous
    // buffer re-read (and re-sorted) all 2,600 queued updates on every push.
    const reads = { n: 0 };
    const b = new SubscriberBuffer(1000, "LATEST", 0n);
    let seq = 0;
    for (let asset = 0; asset < 2600; asset++) b.push(update(++seq, asset, reads));
    const before = reads.n;
    for (let i = 0; i < 500; i++) b.push(update(++seq, i * 5, reads));
    expect((reads.n - before) / 500).toBeLessThanOrEqual(2);
    expect(b.size).toBe(2600);
  });

  it("never loses an asset's newest update, keeps seq order and stays bounded (random pushes and reads)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.oneof(fc.integer({ min: 0, max: 5 }), fc.constant(-1)), { maxLength: 200 }),
        (capacity, ops) => {
          const b = new SubscriberBuffer(capacity, "LATEST", 0n);
          const newest = new Map<number, number>();
          const delivered: MarketUpdate[] = [];
          let seq = 0;
          for (const op of ops) {
            if (op === -1) {
              const u = b.shift();
              if (u) delivered.push(u);
              continue;
            }
            b.push(update(++seq, op));
            newest.set(op, seq);
            expect(b.size).toBeLessThanOrEqual(Math.max(capacity, 6));
          }
          delivered.push(...drain(b));
          const seqs = delivered.map((u) => Number(u.seq));
          expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
          for (const s of newest.values()) expect(seqs).toContain(s);
        },
      ),
    );
  });
});

describe("SubscriberBuffer, ALL", () => {
  it("folds the overflow into one GAP that grows while the consumer is away", () => {
    const b = new SubscriberBuffer(3, "ALL", 0n);
    for (let seq = 1; seq <= 10; seq++) b.push(update(seq, seq));
    expect(described(drain(b))).toEqual(["1:1", "2:2", "GAP 3-10"]);
  });

  it("merges a later overflow into the GAP before it rather than starting a second one", () => {
    const b = new SubscriberBuffer(3, "ALL", 0n);
    for (let seq = 1; seq <= 5; seq++) b.push(update(seq, seq));
    expect(described([b.shift()!])).toEqual(["1:1"]);
    b.push(update(6, 6));
    b.push(update(7, 7));
    expect(described(drain(b))).toEqual(["2:2", "GAP 3-7"]);
  });
});

describe("SubscriberBuffer, both modes", () => {
  it("drops updates at or below the last seq it queued (replay and live overlap)", () => {
    const b = new SubscriberBuffer(10, "ALL", 5n);
    for (const seq of [4, 5, 6, 6, 7]) b.push(update(seq, 1));
    expect(described(drain(b))).toEqual(["6:1", "7:1"]);
  });

  it("skipTo drops what a RESYNC covers and everything older from then on", () => {
    const b = new SubscriberBuffer(10, "LATEST", 0n);
    for (let seq = 1; seq <= 5; seq++) b.push(update(seq, seq));
    b.skipTo(3n);
    b.push(update(3, 9));
    b.push(update(6, 6));
    expect(described(drain(b))).toEqual(["4:4", "5:5", "6:6"]);
  });
});
