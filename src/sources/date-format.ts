/**
 * CSV dates, decided once per file from a sample of its values (never guessed per row):
 * ISO forms (`2024-01-31`, `2024-01-31T10:00:00Z`, `2013-04-28 00:00:00 UTC`, `… +00:00`),
 * `DD-MM-YYYY[ HH:MM[:SS]]`, `M/D/YYYY[ H:MM[:SS]]` (or day-first when the file shows it), and
 * unix seconds or milliseconds. Times without a zone are UTC.
 */
export type DateFormat = "iso" | "dmy-dash" | "mdy-dash" | "mdy-slash" | "dmy-slash" | "unix-s" | "unix-ms";

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|UTC|GMT|[+-]\d{2}:?\d{2})?$/i;
const DASH = /^(\d{1,2})-(\d{1,2})-(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$/;
const SLASH = /^(\d{1,2})\/(\d{1,2})\/(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$/;
const UNIX = /^\d{9,13}(\.\d+)?$/;

export function detectDateFormat(samples: readonly string[]): { format: DateFormat } | { error: string } {
  const values = samples.map((s) => s.trim()).filter(Boolean);
  const first = values[0];
  if (first === undefined) return { error: "no date values to decide the format from" };
  if (ISO.test(first)) return { format: "iso" };
  if (UNIX.test(first)) return { format: first.split(".")[0]!.length >= 12 ? "unix-ms" : "unix-s" };
  const family = DASH.test(first) ? DASH : SLASH.test(first) ? SLASH : null;
  if (!family) return { error: `unrecognized date format: ${JSON.stringify(first)}` };
  let dayFirst = false;
  let monthFirst = false;
  for (const v of values) {
    const m = family.exec(v);
    if (!m) continue;
    if (Number(m[1]) > 12) dayFirst = true;
    if (Number(m[2]) > 12) monthFirst = true;
  }
  if (dayFirst && monthFirst) return { error: "dates mix day-first and month-first orders" };
  // Ambiguous files follow their separator's usual reading: DD-MM-YYYY, and US M/D/YYYY (Excel).
  if (family === DASH) return { format: monthFirst ? "mdy-dash" : "dmy-dash" };
  return { format: dayFirst ? "dmy-slash" : "mdy-slash" };
}

function utc(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): Date | null {
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return null;
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s, ms));
  // Reject rollovers such as 31-02-2024.
  return date.getUTCMonth() === mo - 1 && date.getUTCDate() === d ? date : null;
}

/** Parses one value in the file's format; null when the value does not fit it. */
export function parseDate(format: DateFormat, input: string): Date | null {
  const v = input.trim();
  switch (format) {
    case "iso": {
      const m = ISO.exec(v);
      if (!m) return null;
      const ms = m[7] ? Number(m[7].slice(0, 3).padEnd(3, "0")) : 0;
      const base = utc(+m[1]!, +m[2]!, +m[3]!, +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0), ms);
      if (!base) return null;
      const zone = m[8]?.toUpperCase();
      if (!zone || zone === "Z" || zone === "UTC" || zone === "GMT") return base;
      const sign = zone.startsWith("-") ? -1 : 1;
      const digits = zone.slice(1).replace(":", "");
      const offsetMin = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2));
      return new Date(base.getTime() - sign * offsetMin * 60_000);
    }
    case "unix-s":
    case "unix-ms": {
      if (!UNIX.test(v)) return null;
      const n = Number(v) * (format === "unix-s" ? 1000 : 1);
      const date = new Date(n);
      return Number.isNaN(date.getTime()) ? null : date;
    }
    default: {
      const m = (format.endsWith("dash") ? DASH : SLASH).exec(v);
      if (!m) return null;
      const [a, b] = [+m[1]!, +m[2]!];
      const [day, month] = format.startsWith("dmy") ? [a, b] : [b, a];
      return utc(+m[3]!, month, day, +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0));
    }
  }
}
