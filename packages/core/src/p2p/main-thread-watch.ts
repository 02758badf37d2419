/**
 * Tells when the page's main thread is starved: a timer set every {@link WATCH_PERIOD_MS} that
 * keeps firing late — more than `lagMs` late in {@link WATCH_LATE} of the last
 * {@link WATCH_WINDOW} runs — means the page cannot keep up with its own work, and the player is
 * the next to fall behind. Such a page puts off work it can do without (setting up peer links)
 * until it keeps up again.
 *
 * Runs are counted only while the page is visible: browsers slow down hidden pages' timers on
 * purpose. Hiding the page forgets the runs before, and the first run after it shows again is
 * not counted. One very late run (a suspended laptop, a debugger) is one late run of
 * {@link WATCH_LATE} needed.
 */
import type { Clock } from "../clock.js";

/** The watch's timer period, ms. */
export const WATCH_PERIOD_MS = 250;
/** Timer runs looked at. */
export const WATCH_WINDOW = 8;
/** Late runs among the last {@link WATCH_WINDOW} that mean "starved". */
export const WATCH_LATE = 3;

/** A running watch; see {@link watchMainThread}. */
export interface MainThreadWatch {
  /** Whether {@link WATCH_LATE} of the runs in the window were late. */
  starved(): boolean;
  /** Stops the timer. */
  stop(): void;
}

/**
 * Starts watching the main thread. `onSample` is called after every timer run with whether the
 * thread is starved then.
 */
export function watchMainThread(
  clock: Clock,
  lagMs: number,
  isVisible: () => boolean,
  onSample: (starved: boolean) => void,
): MainThreadWatch {
  /** Lags of the last visible runs, oldest first. */
  const lags: number[] = [];
  let wasVisible = isVisible();
  let due = 0;
  let timer: unknown;
  const starved = (): boolean => lags.filter((l) => l > lagMs).length >= WATCH_LATE;
  const arm = (): void => {
    due = clock.now() + WATCH_PERIOD_MS;
    timer = clock.setTimeout(sample, WATCH_PERIOD_MS);
  };
  function sample(): void {
    const visible = isVisible();
    if (!visible) lags.length = 0;
    else if (wasVisible && lags.push(clock.now() - due) > WATCH_WINDOW) lags.shift();
    wasVisible = visible;
    arm();
    onSample(starved());
  }
  arm();
  return { starved, stop: () => clock.clearTimeout(timer) };
}
