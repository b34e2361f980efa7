/**
 * Keys (asset, observedAt) a source run counted unchanged so far, so that a later copy of the same
 * key counts as a duplicate and not as unchanged a second time. Rows the run wrote need no memory
 * here: the upsert finds them by their run_id. Bounded: past `limit` keys (~40 bytes each) new
 * keys are no longer remembered, and a repeat of one of those counts as unchanged again.
 */
export function createUnchangedKeys(limit = 250_000) {
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
