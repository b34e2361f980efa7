import type { MarketUpdate } from "./market-update.ts";

/**
 * A subscription's bounded buffer. LATEST (default) conflates to the newest update per asset when
 * full, so its size is bounded by the number of assets; ALL replaces what it cannot hold with one
 * GAP {fromSeq, toSeq} the client can refetch. Updates at or below the last queued seq are
 * dropped, which deduplicates replayed and live deliveries.
 */
export class SubscriberBuffer {
  private items: MarketUpdate[] = [];
  private lastSeq: bigint;

  constructor(
    private readonly capacity: number,
    private readonly mode: "LATEST" | "ALL",
    afterSeq: bigint,
  ) {
    this.lastSeq = afterSeq;
  }

  get size(): number {
    return this.items.length;
  }

  get highestSeq(): bigint {
    return this.lastSeq;
  }

  /** Marks everything up to seq as delivered (RESYNC): older updates are dropped from now on. */
  skipTo(seq: bigint): void {
    this.items = this.items.filter((u) => u.seq > seq);
    if (seq > this.lastSeq) this.lastSeq = seq;
  }

  push(update: MarketUpdate): void {
    const top = update.kind === "GAP" ? (update.toSeq ?? update.seq) : update.seq;
    if (update.kind !== "RESYNC" && top <= this.lastSeq) return;
    if (top > this.lastSeq) this.lastSeq = top;
    if (this.items.length < this.capacity) {
      this.items.push(update);
      return;
    }
    if (this.mode === "LATEST") {
      this.items.push(update);
      this.conflate();
      return;
    }
    // ALL: fold the overflow into a GAP at the end of the buffer; a GAP right before it grows
    // instead, so consecutive overflows stay one contiguous range.
    const dropped = this.items.at(-1)?.kind === "GAP" ? undefined : this.items.pop();
    const tail = this.items.at(-1);
    if (tail?.kind === "GAP") {
      tail.toSeq = top;
      tail.seq = top;
      return;
    }
    const from = dropped ? (dropped.kind === "GAP" ? (dropped.fromSeq ?? dropped.seq) : dropped.seq) : top;
    this.items.push({
      kind: "GAP",
      seq: top,
      fromSeq: from,
      toSeq: top,
      observation: null,
      latestPrice: null,
    });
  }

  shift(): MarketUpdate | undefined {
    return this.items.shift();
  }

  private conflate(): void {
    const newest = new Map<string, MarketUpdate>();
    for (const u of this.items) newest.set(u.observation ? String(u.observation.assetId) : `seq:${u.seq}`, u);
    this.items = [...newest.values()].sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
  }
}
