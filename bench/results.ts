// The result table every scenario appends to, and the statistics it is built with.

export interface Row {
  scenario: string;
  metric: string;
  value: number;
  baseline: number | null;
  ratio: number | null;
  target: string | null;
  pass: boolean | null;
}

export const rows: Row[] = [];

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** The p-th percentile (0..100), nearest rank. */
export const percentile = (xs: number[], p: number) => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};

const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

export function row(
  r: Omit<Row, "ratio" | "pass"> & {
    check?: (ratio: number, value: number) => boolean;
    ratio?: number | null;
  },
) {
  const ratio = r.ratio !== undefined ? r.ratio : r.baseline ? r.value / r.baseline : null;
  rows.push({
    scenario: r.scenario,
    metric: r.metric,
    value: round(r.value),
    baseline: r.baseline === null ? null : round(r.baseline),
    ratio: ratio === null ? null : round(ratio, 3),
    target: r.target,
    pass: r.check ? r.check(ratio ?? Number.NaN, r.value) : null,
  });
}

export const log = (s: string) => process.stderr.write(`${s}\n`);
