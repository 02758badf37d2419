import type { HivecastWarning, WarningKind } from "./events.js";

/** Shortest gap between two `warning` events of one kind, ms. */
export const WARNING_INTERVAL_MS = 5000;

type Details = HivecastWarning["details"];

/**
 * Lets through at most one warning per kind per {@link WARNING_INTERVAL_MS}, so a flapping
 * tracker or a crowd of failing peers cannot flood the app; the next warning that passes says
 * how many were left out.
 */
export class WarningLimiter {
  private readonly last = new Map<WarningKind, { at: number; suppressed: number }>();

  constructor(
    private readonly now: () => number,
    private readonly emit: (w: HivecastWarning) => void,
    private readonly intervalMs = WARNING_INTERVAL_MS,
  ) {}

  /** Emits the warning unless one of its kind was emitted less than the interval ago. */
  warn(kind: WarningKind, message: string, details: Details = {}): void {
    const t = this.now();
    const prev = this.last.get(kind);
    if (prev && t - prev.at < this.intervalMs) {
      prev.suppressed++;
      return;
    }
    this.last.set(kind, { at: t, suppressed: 0 });
    this.emit({
      kind,
      message,
      details: Object.freeze({ ...details }),
      suppressed: prev?.suppressed ?? 0,
    });
  }
}
