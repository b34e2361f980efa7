// Number and time formats of the live page. Times are UTC, as the API gives them.

export const usd = (v) =>
  v == null
    ? "–"
    : v.toLocaleString("en-US", {
        style: "currency",
        currency: "USD",
        maximumFractionDigits: v >= 1000 ? 0 : v >= 1 ? 2 : 6,
      });

/** A price axis label: as many digits as the axis step needs, no currency sign. */
export function axisPrice(v, step) {
  const digits = step >= 1 ? 0 : Math.min(8, Math.ceil(-Math.log10(step)));
  return v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export const pct = (v, digits = 2) => (v == null ? "–" : `${v > 0 ? "+" : ""}${v.toFixed(digits)} %`);

export const count = (v) => (v == null ? "–" : v.toLocaleString("en-US"));

/** 2024-05-01 12:30 */
export const time = (iso) => (iso ? new Date(iso).toISOString().replace("T", " ").slice(0, 16) : "–");

/** 12:30:05 */
export const clock = (iso) => (iso ? new Date(iso).toISOString().slice(11, 19) : "–");

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** A time axis label for a bucket of the interval: "14:05" (M5), "12 Apr 14h" (H1), "12 Apr" (D1). */
export function bucketLabel(iso, interval) {
  const d = new Date(iso);
  const day = `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}`;
  if (interval === "M5") return d.toISOString().slice(11, 16);
  if (interval === "H1") return `${day} ${String(d.getUTCHours()).padStart(2, "0")}h`;
  return day;
}

/** "3 s ago", "4 min ago", "2 h ago", "5 d ago" */
export function ago(iso, now = Date.now()) {
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

export const SOURCE_NAMES = { COINGECKO: "CoinGecko", COINPAPRIKA: "CoinPaprika", CSV: "CSV" };
