/**
 * The late joiners' start-up as the swarm bench judges it: pooled over warm repetitions and
 * compared like for like with plain hls.js's late joiners.
 */
import { percentile } from "../lib/stats.js";

/** What the comparison reads of one arm's run. */
export interface StartupRun {
  /** Repetition, from 0. */
  rep: number;
  perViewer: ReadonlyArray<{ startupMs: number | null; late: boolean }>;
}

/** Late joiners' pooled start-up p95 against plain hls.js's late joiners'. */
export interface WarmLateComparison {
  /** Late joiners' start-ups pooled (repetitions 2…). */
  lateViewers: number;
  lateStartupP95Ms: number;
  plainLateStartupP95Ms: number;
  /** `lateStartupP95Ms ÷ plainLateStartupP95Ms`. */
  lateVsPlainLate: number;
}

/** The late joiners' start-ups of `runs` from repetition `fromRep` on, pooled. */
export function lateStartups(runs: readonly StartupRun[], fromRep: number): number[] {
  return runs.flatMap((r) =>
    r.rep < fromRep
      ? []
      : r.perViewer.flatMap((v) => (v.late && v.startupMs !== null ? [v.startupMs] : [])),
  );
}

/**
 * An arm's late joiners' start-up p95, pooled over repetitions 2… (the first is a warm-up: the
 * first arm of a run meets a cold machine), ÷ the same of plain hls.js. Null when either has
 * no such start-up (one repetition, or no plain arm).
 */
export function warmLateComparison(
  runs: readonly StartupRun[],
  plainRuns: readonly StartupRun[],
): WarmLateComparison | null {
  const late = lateStartups(runs, 1);
  const plainLate = lateStartups(plainRuns, 1);
  if (late.length === 0 || plainLate.length === 0) return null;
  const lateStartupP95Ms = percentile(late, 95);
  const plainLateStartupP95Ms = percentile(plainLate, 95);
  return {
    lateViewers: late.length,
    lateStartupP95Ms,
    plainLateStartupP95Ms,
    lateVsPlainLate: lateStartupP95Ms / plainLateStartupP95Ms,
  };
}

/** When a page reached each start-up step, ms since navigation; null: not reached. */
export interface StartupPhases {
  manifest: number | null;
  level: number | null;
  fragLoading: number | null;
  fragLoaded: number | null;
  fragBuffered: number | null;
}

/**
 * The first time each start-up step shows in a page's start-up trace (`[what, ms]` pairs as
 * the in-page instrumentation records them: "manifest", "level 0", "loading m5", "loaded m5",
 * "buffered m5"…). Fragment steps count the main (video) track's fragments only.
 */
export function startupPhases(trace: ReadonlyArray<readonly [string, number]>): StartupPhases {
  const first = (test: (what: string) => boolean): number | null =>
    trace.find(([what]) => test(what))?.[1] ?? null;
  return {
    manifest: first((w) => w === "manifest"),
    level: first((w) => w.startsWith("level ")),
    fragLoading: first((w) => /^loading m\d/.test(w)),
    fragLoaded: first((w) => /^loaded m\d/.test(w)),
    fragBuffered: first((w) => /^buffered m\d/.test(w)),
  };
}
