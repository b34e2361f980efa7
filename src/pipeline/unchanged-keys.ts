/**
 * Keys (asset, observedAt) a source run counted unchanged so far, so that a later copy of the same
 * key counts as a duplicate and not as unchanged a second time. Rows the run wrote need no memory
 * here: the upsert finds them by their run_id. Bounded: past `limit` keys (measured ~180 bytes
 * each when every asset has one, so ~18 MB at most) new keys are no longer remembered, and a
 * repeat of one of those is counted as its first copy was (unchanged, or written if it differs).
 */
export function createUnchangedKeys(limit = 100_000) {
  const byAsset = new Map<number, Set<number>>();
  let size = 0;
  return {
    has(assetId: number, observedAt: Date): boolean {
      return byAsset.get(assetId)?.has(observedAt.getTime()) ?? false;
    },
    add(keys: Iterable<{ assetId: number; observedAt: Date }>) {
      for (const { assetId, observedAt } of keys) {
        if (size >= limit) return;
        let times = byAsset.get(assetId);
        if (!times) {
          times = new Set();
          byAsset.set(assetId, times);
        }
        const before = times.size;
        times.add(observedAt.getTime());
        size += times.size - before;
      }
    },
    get size() {
      return size;
    },
  };
}

export type UnchangedKeys = ReturnType<typeof createUnchangedKeys>;
