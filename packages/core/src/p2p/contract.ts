/**
 * The seam between the Engine (HTTP, integrity, store) and the P2P layer (tracker client,
 * peers, scheduler). The Engine owns verification: the P2P layer hands it unverified bytes and
 * is told the verdict. Internal: not exported from the package index.
 */
import type { Clock } from "../clock.js";
import type { Config } from "../config.js";
import type { HivecastWarning, WarningKind } from "../events.js";
import type { PeerLinkCounts, PeerLinkFailures, PeerLinkType } from "../types.js";

/** Identifies one verified-shareable resource within a swarm. */
export interface SegmentKey {
  /** Swarm (stream variant) id: `p2p.swarmId` or origin-relative playlist path without query. */
  swarmId: string;
  /** Segment id in the swarm: origin-relative path without query, plus `@start-end` for byte ranges. */
  segmentId: string;
}

/** What the P2P layer knows of a live/VOD playlist, so it can plan who fetches what. */
export interface PlaylistInfo {
  swarmId: string;
  live: boolean;
  /** Target duration, seconds. */
  targetDuration: number;
  /** Segment ids in playlist order with their sequence numbers and durations (seconds). */
  segments: ReadonlyArray<{ segmentId: string; sn: number; duration: number }>;
}

/** A peer-served download, unverified. */
export interface PeerDownload {
  data: Uint8Array;
  peerId: string;
  /** When the first byte arrived (engine clock). */
  firstByteAt: number;
  /** Time spent deliberately waiting for a peer to have the segment (not transfer time). */
  waitMs: number;
}

/**
 * The start of a segment from a peer whose transfer was abandoned (fell behind, stalled or
 * disconnected): `data` is the first `data.length` of `size` bytes, unverified. The Engine
 * fetches the rest with an HTTP range and verifies the whole.
 */
export interface PeerPartial {
  partial: true;
  data: Uint8Array;
  /** Size of the whole segment, as the peer announced it. */
  size: number;
  peerId: string;
  firstByteAt: number;
  waitMs: number;
}

/** Peer bytes fetched ahead of playback (VOD prefetch), not verified yet. */
export interface PendingSegment {
  key: SegmentKey;
  data: Uint8Array;
  /** The peer that sent them (display id): blamed if they fail the hash. */
  peerId: string;
  /** The segment's media sequence number (pending bytes behind the playhead are dropped). */
  sn: number;
}

/**
 * The part of the Engine's segment store the P2P layer uses: uploads read verified bytes from it
 * directly, and prefetched peer bytes wait in its pending tier until the player asks for them.
 */
export interface PeerStore {
  /** Bytes peers may download (verified, or any with integrity `off`), or undefined. */
  getShareable(key: SegmentKey): Uint8Array | undefined;
  /** Whether the store holds `key` in any tier. */
  has(key: SegmentKey): boolean;
  /** Adds prefetched peer bytes; false when held already or the pending tier is full. */
  putPending(entry: PendingSegment): boolean;
  /** Removes and returns the pending bytes of `key`. */
  takePending(key: SegmentKey): PendingSegment | undefined;
  /** Drops every pending entry `drop` selects. */
  dropPending(drop: (entry: PendingSegment) => boolean): void;
}

/** Callbacks the P2P layer uses to reach the Engine. */
export interface PeerHost {
  /** Whether peers may be used for this segment (a trusted hash is known, or policy `off`). */
  shareable(key: SegmentKey): boolean;
  /** Event sinks. */
  onPeerConnected(peerId: string, link?: { linkType?: PeerLinkType; setupMs?: number }): void;
  onPeerDisconnected(peerId: string, reason: string): void;
  onPeerBanned(peerId: string, reason: string): void;
  onUploaded(peerId: string, bytes: number): void;
  /** Something recoverable went wrong in the P2P layer (the Engine rate-limits and emits it). */
  onWarning(kind: WarningKind, message: string, details?: HivecastWarning["details"]): void;
}

/** Implemented by the P2P layer (packages/core/src/p2p). */
export interface PeerSegmentSource {
  /**
   * Try peers for `key`. Decides itself whether to wait for a peer that will have it (live
   * non-fetcher) or to give up at once (this viewer is one of the HTTP fetchers, no peers).
   * Must resolve `null` (never reject, except with the signal's reason) by `giveUpAt`
   * (engine clock) so HTTP still meets the playback deadline — or, when a transfer was
   * abandoned after some bytes, a {@link PeerPartial} for HTTP to complete.
   */
  download(
    key: SegmentKey,
    opts: {
      signal: AbortSignal;
      giveUpAt: number;
      expectedSize?: number;
      /**
       * false: take the segment only from a connected peer that already holds it — never wait
       * for connections, announcements or a busy peer (the player is not playing yet, so any
       * wait is start-up time). @default true
       */
      mayWait?: boolean;
    },
  ): Promise<PeerDownload | PeerPartial | null>;
  /** Bytes from `peerId` failed verification: ban it for the session. */
  reportBad(peerId: string, key: SegmentKey, reason: string): void;
  /** A verified segment entered the store: announce it to peers. */
  announce(key: SegmentKey, size: number): void;
  /** A segment left the store: tell peers it is gone. */
  forget(key: SegmentKey): void;
  /** Playlist refreshed (live window moved, or VOD loaded). */
  updatePlaylist(info: PlaylistInfo): void;
  /**
   * Start-up is over (the player shows its first frame): swarms waiting to join (see
   * `p2p.joinDelayMaxMs`) join now, and swarms created later join at once.
   */
  playbackStarted?(): void;
  /**
   * The player stalled while playing (not at start-up, not after a seek): uploads pause for
   * `p2p.uploadPauseAfterStallMs`.
   */
  playbackStalled?(): void;
  /** Number of connected peers (all swarms). */
  peerCount(): number;
  /** Connected peers by link type, and links that failed to come up by cause (none yet: undefined). */
  linkStats?(): { links: PeerLinkCounts; failures: PeerLinkFailures } | undefined;
  /** Closes every peer, socket and timer. Idempotent. */
  destroy(): void;
}

/** Builds the P2P layer; the Engine calls it only once p2p is enabled (consent). */
export type PeerSegmentSourceFactory = (deps: {
  config: Config;
  clock: Clock;
  random: () => number;
  host: PeerHost;
  /** The Engine's segment store (uploads read it; prefetched bytes wait in it). */
  store: PeerStore;
  /** The Engine's fetch (for `p2p.iceServersUrl`). @default globalThis.fetch */
  fetch?: typeof fetch;
  /**
   * Tells `source` what the Engine has told the P2P layer so far: each swarm's latest playlist,
   * the shareable segments the store holds, and start-up if it is over. For a factory that
   * builds its layer later (the default one loads it on demand); the Engine already does this
   * for the layer the factory returns.
   */
  catchUp?: (source: PeerSegmentSource) => void;
}) => PeerSegmentSource;
