import type { MarketUpdate } from "./market-update.ts";

/** marketUpdates' per-subscriber pacing arguments; null/undefined = off. */
export interface Pacing {
  /** At most one update per asset per this many ms: the newest, conflated. */
  throttleMs?: number | null;
  /** Send an asset's update only when its consensus moved this many basis points since the last one sent… */
  minMoveBps?: number | null;
  /** …or when this many seconds passed since the last one sent (the newest held update goes then). */
  maxSilenceSeconds?: number | null;
}

export const pacingActive = (p: Pacing) => Boolean(p.throttleMs || p.minMoveBps);

/**
 * One subscriber's pacing, per asset: updates offered are held (newest wins), take() releases
 * those due at `now` and says when the next one may become due. Pure (the clock is the caller's),
 * so the subscriber's own loop runs it and one subscriber's pacing never delays another's.
 * Releases go out in seq order per take(); across assets a held update may follow a newer one.
 */
export class Pacer {
  private readonly sent = new Map<number, { at: number; price: number | null }>();
  private readonly held = new Map<number, MarketUpdate>();

  constructor(private readonly pacing: Pacing) {}

  /**
   * The resume point of a subscriber that was offered everything up to `delivered`: below the
   * oldest update still held, so that afterSeq = it sends that asset's newest price again
   * instead of skipping it.
   */
  resumePoint(delivered: bigint): bigint {
    let point = delivered;
    for (const u of this.held.values()) if (u.seq - 1n < point) point = u.seq - 1n;
    return point;
  }

  get holding(): boolean {
    return this.held.size > 0;
  }

  offer(update: MarketUpdate): void {
    if (update.observation) this.held.set(update.observation.assetId, update);
  }

  take(now: number): { ready: MarketUpdate[]; nextAt: number | null } {
    const { throttleMs, minMoveBps, maxSilenceSeconds } = this.pacing;
    const silenceMs = maxSilenceSeconds ? maxSilenceSeconds * 1000 : null;
    const ready: MarketUpdate[] = [];
    let nextAt: number | null = null;
    const later = (at: number) => {
      nextAt = nextAt === null || at < nextAt ? at : nextAt;
    };
    for (const [assetId, update] of this.held) {
      const last = this.sent.get(assetId);
      const price = update.latestPrice?.priceUsd ?? update.observation?.priceUsd ?? null;
      const moved =
        !minMoveBps ||
        !last ||
        last.price === null ||
        price === null ||
        (Math.abs(price - last.price) / Math.abs(last.price)) * 10_000 >= minMoveBps;
      const silent = silenceMs !== null && last !== undefined && now - last.at >= silenceMs;
      if (!moved && !silent) {
        // Too small a move: kept for the silence deadline, else dropped (the next move is
        // measured against the last one sent all the same).
        if (silenceMs !== null && last) later(last.at + silenceMs);
        else this.held.delete(assetId);
        continue;
      }
      if (throttleMs && last && now - last.at < throttleMs) {
        later(last.at + throttleMs);
        continue;
      }
      this.held.delete(assetId);
      this.sent.set(assetId, { at: now, price });
      ready.push(update);
    }
    ready.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
    return { ready, nextAt };
  }
}
