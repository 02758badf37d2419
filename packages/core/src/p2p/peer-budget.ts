/**
 * Per-peer message budgets: token buckets for announcements (HAVE/LOST frames and the entries
 * in them), for requests (REQUEST/CANCEL) and for text messages (not our protocol at all). A peer that spends faster than its budget refills
 * is flooding: the session closes with `FLOOD` and the source bans it. Honest traffic — a full
 * store announced once on connect, then one HAVE and one LOST per new segment — stays far below.
 */
import type { PeerDefenseConfig } from "../config.js";

/** A token bucket on an external clock: `rate` tokens per second, at most `burst` saved. */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.at = now;
  }

  /** Takes `n` tokens; false (nothing taken) when there are not enough. */
  take(n: number, now: number): boolean {
    if (now > this.at) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.rate);
      this.at = now;
    }
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }
}

/** The budget fields of {@link PeerDefenseConfig} a session enforces. */
export type PeerBudgetLimits = Pick<
  PeerDefenseConfig,
  | "announceFramesPerSec"
  | "announceFramesBurst"
  | "announceEntriesPerSec"
  | "announceEntriesBurst"
  | "requestsPerSec"
  | "requestsBurst"
  | "textMessagesPerSec"
  | "textMessagesBurst"
>;

/** What a budget check says about one incoming frame. */
export type BudgetVerdict = "ok" | "announce-flood" | "request-flood" | "text-flood";

/** The budgets of one peer. */
export class PeerBudget {
  private readonly announceFrames: TokenBucket;
  private readonly announceEntries: TokenBucket;
  private readonly requests: TokenBucket;
  private readonly texts: TokenBucket;

  constructor(limits: PeerBudgetLimits, now: number) {
    this.announceFrames = new TokenBucket(
      limits.announceFramesPerSec,
      limits.announceFramesBurst,
      now,
    );
    this.announceEntries = new TokenBucket(
      limits.announceEntriesPerSec,
      limits.announceEntriesBurst,
      now,
    );
    this.requests = new TokenBucket(limits.requestsPerSec, limits.requestsBurst, now);
    this.texts = new TokenBucket(limits.textMessagesPerSec, limits.textMessagesBurst, now);
  }

  /** Charges one HAVE or LOST frame of `entries` ids. */
  announce(entries: number, now: number): BudgetVerdict {
    const f = this.announceFrames.take(1, now);
    const e = this.announceEntries.take(entries, now);
    return f && e ? "ok" : "announce-flood";
  }

  /** Charges one text (non-protocol) message. */
  text(now: number): BudgetVerdict {
    return this.texts.take(1, now) ? "ok" : "text-flood";
  }

  /** Charges one REQUEST or CANCEL frame. */
  request(now: number): BudgetVerdict {
    return this.requests.take(1, now) ? "ok" : "request-flood";
  }
}
