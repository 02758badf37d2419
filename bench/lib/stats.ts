/** Small statistics for benchmark reports: medians, spreads and percentiles of samples. */

/** Median, min and max of a sample, and how many values it had. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

function finiteSorted(values: readonly number[]): number[] {
  return values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
}

/**
 * The p-th percentile (0…100) of the finite values, by linear interpolation between the closest
 * ranks; NaN for an empty sample.
 */
export function percentile(values: readonly number[], p: number): number {
  const v = finiteSorted(values);
  if (v.length === 0) return Number.NaN;
  const rank = (Math.min(100, Math.max(0, p)) / 100) * (v.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = v[lo] ?? Number.NaN;
  const b = v[hi] ?? Number.NaN;
  return a + (b - a) * (rank - lo);
}

/** Median of the finite values; NaN when there are none. */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Median and range of the finite values in `values`. */
export function spread(values: readonly number[]): Spread {
  const v = finiteSorted(values);
  if (v.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 };
  return {
    median: median(v),
    min: v[0] ?? Number.NaN,
    max: v[v.length - 1] ?? Number.NaN,
    n: v.length,
  };
}

/** `a / b`, or NaN when either is not a finite number or `b` is 0. */
export function ratio(a: number, b: number): number {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : Number.NaN;
}

/** Rounds to `digits` decimals (NaN stays NaN). */
export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** A {@link Spread} with every number rounded. */
export function roundSpread(s: Spread, digits = 3): Spread {
  return {
    median: round(s.median, digits),
    min: round(s.min, digits),
    max: round(s.max, digits),
    n: s.n,
  };
}

/** "median (min–max)" for a table cell; "–" when empty. */
export function fmtSpread(s: Spread, digits = 1): string {
  if (s.n === 0) return "–";
  const f = (x: number): string => x.toFixed(digits);
  return s.n === 1 ? f(s.median) : `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
}
