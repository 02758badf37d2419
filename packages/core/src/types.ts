/** Public value types shared by the engine and its adapters. */

/** Half-open byte range `[start, end)` inside a resource. */
export interface ByteRange {
  /** First byte offset, inclusive. */
  start: number;
  /** End offset, exclusive. */
  end: number;
}

/** What kind of resource a request is for. */
export type SegmentKind = "segment" | "init";

/** Where verified bytes came from. */
export type SegmentSource = "http" | "p2p" | "cache";

/** One media resource the player wants. */
export interface SegmentRequest {
  /** Absolute URL as the player resolved it from the playlist. */
  url: string;
  /** Sub-range of `url` (EXT-X-BYTERANGE / init segment byte range). */
  byteRange?: ByteRange;
  /** Media segment or initialization segment. */
  kind: SegmentKind;
  /** Absolute URL of the media playlist the segment belongs to (swarm id, manifest lookup). */
  playlistUrl: string;
  /** Media sequence number, when known. */
  sn?: number;
  /** Segment duration in seconds, when known. */
  duration?: number;
  /** Trusted SHA-256 (64 lowercase hex) read from `#EXT-X-HIVECAST-SHA256` by the adapter. */
  hash?: string;
  /** The playlist is live (no ENDLIST). */
  live?: boolean;
  /** Milliseconds from now until playback needs these bytes; undefined means "as soon as possible". */
  deadlineMs?: number;
}

/** Timings in milliseconds on the engine clock. */
export interface LoadTiming {
  /** When the request was accepted. */
  start: number;
  /** When the first byte arrived from the source that finally served it. */
  firstByte: number;
  /** When verified bytes were ready. */
  end: number;
  /** Time deliberately spent waiting for peers (not transfer time; excluded from ABR). */
  waitMs: number;
}

/** Verified bytes handed to the player. */
export interface SegmentResult {
  /** The resource (or the requested byte range of it). */
  data: Uint8Array;
  /** Source that served it. */
  source: SegmentSource;
  /** Origin base URL for `source: "http"`. */
  origin?: string;
  /**
   * Peer id for `source: "p2p"`, and for `source: "http"` when an abandoned peer transfer was
   * completed over HTTP (`p2pBytes` of the data came from that peer).
   */
  peerId?: string;
  /** Bytes at the start of `data` that came from `peerId` before HTTP completed the rest. */
  p2pBytes?: number;
  /** True when checked against a trusted hash; false only when none was known and policy allowed it. */
  verified: boolean;
  /** Timings for the player's bandwidth estimate. */
  timing: LoadTiming;
}

/** Options for one load. */
export interface LoadOptions {
  /** Aborts the load; the promise then rejects with code `ABORTED`. */
  signal?: AbortSignal;
  /** Progress of the transfer in bytes (unverified bytes are counted, never exposed). */
  onProgress?: (loaded: number, total: number | undefined) => void;
}

/** Options of {@link Engine.loadPlaylist}. */
export interface PlaylistLoadOptions extends LoadOptions {
  /**
   * For a blocking playlist reload (LL-HLS: the URL carries `_HLS_msn`): how long an origin may
   * hold the response before its first byte. hls.js passes its own bound for such requests
   * (`loadPolicy.maxTimeToFirstByteMs`). Ignored for other playlists.
   * @default `http.requestTimeoutMs`
   */
  blockingHoldMs?: number;
}

/** A playlist fetched with origin failover. */
export interface PlaylistResult {
  /** Playlist text. */
  text: string;
  /** Final URL it was fetched from (after origin substitution and redirects). */
  url: string;
  /** Origin base URL that served it, or the URL's own origin when it is not a configured origin. */
  origin: string;
  /** Timings for the player. */
  timing: LoadTiming;
}

/** Circuit-breaker state of one origin. */
export type OriginState = "healthy" | "open" | "half-open";

/** Per-origin counters in {@link HivecastStats}. */
export interface OriginStats {
  /** Bytes received from this origin (verified or not). */
  bytes: number;
  requests: number;
  failures: number;
  state: OriginState;
  /** EWMA throughput, bytes/second (0 when unknown). */
  throughputBps: number;
  /** EWMA time to first byte, ms (0 when unknown). */
  ttfbMs: number;
}

/**
 * How a peer link reaches the peer: the type of the ICE candidate pair WebRTC selected, the
 * "farthest" of its two ends. `host`: a local address on both ends (same network); `srflx` /
 * `prflx`: through a NAT, the address a STUN server (or the peer) saw; `relay`: through a TURN
 * server, which carries (and bills) every byte.
 */
export type PeerLinkType = "host" | "srflx" | "prflx" | "relay";

/** Per-peer counters in {@link HivecastStats}. */
export interface PeerStats {
  downloadedBytes: number;
  uploadedBytes: number;
  /** Link type of the last link to this peer, when the transport could tell. */
  linkType?: PeerLinkType;
  /** Set-up time of the last link to this peer: peer connection created → data channel open, ms. */
  setupMs?: number;
}

/** Connected peers by {@link PeerLinkType}; `unknown` when the transport could not tell. */
export interface PeerLinkCounts {
  host: number;
  srflx: number;
  prflx: number;
  relay: number;
  unknown: number;
}

/** Peer links that did not come up, by cause (cumulative). */
export interface PeerLinkFailures {
  /** ICE checks failed: no candidate pair works (NAT, firewall; STUN/TURN missing or down). */
  iceFailed: number;
  /** The link was not open within `p2p.connectTimeoutMs`. */
  connectTimeout: number;
  /** ICE gathering produced no candidate at all. */
  noCandidates: number;
  /** An offer sent through the tracker got no answer (counted, not warned: normal in small swarms). */
  offerUnanswered: number;
  /** A link came up over a TURN relay while `p2p.allowRelay` is false, and was closed. */
  relayRefused: number;
  /** Anything else (the peer closed, a bad offer or answer…). */
  other: number;
}

/** Cumulative snapshot; a new object each time `engine.stats` is read. */
export interface HivecastStats {
  /** Verified bytes delivered to the player, by source. */
  bytes: { http: number; p2p: number; cache: number };
  /** Bytes uploaded to peers. */
  uploadedBytes: number;
  /** Segments delivered, by source, and those that failed for good. */
  segments: { http: number; p2p: number; cache: number; failed: number };
  /** p2p bytes ÷ (http + p2p bytes); 0 before any. */
  offload: number;
  byOrigin: Record<string, OriginStats>;
  byPeer: Record<string, PeerStats>;
  /** Currently connected peers. */
  peers: number;
  /** Currently connected peers by link type (see {@link PeerLinkType}). */
  links: PeerLinkCounts;
  /** Peer links that failed to come up, by cause. */
  linkFailures: PeerLinkFailures;
  integrityFailures: number;
  hedges: number;
  retries: number;
  errors: number;
}
