import { childController } from "./abort.js";
import { backoffDelay } from "./backoff.js";
import { type Clock, sleep } from "./clock.js";
import type { Config, Origin, RequestKind } from "./config.js";
import { HivecastError, isHivecastError } from "./errors.js";
import {
  type AttemptRequest,
  type AttemptResult,
  httpAttempt,
  type ResponseInfo,
} from "./http-attempt.js";
import { Ewma } from "./ewma.js";
import { actionFor, httpFailureKind } from "./failure-policy.js";
import { OriginBoard } from "./origin-board.js";
import { OriginChoice } from "./origin-choice.js";
import type { OriginHealth } from "./origin-health.js";
import { type OriginTarget, originTargets, resourceId } from "./origin-url.js";
import { planRanges, type PlannedRange } from "./range-plan.js";
import { prepareRequest } from "./request-setup.js";
import type { ByteRange, OriginState, OriginStats } from "./types.js";

/** One resource wanted from the pool. */
export interface PoolRequest {
  url: string;
  /** Picks the retry policy; only segments are split into ranges. */
  kind: "segment" | "playlist";
  /** What the resource is, for `requestSetup`. @default `kind` */
  resource?: RequestKind;
  range?: ByteRange;
  signal: AbortSignal;
  onProgress?: (loaded: number, total: number | undefined) => void;
  /** Origins not to use at all (e.g. they served bytes that failed verification). */
  exclude?: ReadonlySet<string>;
  /** Origins to use only when nothing else is left. */
  avoid?: ReadonlySet<string>;
  /** Allow splitting into ranges over several origins. @default true */
  split?: boolean;
  /** Read at most this many bytes (a size cap; no truncation error when the body is longer). */
  maxBytes?: number;
  /**
   * Set for a blocking playlist reload (LL-HLS `_HLS_msn`): how long the origin may hold the
   * response before its first byte, instead of `http.firstByteTimeoutMs`. The origin waits on
   * purpose until the playlist has the asked-for part, so the wait says nothing about its
   * health: such a request is not hedged (the second origin would hold it too), its time to
   * first byte is not recorded, a hold that runs out is not held against the origin, and its
   * URL is never used as a breaker probe.
   */
  blockingHoldMs?: number;
  /**
   * The resource may not exist (an optional sidecar such as the integrity manifest): a 403, 404
   * or 410 is an answer, not an origin fault — no strike against the origin, and no other origin
   * is asked.
   */
  optional?: boolean;
  /** Milliseconds until the player needs the bytes, when known (decides whether to split). */
  deadlineMs?: number;
}

/** The bytes one origin contributed to a result, at `[start, end)` of `data`. */
export interface PoolPart {
  origin: string;
  start: number;
  end: number;
}

/** Bytes from the pool, not yet verified. */
export interface PoolResult {
  data: Uint8Array;
  /** Final URL of the request that served the first byte. */
  url: string;
  /** The origin that served the most bytes. */
  origin: string;
  /** Every origin that contributed bytes (several when split). */
  origins: string[];
  /** Each contributing range in order (one when not split): who served which bytes of `data`. */
  parts: PoolPart[];
  startedAt: number;
  firstByteAt: number;
  endedAt: number;
}

/** Dependencies of an {@link OriginPool}. */
export interface OriginPoolDeps {
  config: Config;
  fetch: typeof fetch;
  clock: Clock;
  random: () => number;
  /** A breaker changed state. */
  onStateChange: (origin: string, state: OriginState) => void;
}

/** Sizes remembered per resource (to split a repeat request up front). */
const SIZE_MEMORY = 512;

/** A result of one part (whole resource or one range) with the origin that served it. */
interface PartResult extends AttemptResult {
  origin: string;
}

/** One part of a request: the whole resource, or one range of a split. */
interface Part {
  range?: ByteRange;
  /** Origin the split planned for this range. */
  preferred?: string;
  capFor?: (info: ResponseInfo, origin: string) => number | undefined;
}

/** State shared by every part and attempt of one request. */
interface RequestCtx {
  req: PoolRequest;
  targets: OriginTarget[];
  /** Resource id (no range) for the size memory. */
  id: string;
  signal: AbortSignal;
  loaded: number;
  total: number | undefined;
  /** Attempts started so far (for `requestSetup`'s `attempt`). */
  attempts: number;
}

/**
 * N origins serving the same paths. Picks the best origin per request from EWMA speed and a
 * circuit breaker; retries with backoff; hedges a slow request to a second origin; splits a large
 * segment into byte ranges over several origins and merges them in order. Bytes come back
 * unverified — the Engine checks them.
 */
export class OriginPool {
  /** Hedged requests started (for stats). */
  hedges = 0;
  /** Retries after a failed attempt (for stats). */
  retries = 0;
  private readonly cfg: Config["http"];
  private origins: readonly Origin[];
  private originByUrl: ReadonlyMap<string, Origin>;
  private requestSetup: Config["requestSetup"];
  /** Content steering's preference (origin → rank, 0 best); undefined without steering. */
  private preference: ReadonlyMap<string, number> | undefined;
  /** Every origin's health, breaker and probes (origin-board.ts). */
  private readonly board: OriginBoard;
  private readonly sizes = new Map<string, number>();
  private readonly avgSegmentSize: Ewma;
  private readonly lifetime = new AbortController();
  /** Which origin serves a request (origin-choice.ts). */
  private readonly choice: OriginChoice;

  constructor(private readonly deps: OriginPoolDeps) {
    this.cfg = deps.config.http;
    this.origins = deps.config.origins;
    this.originByUrl = new Map(this.origins.map((o) => [o.url, o]));
    this.requestSetup = deps.config.requestSetup;
    this.avgSegmentSize = new Ewma(this.cfg.ewmaAlpha);
    this.board = new OriginBoard({
      http: this.cfg,
      fetch: deps.fetch,
      clock: deps.clock,
      random: deps.random,
      originOf: (url) => this.originByUrl.get(url),
      requestSetup: () => this.requestSetup,
      onStateChange: deps.onStateChange,
      lifetime: this.lifetime.signal,
    });
    this.choice = new OriginChoice({
      http: this.cfg,
      clock: deps.clock,
      board: this.board,
      originOf: (url) => this.originByUrl.get(url),
      preference: () => this.preference,
      avgSegmentSize: () => this.avgSegmentSize.value,
    });
    for (const o of this.origins) this.healthOf(o.url);
  }

  /**
   * Runtime change of the origin list and `requestSetup` (`updateConfig`): requests started
   * from now on use them; an origin that stays keeps its health and estimates.
   */
  reconfigure(config: Pick<Config, "origins" | "requestSetup">): void {
    this.origins = config.origins;
    this.originByUrl = new Map(this.origins.map((o) => [o.url, o]));
    this.requestSetup = config.requestSetup;
    for (const o of this.origins) this.healthOf(o.url);
  }

  /** Fetches `req` with failover, hedging and (for large segments) split ranges. */
  async fetch(req: PoolRequest): Promise<PoolResult> {
    const { controller, release } = childController(req.signal, this.lifetime.signal);
    const id = resourceId(req.url, undefined, this.origins);
    const ctx: RequestCtx = {
      req,
      targets: originTargets(req.url, this.origins),
      id,
      signal: controller.signal,
      loaded: 0,
      total: req.range ? req.range.end - req.range.start : this.sizes.get(id),
      attempts: 0,
    };
    try {
      const known =
        req.range ?? (ctx.total === undefined ? undefined : { start: 0, end: ctx.total });
      const plan =
        known && this.canSplit(ctx, known.end - known.start) ? this.plan(ctx, known) : [];
      if (known && plan.length > 1) return await this.fetchSplit(ctx, known, plan);
      return await this.fetchWhole(ctx);
    } finally {
      // Whatever is still running (other ranges after one failed for good) stops here.
      controller.abort();
      release();
    }
  }

  /** Expected ms for the best origin to serve `url`, or undefined with no estimate yet. */
  expectedMs(url: string, range?: ByteRange): number | undefined {
    const targets = originTargets(url, this.origins);
    const bytes = range
      ? range.end - range.start
      : (this.sizes.get(resourceId(url, undefined, this.origins)) ??
        this.avgSegmentSize.value ??
        0);
    const times = targets
      .filter((t) => this.healthOf(t.origin).state === "healthy")
      .map((t) => this.healthOf(t.origin).expectedMs(bytes))
      .filter((v): v is number => v !== undefined);
    return times.length > 0 ? Math.min(...times) : undefined;
  }

  /**
   * Content steering's order (origin base URLs, most preferred first): it ranks origins ahead
   * of the speed estimate; health, per-request failover and hedging still apply, and origins
   * it does not list come last. `undefined` drops it.
   */
  setPreference(order: readonly string[] | undefined): void {
    this.preference = order && new Map(order.map((o, i) => [o, i]));
  }

  /** Size of a resource learned from an earlier response, when known. */
  sizeOf(url: string): number | undefined {
    return this.sizes.get(resourceId(url, undefined, this.origins));
  }

  /** Number of origins `url` can be fetched from. */
  originCount(url: string): number {
    return originTargets(url, this.origins).length;
  }

  /**
   * The origin served bytes that failed verification (proven, not merely suspected): it ranks
   * last until it serves verified bytes again, and `breakerThreshold` such responses in a row
   * open its breaker, though each transfer itself succeeded.
   */
  penalise(origin: string): void {
    this.board.corrupt(origin);
  }

  /** These origins' bytes passed verification: they are no longer suspected of corrupting. */
  confirm(origins: Iterable<string>): void {
    this.board.verified(origins);
  }

  /** Per-origin counters. */
  stats(): Record<string, OriginStats> {
    return this.board.stats();
  }

  /** Aborts every request and probe and clears every timer. */
  destroy(): void {
    this.lifetime.abort(
      new HivecastError("DESTROYED", "The origin pool was destroyed", { fatal: true }),
    );
    this.board.destroy();
  }

  // ---- split and merge -------------------------------------------------------------------

  /**
   * Whether to split `size` bytes over several origins. With the player's deadline and a
   * measured throughput, only when it buys time: the best single origin is expected to take
   * longer than `splitDeadlineShare` × the deadline. Otherwise (no deadline, nothing measured
   * yet) by size: at least `splitThresholdBytes`. Never under 2 × `minRangeBytes`, never with
   * fewer than two healthy origins.
   */
  private canSplit(ctx: RequestCtx, size: number): boolean {
    const { req } = ctx;
    if (
      req.kind !== "segment" ||
      req.split === false ||
      req.maxBytes !== undefined ||
      this.cfg.splitThresholdBytes <= 0 ||
      size < 2 * this.cfg.minRangeBytes
    )
      return false;
    const candidates = this.splitCandidates(ctx);
    if (candidates.length < 2) return false;
    const best = candidates
      .filter((t) => this.healthOf(t.origin).throughputBps.value !== undefined)
      .map((t) => this.healthOf(t.origin).expectedMs(size))
      .filter((v): v is number => v !== undefined);
    const deadline = req.deadlineMs;
    if (deadline !== undefined && this.cfg.splitDeadlineShare > 0 && best.length > 0)
      return Math.min(...best) > this.cfg.splitDeadlineShare * deadline;
    return size >= this.cfg.splitThresholdBytes;
  }

  /** Healthy origins usable for this request, best first. */
  private splitCandidates(ctx: RequestCtx): OriginTarget[] {
    return this.choice
      .rank(ctx, new Set(ctx.req.exclude), new Map())
      .filter((t) => this.healthOf(t.origin).state === "healthy" && !ctx.req.avoid?.has(t.origin));
  }

  /** Ranges sized by throughput; `first` (the origin already streaming from byte 0) leads. */
  private plan(ctx: RequestCtx, range: ByteRange, first?: string): PlannedRange[] {
    const candidates = this.splitCandidates(ctx);
    if (first !== undefined)
      candidates.sort((a, b) => Number(b.origin === first) - Number(a.origin === first));
    const known = candidates
      .map((t) => this.healthOf(t.origin).throughputBps.value)
      .filter((v): v is number => v !== undefined);
    // Origins not measured yet get the average of the measured ones (all equal when none is).
    const fallback = known.length > 0 ? known.reduce((a, b) => a + b, 0) / known.length : 1;
    const weights = candidates.map((t) => ({
      origin: t.origin,
      bps: this.healthOf(t.origin).throughputBps.value ?? fallback,
    }));
    return planRanges(range, weights, this.cfg.minRangeBytes);
  }

  private async fetchSplit(
    ctx: RequestCtx,
    range: ByteRange,
    plan: PlannedRange[],
  ): Promise<PoolResult> {
    const parts = await Promise.all(
      plan.map((p) => this.fetchPart(ctx, { range: p, preferred: p.origin })),
    );
    return this.merge(range, parts);
  }

  /**
   * Size unknown: a plain GET. If its headers reveal a large segment, that GET is cut down to the
   * first range (it is already streaming from byte 0) and the other ranges start on other
   * origins at once.
   */
  private async fetchWhole(ctx: RequestCtx): Promise<PoolResult> {
    const { req } = ctx;
    let firstEnd: number | undefined;
    let whole: ByteRange | undefined;
    let rest: Promise<PartResult[]> | undefined;
    const capFor = (info: ResponseInfo, origin: string): number | undefined => {
      if (req.maxBytes !== undefined) return req.maxBytes;
      if (!req.range && info.total !== undefined) ctx.total = info.total;
      // A retry or hedge of the first range must stop where the first answer was cut.
      if (firstEnd !== undefined) return firstEnd;
      if (req.range || info.total === undefined || !this.canSplit(ctx, info.total))
        return undefined;
      const plan = this.plan(ctx, { start: 0, end: info.total }, origin);
      const head = plan[0];
      if (plan.length < 2 || !head) return undefined;
      firstEnd = head.end;
      whole = { start: 0, end: info.total };
      rest = Promise.all(
        plan.slice(1).map((p) => this.fetchPart(ctx, { range: p, preferred: p.origin })),
      );
      rest.catch(() => undefined); // observed below; this only keeps an early failure from going unhandled
      return firstEnd;
    };
    const first = await this.fetchPart(ctx, { range: req.range, capFor });
    if (!rest || !whole)
      return this.merge(req.range ?? { start: 0, end: first.data.length }, [first]);
    const others = await rest;
    return this.merge(whole, [first, ...others]);
  }

  /** Joins parts (in range order) into one buffer. */
  private merge(range: ByteRange, parts: PartResult[]): PoolResult {
    const size = parts.reduce((s, p) => s + p.data.length, 0);
    const data = parts.length === 1 && parts[0] ? parts[0].data : new Uint8Array(size);
    const byOrigin = new Map<string, number>();
    const placed: PoolPart[] = [];
    let at = 0;
    for (const p of parts) {
      if (parts.length > 1) data.set(p.data, at);
      placed.push({ origin: p.origin, start: at, end: at + p.data.length });
      at += p.data.length;
      byOrigin.set(p.origin, (byOrigin.get(p.origin) ?? 0) + p.data.length);
    }
    const head = parts[0];
    if (!head || (parts.length > 1 && size !== range.end - range.start))
      throw new HivecastError("HTTP_TRUNCATED", "Split ranges did not add up to the resource", {
        fatal: true,
      });
    const top = [...byOrigin.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? head.origin;
    return {
      data,
      url: head.url,
      origin: top,
      origins: [...byOrigin.keys()],
      parts: placed,
      startedAt: Math.min(...parts.map((p) => p.startedAt)),
      firstByteAt: head.firstByteAt,
      endedAt: Math.max(...parts.map((p) => p.endedAt)),
    };
  }

  // ---- failover, retry and hedging of one part -------------------------------------------

  /**
   * Fetches one part with failover: a different origin is tried at once; an origin that already
   * failed this part is retried only after a backoff; 4xx origins are dropped for this part.
   */
  private async fetchPart(ctx: RequestCtx, part: Part): Promise<PartResult> {
    const retry = ctx.req.kind === "playlist" ? this.cfg.playlistRetry : this.cfg.segmentRetry;
    const gone = new Set<string>(ctx.req.exclude);
    const failedHere = new Map<string, number>();
    const outcomes = new Map<string, string>();
    let last: HivecastError | undefined;
    for (let attempt = 0; attempt <= retry.maxNumRetry; attempt++) {
      const ranked = this.choice.rank(ctx, gone, failedHere, part.preferred);
      const target =
        attempt === 0 && part.preferred === undefined ? this.choice.spread(ctx, ranked) : ranked[0];
      if (!target) break;
      const failures = failedHere.get(target.origin) ?? 0;
      if (failures > 0)
        await sleep(
          this.deps.clock,
          backoffDelay(retry, failures - 1, this.deps.random),
          ctx.signal,
        );
      if (attempt > 0) this.retries++;
      try {
        return await this.hedged(ctx, part, target, gone, failedHere, outcomes);
      } catch (e) {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        last = isHivecastError(e) ? e : new HivecastError("HTTP_NETWORK", String(e), { cause: e });
        if (actionFor(httpFailureKind(last, { optional: ctx.req.optional })).load === "absent")
          throw last;
      }
    }
    throw this.finalError(ctx, last, outcomes);
  }

  /**
   * Runs `primary`; if it is slower than expected, starts the same part on a second origin. The
   * first to finish wins and the other is aborted. Rejects when every started attempt failed.
   */
  private hedged(
    ctx: RequestCtx,
    part: Part,
    primary: OriginTarget,
    gone: Set<string>,
    failedHere: Map<string, number>,
    outcomes: Map<string, string>,
  ): Promise<PartResult> {
    return new Promise<PartResult>((resolve, reject) => {
      const running = new Map<string, AbortController>();
      let settled = false;
      let hedgeTimer: unknown;
      const finish = (): void => {
        settled = true;
        if (hedgeTimer !== undefined) this.deps.clock.clearTimeout(hedgeTimer);
        for (const c of running.values()) c.abort(); // the loser
        running.clear();
      };
      const start = (target: OriginTarget): void => {
        const { controller, release } = childController(ctx.signal);
        running.set(target.origin, controller);
        this.attemptOn(ctx, part, target, controller.signal).then(
          (result) => {
            release();
            running.delete(target.origin);
            if (settled) return;
            // The primary lost to its hedge: too slow to be given turns for a while.
            if (target.origin !== primary.origin) this.board.lostHedge(primary.origin);
            finish();
            resolve(result);
          },
          (e: unknown) => {
            release();
            running.delete(target.origin);
            if (settled) return;
            if (ctx.signal.aborted) {
              finish();
              reject(ctx.signal.reason);
              return;
            }
            this.noteOutcome(target.origin, e, gone, failedHere, outcomes);
            if (running.size === 0) {
              finish();
              reject(e);
            }
          },
        );
      };
      start(primary);
      if (ctx.targets.length < 2) return; // nowhere to hedge to
      if (ctx.req.blockingHoldMs !== undefined) return; // held on purpose: not slow
      hedgeTimer = this.deps.clock.setTimeout(
        () => {
          hedgeTimer = undefined;
          if (settled) return;
          const second = this.choice
            .rank(ctx, new Set([...gone, ...running.keys()]), failedHere)
            .find((t) => this.healthOf(t.origin).state === "healthy" && !failedHere.has(t.origin));
          if (!second) return;
          this.hedges++;
          start(second);
        },
        this.choice.hedgeDelay(ctx, part, primary.origin),
      );
    });
  }

  /** Classifies a failed attempt: 4xx drops the origin for this part; the rest may retry. */
  private noteOutcome(
    origin: string,
    e: unknown,
    gone: Set<string>,
    failedHere: Map<string, number>,
    outcomes: Map<string, string>,
  ): void {
    const status = isHivecastError(e) ? e.details["status"] : undefined;
    if (actionFor(httpFailureKind(e)).load === "skip-source") gone.add(origin);
    else failedHere.set(origin, (failedHere.get(origin) ?? 0) + 1);
    outcomes.set(
      origin,
      isHivecastError(e)
        ? typeof status === "number" && e.code === "HTTP_STATUS"
          ? `HTTP ${status}`
          : e.code
        : "error",
    );
  }

  /** The fatal error after every origin / retry was used up. */
  private finalError(
    ctx: RequestCtx,
    last: HivecastError | undefined,
    outcomes: Map<string, string>,
  ): HivecastError {
    const summary = [...outcomes.entries()].map(([o, r]) => `${o}: ${r}`).join(", ");
    const lastOrigin = [...outcomes.keys()].pop();
    const details = { ...(last?.details ?? {}), url: ctx.req.url, origin: lastOrigin };
    if (ctx.targets.length === 1 && last)
      return new HivecastError(last.code, `${last.message} (gave up after retries)`, {
        fatal: true,
        cause: last,
        details,
      });
    return new HivecastError(
      "ALL_ORIGINS_FAILED",
      `Every origin failed for ${ctx.id}${summary ? `: ${summary}` : " (none left to try)"}`,
      { fatal: true, cause: last, details },
    );
  }

  // ---- one attempt and the health it feeds ------------------------------------------------

  private async attemptOn(
    ctx: RequestCtx,
    part: Part,
    target: OriginTarget,
    signal: AbortSignal,
  ): Promise<PartResult> {
    const h = this.healthOf(target.origin);
    const capFor = part.capFor;
    const hold = ctx.req.blockingHoldMs;
    const attempt = ctx.attempts++;
    const run = async (refresh: boolean): Promise<AttemptResult> => {
      const prepared = await prepareRequest(
        this.originByUrl.get(target.origin),
        this.requestSetup,
        {
          url: target.url,
          resourceUrl: ctx.req.url,
          origin: target.origin,
          kind: ctx.req.resource ?? ctx.req.kind,
          range: part.range,
          attempt,
          refresh,
        },
      );
      if (signal.aborted) throw signal.reason;
      const request: AttemptRequest = {
        url: prepared.url,
        init: prepared.init,
        range: part.range,
        signal,
        firstByteTimeoutMs: hold ?? this.cfg.firstByteTimeoutMs,
        stallTimeoutMs: this.cfg.stallTimeoutMs,
        // A held response still gets the whole request budget once it is released.
        requestTimeoutMs: (hold ?? 0) + this.cfg.requestTimeoutMs,
        capFor: capFor && ((info) => capFor(info, target.origin)),
        onBytes: (n) => {
          h.bytes += n;
          this.progress(ctx, n);
        },
      };
      return httpAttempt(this.deps.fetch, this.deps.clock, request);
    };
    try {
      let result: AttemptResult;
      try {
        result = await run(false);
      } catch (e) {
        // 401/403 with a hook: the token may have expired; one fresh signature before blame.
        const signed = this.requestSetup !== undefined;
        if (
          signal.aborted ||
          actionFor(httpFailureKind(e, { signed })).load !== "fresh-credentials"
        )
          throw e;
        result = await run(true);
      }
      this.board.success(target.origin, result, hold === undefined);
      this.rememberSize(ctx, result);
      if (hold === undefined) this.board.servedWell(ctx.targets);
      return { ...result, origin: target.origin };
    } catch (e) {
      // What the failure says about the origin's health is the policy's call (an abort, a held
      // reload that ran out, a failing hook or a missing optional resource say nothing).
      const verdict = actionFor(
        httpFailureKind(e, {
          aborted: signal.aborted,
          held: hold !== undefined,
          optional: ctx.req.optional === true,
        }),
      ).origin;
      if (verdict === "failure" || verdict === "down")
        this.board.failure(target.origin, verdict === "down");
      throw e;
    }
  }

  private progress(ctx: RequestCtx, n: number): void {
    ctx.loaded += n;
    const total = ctx.total;
    // Retried bytes are counted again; clamp so progress never claims more than the total.
    ctx.req.onProgress?.(total === undefined ? ctx.loaded : Math.min(ctx.loaded, total), total);
  }

  private rememberSize(ctx: RequestCtx, r: AttemptResult): void {
    if (r.total === undefined || ctx.req.kind !== "segment" || ctx.req.range) return;
    if (!this.sizes.has(ctx.id)) this.avgSegmentSize.add(r.total);
    this.sizes.delete(ctx.id);
    this.sizes.set(ctx.id, r.total);
    if (this.sizes.size > SIZE_MEMORY) this.sizes.delete(this.sizes.keys().next().value ?? "");
  }

  private healthOf(origin: string): OriginHealth {
    return this.board.of(origin);
  }
}
