import type { PeerStore, PendingSegment, SegmentKey } from "./p2p/contract.js";

/** One stored segment. */
export interface StoredSegment {
  key: SegmentKey;
  data: Uint8Array;
  /** Checked against a trusted hash (unverified entries only serve local playback retries). */
  verified: boolean;
}

/** Map key of a {@link SegmentKey}: the one place that says how a key becomes a string. */
export function storeId(key: SegmentKey): string {
  return `${key.swarmId}\n${key.segmentId}`;
}

/** Options of a {@link SegmentStore}. */
export interface SegmentStoreOptions {
  /** Byte cap of the kept tier (verified and local unverified bytes). */
  maxBytes: number;
  /** Byte cap of the pending tier (peer bytes prefetched, not verified yet). */
  maxPendingBytes: number;
  /**
   * Integrity policy `off`: kept bytes are shared with peers without a hash (the app chose to
   * trust every source). Pending bytes are never shared, whatever the policy.
   */
  shareUnverified: boolean;
  /** A kept entry was evicted (the P2P layer tells peers it is gone). */
  onEvict: (entry: StoredSegment) => void;
}

/**
 * The one segment store, in two tiers:
 * - **kept**: bytes the engine delivered — verified ones (served to the player and to peers) and,
 *   while no hash exists, unverified HTTP bytes (local playback retries only). A byte-capped LRU
 *   whose evictions are reported.
 * - **pending**: bytes a peer sent ahead of playback (VOD prefetch), not verified yet. Never
 *   served to anyone: the segment's request takes them, verifies them and keeps them (or blames
 *   the peer). Capped separately, so prefetch cannot push out verified segments.
 *
 * A segment is in at most one tier: nothing is cached twice.
 */
export class SegmentStore implements PeerStore {
  private readonly entries = new Map<string, StoredSegment>();
  private readonly pending = new Map<string, PendingSegment>();
  private used = 0;
  private pendingUsed = 0;

  constructor(private readonly opts: SegmentStoreOptions) {}

  /** Bytes in the kept tier. */
  get bytes(): number {
    return this.used;
  }

  /** Segments in the kept tier. */
  get size(): number {
    return this.entries.size;
  }

  /** Bytes in the pending tier. */
  get pendingBytes(): number {
    return this.pendingUsed;
  }

  /** The kept entry, marked most recently used. */
  get(key: SegmentKey): StoredSegment | undefined {
    const id = storeId(key);
    const e = this.entries.get(id);
    if (!e) return undefined;
    this.entries.delete(id);
    this.entries.set(id, e);
    return e;
  }

  /** Bytes peers may download: a kept entry that is verified (or any, with policy `off`). */
  getShareable(key: SegmentKey): Uint8Array | undefined {
    const e = this.entries.get(storeId(key));
    return e && this.isShareable(e) ? e.data : undefined;
  }

  /** Every kept entry peers may download ({@link getShareable}), least recently used first. */
  *shareable(): Generator<{ key: SegmentKey; size: number }> {
    for (const e of this.entries.values())
      if (this.isShareable(e)) yield { key: e.key, size: e.data.length };
  }

  /** Whether peers may download a kept entry: verified, or any under integrity policy `off`. */
  private isShareable(e: StoredSegment): boolean {
    return e.verified || this.opts.shareUnverified;
  }

  /** Whether either tier holds `key`. */
  has(key: SegmentKey): boolean {
    const id = storeId(key);
    return this.entries.has(id) || this.pending.has(id);
  }

  /**
   * Keeps (or replaces) an entry, evicting the least recently used ones over the cap. A pending
   * copy of the same segment is dropped. Returns false when the entry is larger than the cap.
   */
  put(entry: StoredSegment): boolean {
    const id = storeId(entry.key);
    this.dropPendingId(id);
    if (entry.data.length > this.opts.maxBytes) return false;
    const old = this.entries.get(id);
    if (old) {
      this.entries.delete(id);
      this.used -= old.data.length;
    }
    this.entries.set(id, entry);
    this.used += entry.data.length;
    while (this.used > this.opts.maxBytes) {
      const [oldestId, oldest] = this.entries.entries().next().value ?? [];
      if (oldestId === undefined || !oldest) break;
      this.entries.delete(oldestId);
      this.used -= oldest.data.length;
      this.opts.onEvict(oldest);
    }
    return true;
  }

  /** Adds prefetched peer bytes; refused when the segment is held already or the tier is full. */
  putPending(entry: PendingSegment): boolean {
    const id = storeId(entry.key);
    if (this.entries.has(id) || this.pending.has(id)) return false;
    if (this.pendingUsed + entry.data.length > this.opts.maxPendingBytes) return false;
    this.pending.set(id, entry);
    this.pendingUsed += entry.data.length;
    return true;
  }

  /** Whether prefetched peer bytes of `key` wait in the pending tier. */
  hasPending(key: SegmentKey): boolean {
    return this.pending.has(storeId(key));
  }

  /** Removes and returns the pending bytes of `key`, for verification. */
  takePending(key: SegmentKey): PendingSegment | undefined {
    const id = storeId(key);
    const e = this.pending.get(id);
    if (e) this.dropPendingId(id);
    return e;
  }

  /** Drops every pending entry `drop` selects (a banned peer's, those behind the playhead). */
  dropPending(drop: (entry: PendingSegment) => boolean): void {
    for (const [id, e] of this.pending) if (drop(e)) this.dropPendingId(id);
  }

  /** Drops everything without eviction callbacks (engine teardown). */
  clear(): void {
    this.entries.clear();
    this.pending.clear();
    this.used = 0;
    this.pendingUsed = 0;
  }

  private dropPendingId(id: string): void {
    const e = this.pending.get(id);
    if (!e) return;
    this.pending.delete(id);
    this.pendingUsed -= e.data.length;
  }
}
