/**
 * Reads the numbers people put in CSV cells: `87000`, `"$87,000"`, `4800 USD`, `1.7T`, `600B`,
 * `8.61E+11`, `-0.5%`. Returns null for an empty cell or an explicit null marker, and
 * { error } for anything else that is not a number: nothing is silently coerced to 0.
 */
export type AmountResult = { value: number | null } | { error: string };

const NULL_MARKERS = new Set(["", "null", "none", "n/a", "na", "-", "--", "nan", "undefined"]);
const SUFFIX: Record<string, number> = { K: 1e3, M: 1e6, B: 1e9, T: 1e12 };
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i;

export function parseAmount(input: unknown): AmountResult {
  if (input === null || input === undefined) return { value: null };
  if (typeof input === "number") {
    return Number.isFinite(input) ? { value: input } : { error: `not a finite number: ${input}` };
  }
  if (typeof input !== "string") return { error: `not a number: ${JSON.stringify(input)}` };
  let s = input.trim();
  if (NULL_MARKERS.has(s.toLowerCase())) return { value: null };
  s = s
    .replace(/^\$|\$$/g, "")
    .replace(/\s*(usd|us\$)$/i, "")
    .replace(/^usd\s*/i, "")
    .replace(/%$/, "");
  s = s.replace(/^\$/, "").trim();
  // Thousands separators: only in the 1,234,567.89 form, so "1,5" is not silently read as 15.
  if (/^[+-]?\d{1,3}(,\d{3})+(\.\d+)?([KMBT])?$/i.test(s)) s = s.replace(/,/g, "");
  let multiplier = 1;
  const last = s.slice(-1).toUpperCase();
  if (last in SUFFIX && NUMBER.test(s.slice(0, -1))) {
    multiplier = SUFFIX[last]!;
    s = s.slice(0, -1);
  }
  if (!NUMBER.test(s)) return { error: `not a number: ${JSON.stringify(input)}` };
  const value = Number(s) * multiplier;
  if (!Number.isFinite(value)) return { error: `out of range: ${JSON.stringify(input)}` };
  return { value };
}
