/**
 * The one scrubber for everything stored or served (logs, stored errors, rejected records, the raw
 * archive, GraphQL responses, /metrics, /health). Every configured secret value is replaced by
 * [REDACTED] wherever it appears: as written, URL-encoded, or JSON-escaped (a key inside an
 * error message, a URL, an upstream body echoing what it was sent). A leaf: imports nothing.
 */
export interface Scrubber {
  (text: string): string;
  /** The same value with every string (keys too) scrubbed; unchanged parts are shared, not copied. */
  deep<T>(value: T): T;
  /**
   * For text cut at a byte or character limit: scrubbed, and a tail that is the start of a secret
   * (the cut fell inside it) redacted too, so a truncated echo never shows part of a key.
   */
  cut(text: string): string;
  /** False when no secret is configured: callers may skip the work. */
  readonly active: boolean;
}

export const REDACTED = "[REDACTED]";

/** Shorter values would match ordinary text; config never treats them as secrets. */
const MIN_SECRET_LENGTH = 4;

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

export function createScrubber(secrets: readonly string[]): Scrubber {
  const needles = [
    ...new Set(secrets.flatMap((s) => [s, encodeURIComponent(s), JSON.stringify(s).slice(1, -1)])),
  ]
    .filter((s) => s.length >= MIN_SECRET_LENGTH)
    // Longest first: a secret that contains another is replaced whole.
    .sort((a, b) => b.length - a.length);
  if (needles.length === 0) {
    const identity = ((text: string) => text) as Scrubber;
    return Object.assign(identity, { deep: <T>(value: T) => value, cut: identity, active: false });
  }
  const source = needles.map(escapeRegExp).join("|");
  // Case-insensitive: percent-encoding may come back in lower case (%2f), and redacting a look-alike
  // of a secret costs nothing.
  const probe = new RegExp(source, "i");
  const all = new RegExp(source, "gi");
  const text = (s: string) => (probe.test(s) ? s.replace(all, REDACTED) : s);
  const deep = (value: unknown): unknown => {
    if (typeof value === "string") return text(value);
    if (value === null || typeof value !== "object") return value;
    if (Array.isArray(value)) {
      let copy: unknown[] | null = null;
      for (let i = 0; i < value.length; i++) {
        const v = deep(value[i]);
        if (v === value[i]) continue;
        copy ??= [...value];
        copy[i] = v;
      }
      return copy ?? value;
    }
    // Only plain objects are walked: Dates, Buffers and class instances are left as they are.
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return value;
    let copy: Record<string, unknown> | null = null;
    for (const [k, v] of Object.entries(value)) {
      const key = text(k);
      const scrubbed = deep(v);
      if (key !== k || scrubbed !== v) {
        copy ??= { ...(value as Record<string, unknown>) };
        if (key !== k) delete copy[k];
        copy[key] = scrubbed;
      }
    }
    return copy ?? value;
  };
  const lowered = needles.map((n) => n.toLowerCase());
  const cut = (s: string) => {
    const whole = text(s);
    // The longest tail that is a proper prefix of some secret: at most the longest secret's length.
    for (let n = Math.min(whole.length, needles[0]!.length - 1); n > 0; n--) {
      const tail = whole.slice(-n);
      const lower = tail.toLowerCase();
      if (lowered.some((needle) => needle.startsWith(lower))) return whole.slice(0, -n) + REDACTED;
    }
    return whole;
  };
  return Object.assign(text, { deep: deep as <T>(value: T) => T, cut, active: true });
}
