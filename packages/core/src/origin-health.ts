import { Ewma } from "./ewma.js";
import type { OriginState, OriginStats } from "./types.js";

/** Throughput samples from bodies smaller than this are mostly latency, so they are skipped. */
const MIN_THROUGHPUT_SAMPLE_BYTES = 16 * 1024;

/**
 * Health of one origin: speed estimates and a circuit breaker. Pure state — the OriginPool owns
 * the timers that move an open breaker to half-open.
 */
export class OriginHealth {
  state: OriginState = "healthy";
  /** Failures since the last success; opens the breaker at the threshold. */
  consecutiveFailures = 0;
  /**
   * Responses in a row whose bytes failed verification. An HTTP success does not reset it (the
   * bytes are checked after the transfer); only verified bytes do ({@link recordVerified}).
   */
  corruptStreak = 0;
  /** Times the breaker opened in a row without a successful probe (drives the probe backoff). */
  opens = 0;
  readonly ttfbMs: Ewma;
  /** Bytes per second while the body streams. */
  readonly throughputBps: Ewma;
  bytes = 0;
  requests = 0;
  failures = 0;

  constructor(
    readonly origin: string,
    alpha: number,
    private readonly breakerThreshold: number,
  ) {
    this.ttfbMs = new Ewma(alpha);
    this.throughputBps = new Ewma(alpha);
  }

  /**
   * Records a good response; returns true when that closed the breaker. `ttfbMs` is undefined
   * when the wait was the origin's deliberate hold (a blocking playlist reload), not its speed.
   */
  recordSuccess(ttfbMs: number | undefined, bytes: number, transferMs: number): boolean {
    this.requests++;
    if (ttfbMs !== undefined) this.ttfbMs.add(ttfbMs);
    if (bytes >= MIN_THROUGHPUT_SAMPLE_BYTES)
      this.throughputBps.add((bytes * 1000) / Math.max(transferMs, 1));
    this.consecutiveFailures = 0;
    if (this.state === "healthy") return false;
    this.state = "healthy";
    this.opens = 0;
    // A probe re-admits the origin; its bytes are on trial again from the next response.
    this.corruptStreak = 0;
    return true;
  }

  /**
   * The origin's bytes failed their trusted hash (after an HTTP success). Counts as a failure
   * that the transfer's success did not wipe out: `breakerThreshold` corrupt responses in a
   * row open the breaker. Returns true when that opened it.
   */
  recordCorrupt(): boolean {
    this.failures++;
    this.corruptStreak++;
    this.consecutiveFailures = Math.max(this.consecutiveFailures + 1, this.corruptStreak);
    const open =
      this.state === "half-open" ||
      (this.state === "healthy" && this.consecutiveFailures >= this.breakerThreshold);
    if (!open) return false;
    this.state = "open";
    this.opens++;
    return true;
  }

  /** The origin's bytes passed their trusted hash: it is no longer suspected of corrupting. */
  recordVerified(): void {
    this.corruptStreak = 0;
    this.consecutiveFailures = 0;
  }

  /**
   * Records a failure; returns true when that opened the breaker. `unreachable` (no response at
   * all: refused, reset, DNS) opens it at once — unlike a bad response it is no fluke, and once
   * traffic moves to a healthy origin the dead one would otherwise never reach the threshold
   * and stay "healthy" in stats for ever. The half-open probe re-admits it.
   */
  recordFailure(unreachable = false): boolean {
    this.requests++;
    this.failures++;
    this.consecutiveFailures++;
    // A failed half-open probe reopens at once; a healthy origin needs `threshold` in a row.
    const open =
      this.state === "half-open" ||
      (this.state === "healthy" &&
        (unreachable || this.consecutiveFailures >= this.breakerThreshold));
    if (!open) return false;
    this.state = "open";
    this.opens++;
    return true;
  }

  /** The breaker's backoff elapsed: let one probe through. */
  halfOpen(): void {
    if (this.state === "open") this.state = "half-open";
  }

  /** Expected milliseconds to fetch `bytes` from here, or undefined with no samples yet. */
  expectedMs(bytes: number): number | undefined {
    const ttfb = this.ttfbMs.value;
    const bps = this.throughputBps.value;
    if (ttfb === undefined) return undefined;
    const transfer = bps === undefined ? 0 : (bytes * 1000) / bps;
    return ttfb + transfer;
  }

  /** Snapshot for stats. */
  stats(): OriginStats {
    return {
      bytes: this.bytes,
      requests: this.requests,
      failures: this.failures,
      state: this.state,
      throughputBps: Math.round(this.throughputBps.value ?? 0),
      ttfbMs: Math.round(this.ttfbMs.value ?? 0),
    };
  }
}
