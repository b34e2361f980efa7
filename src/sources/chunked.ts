import { setImmediate as nextTick } from "node:timers/promises";

export const API_CHUNK = 250;

/**
 * Normalizes a page's items in chunks, yielding to the event loop between them, so a 2,500-item
 * payload never blocks the server for the whole page (requests and subscriptions keep flowing).
 */
export async function* inChunks<T, R>(
  items: readonly T[],
  map: (item: T, index: number) => R,
  size = API_CHUNK,
) {
  for (let i = 0; i < items.length; i += size) {
    if (i > 0) await nextTick();
    yield items.slice(i, i + size).map((item, j) => map(item, i + j));
  }
}
