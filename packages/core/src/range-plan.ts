import type { ByteRange } from "./types.js";

/** One slice of a split request and the origin meant to serve it. */
export interface PlannedRange extends ByteRange {
  origin: string;
}

/**
 * Splits `[start, end)` into contiguous ranges, one per origin, sized in proportion to each
 * origin's throughput (`bps`, best first), none smaller than `minRangeBytes`. The slowest origins
 * are dropped until every share reaches the minimum, so fewer than `origins.length` ranges (or a
 * single one, meaning "do not split") may come back.
 */
export function planRanges(
  range: ByteRange,
  origins: ReadonlyArray<{ origin: string; bps: number }>,
  minRangeBytes: number,
): PlannedRange[] {
  const size = range.end - range.start;
  const pool = origins
    .filter((o) => o.bps > 0)
    .slice(0, Math.max(1, Math.floor(size / minRangeBytes)));
  const shares = (): number[] => {
    const sum = pool.reduce((s, o) => s + o.bps, 0);
    return pool.map((o) => Math.floor((size * o.bps) / sum));
  };
  // Drop the weakest while any share is under the minimum (pool is sorted best first).
  while (pool.length > 1 && shares().some((s) => s < minRangeBytes)) {
    let weakest = 0;
    pool.forEach((o, i) => {
      if (o.bps <= (pool[weakest]?.bps ?? Infinity)) weakest = i;
    });
    pool.splice(weakest, 1);
  }
  const sizes = shares();
  const out: PlannedRange[] = [];
  let at = range.start;
  pool.forEach((o, i) => {
    // The last range takes the rounding remainder so the ranges tile the whole exactly.
    const end = i === pool.length - 1 ? range.end : at + (sizes[i] ?? 0);
    out.push({ origin: o.origin, start: at, end });
    at = end;
  });
  return out.length > 0
    ? out
    : [{ origin: origins[0]?.origin ?? "", start: range.start, end: range.end }];
}
