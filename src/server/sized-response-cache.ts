import type { Cache } from "@graphql-yoga/plugin-response-cache";

type Result = Awaited<ReturnType<Cache["get"]>>;

interface Entry {
  result: NonNullable<Result>;
  bytes: number;
  expires: number;
}

/**
 * The response cache's store, bounded by bytes as well as entries, least recently used first
 * out. An entry bound alone had to be small (a page of 500 can be ~150 KB, so 250 entries could
 * hold 37 MB), too small for what a frontend varies: one query per asset over the top 300
 * assets missed on every eviction. Entries are sized by their JSON length. Invalidation is by
 * generation (response-cache.ts): entries of an older generation are never asked for again and
 * leave as newer ones push them out; per-entity invalidation is not used, so it is a no-op.
 */
export function createSizedResponseCache(options: { maxEntries: number; maxBytes: number }): Cache {
  const entries = new Map<string, Entry>();
  let bytes = 0;
  const drop = (key: string, entry: Entry) => {
    entries.delete(key);
    bytes -= entry.bytes;
  };
  return {
    get(key) {
      const entry = entries.get(key);
      if (!entry) return undefined;
      if (entry.expires <= Date.now()) {
        drop(key, entry);
        return undefined;
      }
      // Most recently used last: Map keeps insertion order.
      entries.delete(key);
      entries.set(key, entry);
      return entry.result;
    },
    set(key, result, _entities, ttl) {
      const size = JSON.stringify(result).length;
      const old = entries.get(key);
      if (old) drop(key, old);
      if (size > options.maxBytes) return;
      entries.set(key, { result: result as NonNullable<Result>, bytes: size, expires: Date.now() + ttl });
      bytes += size;
      for (const [k, entry] of entries) {
        if (entries.size <= options.maxEntries && bytes <= options.maxBytes) break;
        drop(k, entry);
      }
    },
    invalidate() {},
  };
}
