import { createHash } from "node:crypto";

/**
 * The response cache's key for an operation: SHA-256 (hex) of the document, the operation name,
 * the variables (keys sorted, so `{a, b}` and `{b, a}` share an entry) and the session (the
 * cache generation), the same parts as the plugin's default key. Computed synchronously with
 * node:crypto: the default goes through WebCrypto's digest, a promise settled from libuv's
 * thread pool, on every request, hit or miss. The key is also the response's ETag.
 */
export function responseCacheKey(params: {
  documentString: string;
  variableValues?: Record<string, unknown> | null;
  operationName?: string | null;
  sessionId?: string | null;
}): string {
  return createHash("sha256")
    .update(
      `${params.documentString}|${params.operationName ?? ""}|${stableJson(params.variableValues ?? {})}|${params.sessionId ?? ""}`,
    )
    .digest("hex");
}

/** JSON with object keys sorted at every level (variables are JSON from the request). */
export function stableJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  const record = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(record).sort()) {
    if (record[key] === undefined) continue;
    parts.push(`${JSON.stringify(key)}:${stableJson(record[key])}`);
  }
  return `{${parts.join(",")}}`;
}
