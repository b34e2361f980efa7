import type { FetchedPayload, SourceId } from "./record.ts";
import { UpstreamError } from "./upstream-error.ts";

/** The body of a list endpoint: a JSON array, or a permanent "corrupt payload" error (never retried). */
export function parseJsonArray(source: SourceId, payload: FetchedPayload & { attempts?: number }): unknown[] {
  const fail = (message: string) =>
    new UpstreamError({
      source,
      kind: "permanent",
      message: `corrupt payload: ${message}`,
      url: payload.request.url,
      status: payload.status,
      attempts: payload.attempts ?? 1,
    });
  let data: unknown;
  try {
    data = JSON.parse(payload.body);
  } catch (error) {
    throw fail((error as Error).message);
  }
  if (!Array.isArray(data)) throw fail(`expected a JSON array, got ${data === null ? "null" : typeof data}`);
  return data;
}
