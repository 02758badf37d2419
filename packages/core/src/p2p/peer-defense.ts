/**
 * What a source does about peers that cost more than they give: scores from transfer outcomes
 * (stallers disconnected after `maxStalls`), cooldowns for disconnected stallers and dropped idle
 * peers, bans that survive a new peer id (keyed on the remote address), a cap on peers per
 * address, and a sweep that drops idle peers when slots are short and asks the trackers for
 * fresh peers when few useful ones are left. Every limit comes from `p2p.defense`.
 */
import type { Clock } from "../clock.js";
import type { PeerDefenseConfig } from "../config.js";
import type { HivecastWarning, WarningKind } from "../events.js";
import { addressKey } from "./peer-address.js";
import { PeerScores, type TransferOutcome } from "./peer-score.js";
import type { PeerSession } from "./peer-session.js";
import type { Swarm } from "./swarm.js";

/** How often the idle sweep runs, ms. */
export const SWEEP_INTERVAL_MS = 5000;
/** Idle peers are dropped only when at least this share of `maxPeers` slots is taken. */
export const IDLE_DROP_FILL = 0.75;
/**
 * With fewer than `minUsefulPeers` useful peers, the first early announce for fresh peers comes
 * this long after the previous announce; each further one waits twice as long, up to the regular
 * announce interval, until enough useful peers are back, ms.
 */
export const LOW_USEFUL_FIRST_GAP_MS = 5000;

/**
 * A peer worth keeping: it served us bytes or announced segments it holds. Idle identities (a
 * sybil that joins and never serves) are neither.
 */
export function isUsefulPeer(s: PeerSession): boolean {
  return s.bytesIn > 0 || s.remoteHaves.size > 0;
}

/** What {@link PeerDefense} needs from its source. */
export interface DefenseHost {
  clock: Clock;
  config: PeerDefenseConfig;
  maxPeers: number;
  swarms(): Iterable<Swarm>;
  /** A printable peer id (the key of bans and cooldowns). */
  displayId(rawPeerId: string): string;
  /** Disconnects every session of a peer without banning it. */
  disconnect(peerId: string, reason: string): void;
  warn(kind: WarningKind, message: string, details?: HivecastWarning["details"]): void;
}

/** Why a ready session is refused. */
export type Refusal = "banned address" | "too many peers from one address";

/** Defense state of one source. */
export class PeerDefense {
  readonly scores: PeerScores;
  private readonly cooling = new Map<string, number>();
  private readonly bannedAddresses = new Set<string>();
  /** Per swarm: the gap before the next early announce while useful peers are few. */
  private readonly lowUsefulGap = new WeakMap<Swarm, number>();
  private sweepTimer: unknown;
  private destroyed = false;

  constructor(private readonly host: DefenseHost) {
    this.scores = new PeerScores(host.config.maxStalls);
  }

  /** The address-rule key of a session (undefined: no rule applies). */
  addressOf(s: PeerSession): string | undefined {
    return addressKey(s.remoteAddress, this.host.config.exemptPrivateAddresses);
  }

  /** Whether `peerId` (display form) is in a cooldown. */
  isCooling(peerId: string): boolean {
    const until = this.cooling.get(peerId);
    if (until === undefined) return false;
    if (this.host.clock.now() < until) return true;
    this.cooling.delete(peerId);
    return false;
  }

  /** Keeps `peerId` (display form) away for `cooldownMs`. */
  cool(peerId: string): void {
    if (this.cooling.size >= 4096) this.cooling.clear();
    this.cooling.set(peerId, this.host.clock.now() + this.host.config.cooldownMs);
  }

  /** A peer was banned: its public address stays banned for whatever id it comes back with. */
  noteBan(address: string | undefined): void {
    if (address !== undefined && this.bannedAddresses.size < 4096)
      this.bannedAddresses.add(address);
  }

  /** Whether a newly ready session may stay: a banned address or one address too often is refused. */
  admit(swarm: Swarm, s: PeerSession): Refusal | undefined {
    const addr = this.addressOf(s);
    if (addr === undefined) return undefined;
    if (this.bannedAddresses.has(addr)) return "banned address";
    // Other peers from the address (a second connection of the same peer is not another peer).
    const others = new Set<string>();
    for (const o of swarm.readySessions())
      if (o.peerId !== s.peerId && this.addressOf(o) === addr) others.add(o.peerId);
    return others.size >= this.host.config.maxPeersPerAddress
      ? "too many peers from one address"
      : undefined;
  }

  /** Records a transfer's outcome; a peer that failed too often is disconnected and cooled. */
  recordTransfer(peerId: string, outcome: TransferOutcome): void {
    this.scores.record(peerId, outcome);
    if (outcome === "cancelled" || !this.scores.shouldDisconnect(peerId)) return;
    this.scores.forget(peerId);
    this.cool(peerId);
    this.host.warn("peer-abuse", `peer ${peerId} disconnected: it stalled or trickled repeatedly`, {
      peerId,
      reason: "stalls",
    });
    this.host.disconnect(peerId, "stalled repeatedly");
  }

  /** Starts the periodic idle sweep (idempotent). */
  start(): void {
    if (this.sweepTimer !== undefined || this.destroyed) return;
    this.sweepTimer = this.host.clock.setTimeout(() => {
      this.sweepTimer = undefined;
      if (this.destroyed) return;
      this.sweep();
      this.start();
    }, SWEEP_INTERVAL_MS);
  }

  /**
   * Drops peers that exchanged no byte with us for `idleMs` when the swarm's slots are short,
   * so fresh peers can take them; asks for fresh peers when few useful ones are left.
   */
  sweep(): void {
    const { config, clock, maxPeers } = this.host;
    const now = clock.now();
    for (const sw of this.host.swarms()) {
      const ready = sw.readySessions();
      if (ready.length >= Math.max(1, Math.ceil(maxPeers * IDLE_DROP_FILL))) {
        for (const s of ready) {
          if (now - s.readyAt < config.idleMs) continue;
          if (s.bytesIn > 0 || s.bytesOut > 0 || s.activeDownloads > 0 || s.activeUploads > 0)
            continue;
          const id = this.host.displayId(s.peerId);
          this.cool(id);
          this.host.disconnect(id, "idle");
        }
      }
      // Fresh peers are worth an early announce unless we are linked to every other peer the
      // tracker reported (more links than that: the swarm grew since its last reply). The
      // early announces back off (5 s, 10 s, 20 s … up to the regular interval) while useful
      // peers stay few, and start fast again once enough were found.
      const now2 = sw.readySessions();
      const useful = now2.filter(isUsefulPeer).length;
      if (useful >= config.minUsefulPeers) {
        this.lowUsefulGap.delete(sw);
        continue;
      }
      if (sw.trackerPeers - 1 === now2.length) continue;
      const gap = this.lowUsefulGap.get(sw) ?? LOW_USEFUL_FIRST_GAP_MS;
      if (sw.requestPeers(gap))
        this.lowUsefulGap.set(sw, Math.min(gap * 2, Math.max(gap, sw.announceIntervalMs)));
    }
  }

  /** Stops the sweep. */
  destroy(): void {
    this.destroyed = true;
    if (this.sweepTimer !== undefined) this.host.clock.clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
  }
}
