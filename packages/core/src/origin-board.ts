/**
 * The origins' health, in one place: each origin's {@link OriginHealth} (speed estimates and
 * circuit breaker), when it last failed or lost a hedge race, and the probes that move an open
 * breaker to half-open and back. The {@link OriginPool} reads it to choose origins and feeds it
 * every attempt's outcome.
 */
import { backoffDelay } from "./backoff.js";
import type { Clock } from "./clock.js";
import type { Config, Origin } from "./config.js";
import { type AttemptResult, httpAttempt } from "./http-attempt.js";
import { OriginHealth } from "./origin-health.js";
import { prepareRequest } from "./request-setup.js";
import type { OriginState, OriginStats } from "./types.js";

/** Spread of the breaker's probe delay, so viewers do not all probe a recovering origin at once. */
const BREAKER_JITTER = 0.25;

/** What the board takes from the pool. */
export interface OriginBoardDeps {
  http: Config["http"];
  fetch: typeof fetch;
  clock: Clock;
  random: () => number;
  /** The configured origin of a base URL, and the request hook (both may change at runtime). */
  originOf: (url: string) => Origin | undefined;
  requestSetup: () => Config["requestSetup"];
  onStateChange: (origin: string, state: OriginState) => void;
  /** Aborted when the pool is destroyed. */
  lifetime: AbortSignal;
}

/** Health, breaker and probes of every origin. */
export class OriginBoard {
  private readonly health = new Map<string, OriginHealth>();
  private readonly probeTimers = new Map<string, unknown>();
  /** Last URL each origin served well: what a half-open probe asks for. */
  private readonly probeUrls = new Map<string, string>();
  /** When each origin last failed or served bad bytes (keeps it out of the rotation a while). */
  private readonly lastFailureAt = new Map<string, number>();
  /** When each origin last lost a hedge race (it was slower than the hedge threshold). */
  private readonly lostHedgeAt = new Map<string, number>();

  constructor(private readonly deps: OriginBoardDeps) {}

  /** The health of `origin` (created on first use). */
  of(origin: string): OriginHealth {
    let h = this.health.get(origin);
    if (!h) {
      h = new OriginHealth(origin, this.deps.http.ewmaAlpha, this.deps.http.breakerThreshold);
      this.health.set(origin, h);
    }
    return h;
  }

  /**
   * Whether `origin` sits out of the load-spreading rotation: within `breakerMaxMs` of its last
   * failure or bad bytes (while it has not succeeded since), or of losing a hedge race.
   */
  cooling(origin: string, now: number): boolean {
    const h = this.of(origin);
    const failedAt = this.lastFailureAt.get(origin);
    const lostAt = this.lostHedgeAt.get(origin);
    const max = this.deps.http.breakerMaxMs;
    return (
      ((h.consecutiveFailures > 0 || h.corruptStreak > 0) &&
        failedAt !== undefined &&
        now - failedAt < max) ||
      (lostAt !== undefined && now - lostAt < max)
    );
  }

  /** `origin` was beaten by its hedge. */
  lostHedge(origin: string): void {
    this.lostHedgeAt.set(origin, this.deps.clock.now());
  }

  /** A resource was served well: each origin's URL of it is what a later probe may ask for. */
  servedWell(targets: Iterable<{ origin: string; url: string }>): void {
    for (const t of targets) this.probeUrls.set(t.origin, t.url);
  }

  /** A successful attempt. `timed`: whether its time to first byte measures the origin. */
  success(origin: string, r: AttemptResult, timed = true): void {
    const h = this.of(origin);
    const ttfb = timed ? r.firstByteAt - r.startedAt : undefined;
    if (!h.recordSuccess(ttfb, r.data.length, r.endedAt - r.firstByteAt)) return;
    const timer = this.probeTimers.get(h.origin);
    if (timer !== undefined) this.deps.clock.clearTimeout(timer);
    this.probeTimers.delete(h.origin);
    this.deps.onStateChange(h.origin, h.state);
  }

  /** A failed attempt; `unreachable`: no answer at all (weighs more). */
  failure(origin: string, unreachable = false): void {
    const h = this.of(origin);
    this.lastFailureAt.set(h.origin, this.deps.clock.now());
    if (this.deps.lifetime.aborted || !h.recordFailure(unreachable)) return;
    this.deps.onStateChange(h.origin, h.state);
    this.scheduleProbe(h);
  }

  /** Proven bad bytes from `origin` (see {@link OriginPool.penalise}). */
  corrupt(origin: string): void {
    const h = this.of(origin);
    this.lastFailureAt.set(origin, this.deps.clock.now());
    if (this.deps.lifetime.aborted || !h.recordCorrupt()) return;
    this.deps.onStateChange(h.origin, h.state);
    this.scheduleProbe(h);
  }

  /** These origins' bytes passed verification. */
  verified(origins: Iterable<string>): void {
    for (const o of origins) this.health.get(o)?.recordVerified();
  }

  /** Per-origin counters. */
  stats(): Record<string, OriginStats> {
    const out: Record<string, OriginStats> = {};
    for (const [origin, h] of this.health) out[origin] = h.stats();
    return out;
  }

  /** Clears every probe timer. */
  destroy(): void {
    for (const t of this.probeTimers.values()) this.deps.clock.clearTimeout(t);
    this.probeTimers.clear();
  }

  /** After a jittered exponential backoff the breaker goes half-open and one probe is sent. */
  private scheduleProbe(h: OriginHealth): void {
    const old = this.probeTimers.get(h.origin);
    if (old !== undefined) this.deps.clock.clearTimeout(old);
    const delay = backoffDelay(
      {
        retryDelayMs: this.deps.http.breakerBaseMs,
        maxRetryDelayMs: this.deps.http.breakerMaxMs,
        backoff: "exponential",
        jitter: BREAKER_JITTER,
      },
      h.opens - 1,
      this.deps.random,
    );
    const timer = this.deps.clock.setTimeout(() => {
      this.probeTimers.delete(h.origin);
      if (this.deps.lifetime.aborted || h.state !== "open") return;
      h.halfOpen();
      this.deps.onStateChange(h.origin, h.state);
      void this.probe(h);
    }, delay);
    this.probeTimers.set(h.origin, timer);
  }

  /**
   * Asks the origin for the first byte of the last resource it (or a sibling origin) served.
   * Without such a URL yet, the next real request routed to it is the probe.
   */
  private async probe(h: OriginHealth): Promise<void> {
    const url = this.probeUrls.get(h.origin);
    if (url === undefined) return;
    const http = this.deps.http;
    try {
      const prepared = await prepareRequest(
        this.deps.originOf(h.origin),
        this.deps.requestSetup(),
        {
          url,
          resourceUrl: url,
          origin: h.origin,
          kind: "segment",
          range: undefined,
          attempt: 0,
          refresh: false,
        },
      );
      const r = await httpAttempt(this.deps.fetch, this.deps.clock, {
        url: prepared.url,
        init: prepared.init,
        signal: this.deps.lifetime,
        firstByteTimeoutMs: http.firstByteTimeoutMs,
        stallTimeoutMs: http.stallTimeoutMs,
        requestTimeoutMs: http.requestTimeoutMs,
        capFor: () => 1,
      });
      if (h.state === "half-open") this.success(h.origin, r);
    } catch {
      if (h.state === "half-open") this.failure(h.origin);
    }
  }
}
