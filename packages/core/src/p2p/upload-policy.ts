/**
 * The default upload policy: slots, a total byte rate (`p2p.uploadBytesPerSec`, 0 = none), a
 * per-peer rate cap, a fair share of the total between the peers uploading at the moment, and a
 * limit on serving one segment to one peer again and again. Peers that gave us bytes weigh
 * `giveBackWeight` times more in both the cap and the share. The point: one download-only leech
 * requesting nonstop cannot take a viewer's whole uplink.
 */
import type { Clock } from "../clock.js";
import type { UploadGate, UploadPeer } from "./peer-session.js";

/** Limits of an {@link UploadPolicy}. */
export interface UploadPolicyLimits {
  /** Concurrent uploads (`p2p.maxUploads`). */
  maxUploads: number;
  /** Total upload rate, bytes/second (0 = unlimited). */
  totalBytesPerSec: number;
  /** Rate cap of a peer that never gave us bytes, bytes/second (0 = none). */
  perPeerBytesPerSec: number;
  /** Weight of a peer that gave us bytes. */
  giveBackWeight: number;
  /** Most uploads of one segment to one peer within `windowMs`. */
  maxServesPerSegment: number;
  /** Window of the repeat limit, ms. */
  windowMs: number;
}

/** A peer that reserved upload bytes this recently takes part in the fair share, ms. */
export const SHARE_ACTIVE_MS = 2000;
/** Burst allowance of every bucket, ms of its rate. */
export const UPLOAD_BURST_MS = 250;
/**
 * Books `bytes` on a leaky bucket that drains at `rate` bytes/second and is empty at `freeAt`.
 * A chunk may leave once no more than {@link UPLOAD_BURST_MS} of the rate would be waiting after
 * it, so the rate holds whatever the chunk size (a 64 KiB chunk on a slow cap waits for its
 * share, as four 16 KiB ones would). Returns the bucket's new `freeAt` and the wait in ms.
 */
function bookBytes(
  freeAt: number,
  now: number,
  bytes: number,
  rate: number,
): { freeAt: number; wait: number } {
  const end = Math.max(freeAt, now) + (bytes / rate) * 1000;
  return { freeAt: end, wait: Math.max(0, end - UPLOAD_BURST_MS - now) };
}

/** Peers remembered by the policy (oldest forgotten first). */
const MAX_TRACKED_PEERS = 256;

interface PeerState {
  nextFreeAt: number;
  lastActiveAt: number;
  weight: number;
  /** segment id → times served within the window (with the window's start). */
  serves: Map<string, { count: number; since: number }>;
}

/** Upload admission shared by every swarm of a source. */
export class UploadPolicy implements UploadGate {
  private active = 0;
  private nextFreeAt = 0;
  private pausedUntil = Number.NEGATIVE_INFINITY;
  private readonly peers = new Map<string, PeerState>();

  constructor(
    private readonly clock: Clock,
    private readonly limits: UploadPolicyLimits,
  ) {}

  /** Uploads in progress. */
  get inUse(): number {
    return this.active;
  }

  private state(peer: UploadPeer): PeerState {
    let s = this.peers.get(peer.peerId);
    if (!s) {
      if (this.peers.size >= MAX_TRACKED_PEERS) {
        const oldest = this.peers.keys().next().value;
        if (oldest !== undefined) this.peers.delete(oldest);
      }
      s = { nextFreeAt: 0, lastActiveAt: Number.NEGATIVE_INFINITY, weight: 1, serves: new Map() };
      this.peers.set(peer.peerId, s);
    }
    s.weight = peer.bytesIn > 0 ? this.limits.giveBackWeight : 1;
    return s;
  }

  /**
   * Refuses every new upload for `ms` from now (the viewer's own playback stalled); a later
   * call can only extend the pause. Uploads already admitted go on.
   */
  pause(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.clock.now() + ms);
  }

  /** New uploads are refused now because of {@link pause}. */
  get paused(): boolean {
    return this.clock.now() < this.pausedUntil;
  }

  tryAcquire(peer?: UploadPeer, segmentId?: string): boolean {
    if (this.active >= this.limits.maxUploads || this.paused) return false;
    if (peer && segmentId !== undefined) {
      const s = this.state(peer);
      const now = this.clock.now();
      const rec = s.serves.get(segmentId);
      if (rec && now - rec.since < this.limits.windowMs) {
        if (rec.count >= this.limits.maxServesPerSegment) return false;
        rec.count++;
      } else {
        if (s.serves.size >= 1024) s.serves.clear();
        s.serves.set(segmentId, { count: 1, since: now });
      }
    }
    this.active++;
    return true;
  }

  release(): void {
    this.active = Math.max(0, this.active - 1);
  }

  /** This peer's rate now: its cap, and its weighted share of the total among active peers. */
  private peerRate(s: PeerState, now: number): number {
    const { totalBytesPerSec, perPeerBytesPerSec } = this.limits;
    let rate = perPeerBytesPerSec > 0 ? perPeerBytesPerSec * s.weight : Number.POSITIVE_INFINITY;
    if (totalBytesPerSec > 0) {
      let sum = s.weight;
      for (const o of this.peers.values())
        if (o !== s && now - o.lastActiveAt < SHARE_ACTIVE_MS) sum += o.weight;
      rate = Math.min(rate, (totalBytesPerSec * s.weight) / sum);
    }
    return rate;
  }

  reserve(bytes: number, peer?: UploadPeer): number {
    const now = this.clock.now();
    let wait = 0;
    if (this.limits.totalBytesPerSec > 0) {
      const b = bookBytes(this.nextFreeAt, now, bytes, this.limits.totalBytesPerSec);
      this.nextFreeAt = b.freeAt;
      wait = b.wait;
    }
    if (peer) {
      const s = this.state(peer);
      s.lastActiveAt = now;
      const rate = this.peerRate(s, now);
      if (Number.isFinite(rate) && rate > 0) {
        const b = bookBytes(s.nextFreeAt, now, bytes, rate);
        s.nextFreeAt = b.freeAt;
        wait = Math.max(wait, b.wait);
      }
    }
    return wait;
  }
}
