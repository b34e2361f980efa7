import { useResponseCache } from "@graphql-yoga/plugin-response-cache";
import type { Plugin } from "graphql-yoga";
import type { EventBus } from "../pipeline/events.ts";
import { responseCacheKey } from "./response-cache-key.ts";
import { createSizedResponseCache } from "./sized-response-cache.ts";

export interface ResponseCacheOptions {
  bus: EventBus;
  /** Upper bound on an entry's age; 0 turns the cache off. */
  ttlSeconds: number;
  /** Entries kept (least recently used go first). */
  max?: number;
  /** Bytes kept (results' JSON length); a large page can be ~150 KB. */
  maxBytes?: number;
}

/**
 * Query results cached until the data changes. Every pipeline event (a committed batch, a run's
 * progress or status, drift), from this process or, through LISTEN/NOTIFY, from any other, starts
 * a new generation: entries of older generations are never served again. The TTL only bounds
 * what no event announces (writes made outside the pipeline). Results depend on the data alone,
 * never on the caller, so one generation is shared by every client; errors are never cached.
 */
export function useCommitInvalidatedCache(options: ResponseCacheOptions): Plugin | null {
  if (options.ttlSeconds <= 0) return null;
  let generation = 0;
  const next = () => {
    generation++;
  };
  options.bus.subscribe("batchCommitted", next);
  options.bus.subscribe("runStatusChanged", next);
  options.bus.subscribe("driftDetected", next);
  return useResponseCache({
    // Entries of older generations are never read again and leave as the LRU fills. Bounded by
    // bytes, so it can hold many small results (one page per asset a frontend shows) without
    // letting a few 500-row pages take the memory.
    cache: createSizedResponseCache({
      maxEntries: options.max ?? 2_000,
      maxBytes: options.maxBytes ?? 32 * 1024 * 1024,
    }),
    // The generation is the session: a new one makes every older key unreachable at once.
    session: () => `g${generation}`,
    ttl: options.ttlSeconds * 1_000,
    ttlPerSchemaCoordinate: {
      // Computed against the clock at request time, not from the data.
      "SourceHealth.dataAgeSeconds": 0,
    },
    // Invalidation is by generation; entity bookkeeping per mutation result would only cost.
    invalidateViaMutation: false,
    includeExtensionMetadata: true,
    buildResponseCacheKey: (params) =>
      responseCacheKey({ ...params, variableValues: params.variableValues as Record<string, unknown> }),
    // HTTP only: the cache keys entries by yoga's HTTP request (onParams), which a graphql-ws
    // operation does not have; over WebSocket every operation executes.
    enabled: (request) => request !== undefined,
  });
}
