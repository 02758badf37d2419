/**
 * Which origin serves a request: the ranking (health, the split's plan, steering, speed), the
 * load-spreading rotation under `http.originPolicy`, and when to hedge. Reads the origins'
 * health from the {@link OriginBoard}; keeps only the rotation's credit.
 */
import type { Clock } from "./clock.js";
import type { Config, Origin, RequestKind } from "./config.js";
import type { OriginBoard } from "./origin-board.js";
import type { OriginTarget } from "./origin-url.js";
import type { ByteRange, OriginState } from "./types.js";

/** What the choice needs to know of a request. */
export interface ChoiceCtx {
  req: { kind: RequestKind; avoid?: ReadonlySet<string> | undefined };
  targets: OriginTarget[];
  /** Size of the resource when known. */
  total: number | undefined;
}

/** What the choice takes from the pool. */
export interface OriginChoiceDeps {
  http: Config["http"];
  clock: Clock;
  board: OriginBoard;
  originOf: (url: string) => Origin | undefined;
  /** Content steering's order (origin → rank, 0 best), if any. */
  preference: () => ReadonlyMap<string, number> | undefined;
  /** Average segment size seen so far, bytes. */
  avgSegmentSize: () => number | undefined;
}

/** The origin choice of an {@link OriginPool}. */
export class OriginChoice {
  /** Smooth weighted round-robin credit per origin (the `weighted` / `round-robin` policies). */
  private readonly credit = new Map<string, number>();

  constructor(private readonly deps: OriginChoiceDeps) {}

  /**
   * The first origin for a fresh part under `http.originPolicy`. `"fastest"` takes the best
   * ranked; the others choose by smooth weighted round-robin among the healthy origins not
   * avoided, not failed (or caught serving bad bytes, or beaten by its hedge) within the last
   * `breakerMaxMs`, and not expected to be slower than the hedge threshold (hedgeFactor × the best expected time, at
   * least minHedgeDelayMs): a failing or much slower origin gets no share. Playlists always
   * take the best, and so does every request while content steering orders the origins (the
   * steering server's priority is the operator's traffic policy).
   */
  spread(ctx: ChoiceCtx, ranked: OriginTarget[]): OriginTarget | undefined {
    const first = ranked[0];
    const policy = this.deps.http.originPolicy;
    if (
      !first ||
      policy === "fastest" ||
      this.deps.preference() !== undefined ||
      ctx.req.kind !== "segment" ||
      ranked.length < 2
    )
      return first;
    const now = this.deps.clock.now();
    const bytes = this.expectedBytes(ctx);
    const times = ranked
      .map((t) => this.deps.board.of(t.origin).expectedMs(bytes))
      .filter((v): v is number => v !== undefined);
    // An origin slower than the hedge threshold would be hedged on every turn: no share.
    const tooSlow = times.length > 0 ? this.deps.http.hedgeFactor * Math.min(...times) : Infinity;
    const eligible = (t: OriginTarget): boolean => {
      const h = this.deps.board.of(t.origin);
      const expected = h.expectedMs(bytes);
      if (expected !== undefined && expected > Math.max(tooSlow, this.deps.http.minHedgeDelayMs))
        return false;
      // Since its last failure, bad bytes or lost hedge, an origin sits out for breakerMaxMs;
      // then it gets its turn again (and another failure brings its breaker closer to opening).
      return (
        h.state === "healthy" &&
        !this.deps.board.cooling(t.origin, now) &&
        !ctx.req.avoid?.has(t.origin)
      );
    };
    const pool = ranked
      .filter(eligible)
      .map((t) => ({ t, w: policy === "round-robin" ? 1 : this.weightOf(t.origin) }))
      .filter((c) => c.w > 0);
    if (pool.length < 2) return first;
    const total = pool.reduce((s, c) => s + c.w, 0);
    let best: { t: OriginTarget; score: number } | undefined;
    for (const c of pool) {
      const score = (this.credit.get(c.t.origin) ?? 0) + c.w;
      this.credit.set(c.t.origin, score);
      if (!best || score > best.score) best = { t: c.t, score };
    }
    if (!best) return first;
    this.credit.set(best.t.origin, best.score - total);
    return best.t;
  }

  private weightOf(origin: string): number {
    // The configured origin's `weight` (validated, ≥ 0; 0 = failover only); outside the config: 1.
    return this.deps.originOf(origin)?.weight ?? 1;
  }

  /**
   * Origins for a part, best first: untried before retried, healthy before half-open before
   * open, the split's planned origin first, `avoid`ed last, one whose last bytes failed
   * verification after the rest, then by expected time, then config order. Failures below the breaker threshold do not demote an origin: the breaker decides
   * exclusion, the speed estimate decides preference.
   */
  rank(
    ctx: ChoiceCtx,
    gone: ReadonlySet<string>,
    failedHere: ReadonlyMap<string, number>,
    preferred?: string,
  ): OriginTarget[] {
    const bytes = this.expectedBytes(ctx);
    const stateRank: Record<OriginState, number> = { healthy: 0, "half-open": 1, open: 2 };
    // An unmeasured origin ranks behind measured origins faster than it is assumed to be and
    // ahead of slower ones, so a slow first contact (say, the one that served the playlist)
    // does not keep the others from being tried.
    const unknownMs = this.unmeasuredMs();
    const preference = this.deps.preference();
    const key = (t: OriginTarget, i: number): number[] => {
      const h = this.deps.board.of(t.origin);
      return [
        failedHere.get(t.origin) ?? 0,
        stateRank[h.state],
        t.origin === preferred ? 0 : 1,
        ctx.req.avoid?.has(t.origin) ? 1 : 0,
        h.corruptStreak > 0 ? 1 : 0,
        preference ? (preference.get(t.origin) ?? preference.size) : 0,
        h.expectedMs(bytes) ?? unknownMs,
        i,
      ];
    };
    return ctx.targets
      .map((t, i) => ({ t, k: key(t, i) }))
      .filter(({ t }) => !gone.has(t.origin))
      .sort((a, b) => {
        for (let j = 0; j < a.k.length; j++) {
          const d = (a.k[j] ?? 0) - (b.k[j] ?? 0);
          if (d !== 0) return d;
        }
        return 0;
      })
      .map(({ t }) => t);
  }

  expectedBytes(ctx: ChoiceCtx, part?: { range?: ByteRange | undefined }): number {
    if (part?.range) return part.range.end - part.range.start;
    return ctx.total ?? this.deps.avgSegmentSize() ?? 0;
  }

  /**
   * For ranking, what an unmeasured origin is assumed to take for any request:
   * minHedgeDelayMs / hedgeFactor (400 ms by default). Optimistic on purpose, so every origin
   * gets measured early; hedging assumes more ({@link hedgeDelay}).
   */
  private unmeasuredMs(): number {
    return this.deps.http.minHedgeDelayMs / this.deps.http.hedgeFactor;
  }

  /**
   * When to hedge: hedgeFactor × the time the best healthy origin is expected to take (an
   * unmeasured one is assumed to manage it in minHedgeDelayMs: a large transfer, e.g. a split
   * range, is not duplicated on a guess), never under minHedgeDelayMs.
   * Measured against the best rather than the primary's own estimate, so a slow origin cannot
   * set its own, slow, deadline — and the hedge is how the faster origins get measured at all.
   */
  hedgeDelay(ctx: ChoiceCtx, part: { range?: ByteRange | undefined }, origin: string): number {
    const bytes = this.expectedBytes(ctx, part);
    const expected = (o: string): number =>
      this.deps.board.of(o).expectedMs(bytes) ?? this.deps.http.minHedgeDelayMs;
    let best = expected(origin);
    for (const t of ctx.targets)
      if (this.deps.board.of(t.origin).state === "healthy")
        best = Math.min(best, expected(t.origin));
    return Math.max(this.deps.http.minHedgeDelayMs, this.deps.http.hedgeFactor * best);
  }
}
