/**
 * Schema drift: a fingerprint of field paths → JSON types (and, for numbers, the typical order
 * of magnitude), compared with the source's baseline. A removed and an added field that look
 * alike (name, type, value shape) are reported as one rename with a confidence in 0..1.
 */
export interface FieldPrint {
  type: string;
  /** Median log10 of |value| for numeric fields (value shape for rename matching). */
  magnitude?: number;
}

export type Fingerprint = Record<string, FieldPrint>;

export interface DriftChange {
  kind: "ADDED" | "REMOVED" | "TYPE_CHANGED" | "RENAMED";
  path: string;
  renamedFrom?: string;
  fromType?: string;
  toType?: string;
  confidence: number;
}

/** Fields without which a source's records cannot be trusted (quarantine policy). */
export const REQUIRED_FIELDS: Record<string, string[]> = {
  COINGECKO: ["id", "symbol", "name", "current_price", "last_updated"],
  COINPAPRIKA: ["id", "symbol", "name", "quotes.USD.price", "last_updated"],
  CSV: [],
};

const jsonType = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);
const MAX_SAMPLES = 200;

/** Fingerprints items; `null` never hides a type: a field seen as null and as number is a number. */
export function fingerprint(items: readonly unknown[], extraFields: readonly string[] = []): Fingerprint {
  const types = new Map<string, Set<string>>();
  const numbers = new Map<string, number[]>();
  const walk = (value: unknown, path: string) => {
    const t = jsonType(value);
    if (path) {
      const set = types.get(path) ?? new Set<string>();
      set.add(t);
      types.set(path, set);
      if (t === "number" && value !== 0) {
        const list = numbers.get(path) ?? [];
        if (list.length < MAX_SAMPLES) list.push(Math.log10(Math.abs(value as number)));
        numbers.set(path, list);
      }
    }
    if (t === "object") {
      for (const [k, v] of Object.entries(value as Record<string, unknown>))
        walk(v, path ? `${path}.${k}` : k);
    } else if (t === "array") {
      for (const el of value as unknown[]) walk(el, `${path}[]`);
    }
  };
  for (const item of items) walk(item, "");
  for (const field of extraFields) if (!types.has(field)) types.set(field, new Set(["column"]));
  const out: Fingerprint = {};
  for (const [path, set] of [...types].sort(([a], [b]) => a.localeCompare(b))) {
    const nonNull = [...set].filter((t) => t !== "null").sort();
    const print: FieldPrint = { type: nonNull.length > 0 ? nonNull.join("|") : "null" };
    const nums = numbers.get(path);
    if (nums && nums.length > 0) {
      const sorted = [...nums].sort((a, b) => a - b);
      print.magnitude = Math.round(sorted[Math.floor(sorted.length / 2)]! * 100) / 100;
    }
    out[path] = print;
  }
  return out;
}

const tokens = (path: string) =>
  (path.split(".").at(-1) ?? path)
    .replace(/([a-z])([A-Z])/g, "$1_$2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);

function bigrams(s: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < s.length - 1; i++) out.push(s.slice(i, i + 2));
  return out;
}

/** Name similarity in 0..1: the better of token-set Jaccard and bigram Dice on the leaf name. */
export function nameSimilarity(a: string, b: string): number {
  const ta = new Set(tokens(a));
  const tb = new Set(tokens(b));
  const inter = [...ta].filter((t) => tb.has(t)).length;
  const jaccard = inter / (new Set([...ta, ...tb]).size || 1);
  const ba = bigrams(tokens(a).join(""));
  const bb = bigrams(tokens(b).join(""));
  const pool = [...bb];
  let common = 0;
  for (const g of ba) {
    const i = pool.indexOf(g);
    if (i !== -1) {
      common++;
      pool.splice(i, 1);
    }
  }
  const dice = ba.length + bb.length > 0 ? (2 * common) / (ba.length + bb.length) : 0;
  return Math.max(jaccard, dice);
}

const parentOf = (path: string) => path.split(".").slice(0, -1).join(".");
const RENAME_THRESHOLD = 0.6;

export function renameConfidence(
  from: string,
  fromPrint: FieldPrint,
  to: string,
  toPrint: FieldPrint,
): number {
  const name = nameSimilarity(from, to);
  const sameType = fromPrint.type === toPrint.type ? 1 : 0;
  let shape = sameType;
  if (fromPrint.magnitude !== undefined && toPrint.magnitude !== undefined) {
    shape = 1 - Math.min(1, Math.abs(fromPrint.magnitude - toPrint.magnitude) / 3);
  }
  const sameParent = parentOf(from) === parentOf(to) ? 1 : 0.8;
  return Math.round((0.5 * name + 0.25 * sameType + 0.25 * shape) * sameParent * 100) / 100;
}

/** Changes from baseline to current. A detected rename replaces its ADDED + REMOVED pair. */
export function diffFingerprints(baseline: Fingerprint, current: Fingerprint): DriftChange[] {
  const added = Object.keys(current).filter((p) => !(p in baseline));
  const removed = Object.keys(baseline).filter((p) => !(p in current));
  const changes: DriftChange[] = [];
  for (const path of Object.keys(current)) {
    const before = baseline[path];
    const now = current[path]!;
    if (before && before.type !== "null" && now.type !== "null" && before.type !== now.type) {
      changes.push({ kind: "TYPE_CHANGED", path, fromType: before.type, toType: now.type, confidence: 1 });
    }
  }
  const pairs = removed
    .flatMap((r) => added.map((a) => ({ r, a, c: renameConfidence(r, baseline[r]!, a, current[a]!) })))
    .filter((p) => p.c >= RENAME_THRESHOLD)
    .sort((x, y) => y.c - x.c || x.a.localeCompare(y.a));
  const used = new Set<string>();
  for (const { r, a, c } of pairs) {
    if (used.has(r) || used.has(a)) continue;
    used.add(r);
    used.add(a);
    changes.push({
      kind: "RENAMED",
      path: a,
      renamedFrom: r,
      fromType: baseline[r]!.type,
      toType: current[a]!.type,
      confidence: c,
    });
  }
  for (const path of added) {
    if (!used.has(path)) changes.push({ kind: "ADDED", path, toType: current[path]!.type, confidence: 1 });
  }
  for (const path of removed) {
    if (!used.has(path))
      changes.push({ kind: "REMOVED", path, fromType: baseline[path]!.type, confidence: 1 });
  }
  return changes.sort((a, b) => a.path.localeCompare(b.path) || a.kind.localeCompare(b.kind));
}

/**
 * Required fields the baseline had that the current fingerprint lacks (directly or by rename),
 * unless an accepted rename says where they arrive now.
 */
export function missingRequired(
  source: string,
  baseline: Fingerprint,
  current: Fingerprint,
  renames: Readonly<Record<string, string>> = {},
): string[] {
  return (REQUIRED_FIELDS[source] ?? []).filter((p) => {
    if (!(p in baseline) || p in current) return false;
    const now = renames[p];
    return now === undefined || !(now in current);
  });
}

/** Union of two fingerprints (streams of one source); a null type yields to a real one. */
export function mergeFingerprints(a: Fingerprint, b: Fingerprint): Fingerprint {
  const out: Fingerprint = { ...a };
  for (const [path, print] of Object.entries(b)) {
    const prev = out[path];
    if (!prev || prev.type === "null") out[path] = print;
    else if (print.type !== "null" && print.type !== prev.type) {
      out[path] = {
        ...prev,
        type: [...new Set([...prev.type.split("|"), ...print.type.split("|")])].sort().join("|"),
      };
    }
  }
  return out;
}
