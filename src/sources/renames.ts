import type { Renames } from "./record.ts";

function get(item: unknown, path: string): unknown {
  let value: unknown = item;
  for (const key of path.split(".")) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** A copy of `item` with `path` set, copying only the objects on the way (the original is kept as received). */
function set(item: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const [head, ...rest] = path.split(".");
  const key = head!;
  if (rest.length === 0) return { ...item, [key]: value };
  const child = item[key];
  const next = child !== null && typeof child === "object" ? (child as Record<string, unknown>) : {};
  return { ...item, [key]: set(next, rest.join("."), value) };
}

/**
 * Applies accepted renames to one payload item: where the old path is missing and the new one
 * is present, the value is copied back to the old path, so the normalizer reads it where it
 * expects it. Fields that arrive under their old name win (the upstream may have reverted).
 */
export function applyRenames(item: unknown, renames: Renames | undefined): unknown {
  if (!renames || item === null || typeof item !== "object" || Array.isArray(item)) return item;
  let out = item as Record<string, unknown>;
  for (const [from, to] of Object.entries(renames)) {
    if (get(out, from) !== undefined) continue;
    const value = get(out, to);
    if (value !== undefined) out = set(out, from, value);
  }
  return out;
}
