/**
 * Per-peer scores from request outcomes. Every transfer we ask of a peer ends in one outcome;
 * stalls (no byte for a while, first byte included), slow transfers (trickle: would not finish
 * in time) and bad bytes count against the peer, served transfers for it. The score makes a peer
 * cost more in the scheduler's ranking, and a peer that keeps failing is disconnected.
 * No I/O, no clock.
 */

/** How one transfer from a peer ended. */
export type TransferOutcome =
  /** Complete: every byte arrived in time. */
  | "served"
  /** No byte (or no further byte) arrived for the stall timeout. */
  | "stalled"
  /** Bytes arrived, too slowly to finish by the deadline (trickle). */
  | "slow"
  /** We gave up for our own reasons (deadline, abort): not the peer's fault. */
  | "cancelled"
  /** The bytes failed verification or the peer broke the protocol. */
  | "bad";

interface Score {
  /** Failures (stalled, slow) not yet paid back by served transfers. */
  failures: number;
  served: number;
  stalled: number;
  slow: number;
}

/** Cost multiplier per unpaid failure in the scheduler's ranking. */
export const PENALTY_PER_FAILURE = 3;
/** A served transfer pays back this much of one failure. */
export const SERVED_CREDIT = 0.5;

/** Peers remembered (the oldest is forgotten first). */
export const MAX_SCORED_PEERS = 1024;

/** Scores of the peers of one source, keyed by peer id. */
export class PeerScores {
  private readonly scores = new Map<string, Score>();

  constructor(
    /** Unpaid failures that disconnect a peer (`p2p.defense.maxStalls`). */
    private readonly maxFailures: number,
  ) {}

  private get(peerId: string): Score {
    let s = this.scores.get(peerId);
    if (!s) {
      if (this.scores.size >= MAX_SCORED_PEERS) {
        const oldest = this.scores.keys().next().value;
        if (oldest !== undefined) this.scores.delete(oldest);
      }
      s = { failures: 0, served: 0, stalled: 0, slow: 0 };
      this.scores.set(peerId, s);
    }
    return s;
  }

  /** Records how a transfer from `peerId` ended. */
  record(peerId: string, outcome: TransferOutcome): void {
    const s = this.get(peerId);
    switch (outcome) {
      case "served":
        s.served++;
        s.failures = Math.max(0, s.failures - SERVED_CREDIT);
        return;
      case "stalled":
        s.stalled++;
        s.failures++;
        return;
      case "slow":
        s.slow++;
        s.failures++;
        return;
      case "bad":
        s.failures = this.maxFailures;
        return;
      case "cancelled":
        return;
    }
  }

  /** Multiplier (≥ 1) of the peer's estimated cost: stallers rank behind everyone else. */
  penalty(peerId: string): number {
    const s = this.scores.get(peerId);
    return s ? 1 + PENALTY_PER_FAILURE * s.failures : 1;
  }

  /** The peer failed often enough to be disconnected. */
  shouldDisconnect(peerId: string): boolean {
    return (this.scores.get(peerId)?.failures ?? 0) >= this.maxFailures;
  }

  /** Counters of a peer (for tests and stats). */
  stats(peerId: string): Readonly<Score> | undefined {
    return this.scores.get(peerId);
  }

  /** Forgets a peer (it was disconnected; a cooldown keeps it away). */
  forget(peerId: string): void {
    this.scores.delete(peerId);
  }
}
