import type { HivecastStats, PeerLinkType, PeerStats } from "./types.js";

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The counters {@link Counters} owns; the rest of a snapshot comes from the pool and P2P layer. */
export type CountedStats = Omit<
  HivecastStats,
  "offload" | "byOrigin" | "peers" | "hedges" | "retries" | "links" | "linkFailures"
>;

/** The engine's cumulative counters: written by the segment path and the P2P callbacks. */
export class Counters {
  private readonly c: Mutable<CountedStats> = {
    bytes: { http: 0, p2p: 0, cache: 0 },
    uploadedBytes: 0,
    segments: { http: 0, p2p: 0, cache: 0, failed: 0 },
    byPeer: {},
    integrityFailures: 0,
    errors: 0,
  };

  /** A segment reached the player: `p2pBytes` of its bytes came from a peer, the rest from `source`. */
  delivered(source: "http" | "p2p" | "cache", bytes: number, p2pBytes: number): void {
    this.c.bytes.p2p += p2pBytes;
    this.c.bytes[source] += bytes - p2pBytes;
    this.c.segments[source]++;
  }

  /** A load failed for good. */
  failed(): void {
    this.c.segments.failed++;
  }

  /** An `error` event fired. */
  error(): void {
    this.c.errors++;
  }

  /** Bytes failed their trusted hash. */
  integrityFailure(): void {
    this.c.integrityFailures++;
  }

  /** Verified bytes that came from `peerId`. */
  downloadedFrom(peerId: string, bytes: number): void {
    this.peer(peerId).downloadedBytes += bytes;
  }

  /** Bytes uploaded to `peerId`. */
  uploadedTo(peerId: string, bytes: number): void {
    this.c.uploadedBytes += bytes;
    this.peer(peerId).uploadedBytes += bytes;
  }

  /** A link to `peerId` came up. */
  linked(peerId: string, linkType: PeerLinkType | undefined, setupMs: number | undefined): void {
    const p = this.peer(peerId);
    if (linkType !== undefined) p.linkType = linkType;
    if (setupMs !== undefined) p.setupMs = setupMs;
  }

  /** A fresh copy of the counters. */
  snapshot(): CountedStats {
    const c = this.c;
    const byPeer: HivecastStats["byPeer"] = {};
    for (const [id, p] of Object.entries(c.byPeer)) byPeer[id] = { ...p };
    return {
      bytes: { ...c.bytes },
      uploadedBytes: c.uploadedBytes,
      segments: { ...c.segments },
      byPeer,
      integrityFailures: c.integrityFailures,
      errors: c.errors,
    };
  }

  private peer(peerId: string): PeerStats {
    return (this.c.byPeer[peerId] ??= { downloadedBytes: 0, uploadedBytes: 0 });
  }
}
