import type { HivecastError } from "./errors.js";
import type { ByteRange, OriginState, PeerLinkType, SegmentSource } from "./types.js";

/**
 * Every kind of recoverable problem Hivecast reports with the `warning` event. Playback goes
 * on after each; they are there so an app can see (and log, or show) what degrades P2P or an
 * origin. String literals, like `ErrorCodes`.
 */
export const WarningKinds = [
  /** A tracker could not be reached, or its socket dropped; reconnecting with backoff. */
  "tracker-unavailable",
  /** A tracker answered an announce with a failure reason (refused). */
  "tracker-refused",
  /** A tracker sent a message that is not valid tracker protocol; it was ignored. */
  "tracker-protocol",
  /** A peer connection could not be created or set up (ICE failed, no candidates…). */
  "peer-connection-failed",
  /** A peer link did not open within `p2p.connectTimeoutMs`. */
  "peer-timeout",
  /** A peer went away in the middle of a transfer. */
  "peer-gone",
  /** A peer broke the protocol or its budgets and was dropped or banned. */
  "peer-abuse",
  /** P2P is on but no STUN/TURN server is configured: only viewers on one network can connect. */
  "ice-servers-missing",
  /** The ICE server list could not be fetched from `p2p.iceServersUrl`; using the explicit list. */
  "ice-servers-unavailable",
  /** The integrity manifest could not be fetched or parsed. */
  "integrity-manifest-unavailable",
  /** The content steering manifest could not be fetched or was invalid; the last order stays. */
  "steering-unavailable",
  /** An upload to a peer was refused (limits, download-only). */
  "upload-refused",
  /** The player stalled: uploads to peers pause for `p2p.uploadPauseAfterStallMs`. */
  "uploads-paused",
  /**
   * The page's main thread is starved (`p2p.mainThreadLagMs`): joining the swarm waits until it
   * keeps up; segments come from the origins meanwhile.
   */
  "join-deferred",
  /**
   * Anything else the P2P layer could not do (a callback threw, no WebSocket…). When our own
   * code fails on a peer's valid frame, that link closes and the peer is not banned.
   */
  "p2p-internal",
  /**
   * The page is not a secure context (plain `http://`, not localhost): WebCrypto is missing,
   * so segments are verified with a pure-JS SHA-256 (loaded on demand, 8–24× slower).
   */
  "insecure-context",
] as const;

/** One of {@link WarningKinds}. */
export type WarningKind = (typeof WarningKinds)[number];

/** Payload of the `warning` event. */
export interface HivecastWarning {
  kind: WarningKind;
  /** Human-readable, for logs. */
  message: string;
  /** Facts for logs (tracker URL, peer id, cause…). */
  details: Readonly<Record<string, string | number | boolean | undefined>>;
  /** Warnings of this kind left out since the last one emitted (rate limit per kind). */
  suppressed: number;
}

/** Listener map of every event the engine emits (see `Engine.on`). */
export interface HivecastEvents {
  /** Verified bytes were handed to the player. */
  segmentLoaded: (e: {
    url: string;
    /** Where the bytes came from; `"http"` also when a peer's partial transfer was completed over HTTP (see `p2pBytes`). */
    source: SegmentSource;
    origin?: string;
    peerId?: string;
    bytes: number;
    ms: number;
    /** Initialization segment or media segment. */
    kind: "init" | "media";
    /** The byte range of `url`, when one was asked for. */
    range?: ByteRange;
    /** Bytes of `bytes` that came over HTTP (0 from peers or the cache). */
    httpBytes: number;
    /** Bytes of `bytes` that came from a peer (all of them for `source: "p2p"`, the first part of a completed partial). */
    p2pBytes: number;
    /**
     * Every origin that contributed bytes and how many (several when the segment was split into
     * ranges over origins); absent when no byte came over HTTP.
     */
    origins?: Array<{ origin: string; bytes: number }>;
    /** Whether the bytes were checked against a trusted SHA-256. */
    verified: boolean;
  }) => void;
  /** The player asked for a segment (before the store, peers or origins are tried). */
  segmentStart: (e: { url: string; kind: "init" | "media"; range?: ByteRange }) => void;
  /** The player aborted a segment load (seek, level switch, destroy of hls.js…). */
  segmentAborted: (e: {
    url: string;
    kind: "init" | "media";
    range?: ByteRange;
    /** Time from the request until the abort. */
    ms: number;
  }) => void;
  /** A segment could not be served (every source failed); `error` follows with the same error. */
  segmentError: (e: {
    url: string;
    kind: "init" | "media";
    range?: ByteRange;
    error: HivecastError;
  }) => void;
  /** Bytes of a verified segment were sent to a peer. */
  bytesUploaded: (e: { peerId: string; bytes: number }) => void;
  /** A data channel to a peer opened and its handshake succeeded. */
  peerConnected: (e: {
    peerId: string;
    /** How the link reaches the peer (host, srflx, prflx, relay), when the transport could tell. */
    linkType?: PeerLinkType;
    /** Peer connection created → data channel open, ms. */
    setupMs?: number;
  }) => void;
  /** A peer went away. */
  peerDisconnected: (e: { peerId: string; reason: string }) => void;
  /** A peer was banned for the session (bad bytes or protocol violation). */
  peerBanned: (e: { peerId: string; reason: string }) => void;
  /** An origin's circuit breaker changed state. */
  originStateChanged: (e: { origin: string; state: OriginState }) => void;
  /** Bytes failed their SHA-256 check; they were discarded. */
  integrityFailure: (e: {
    url: string;
    source: "http" | "p2p";
    origin?: string;
    peerId?: string;
    expected: string;
    actual: string;
  }) => void;
  /** A non-fatal or fatal problem worth logging. */
  error: (e: HivecastError) => void;
  /**
   * Something recoverable went wrong (tracker down, a peer link failed…): playback goes on.
   * Rate-limited per kind; `suppressed` counts what was left out.
   */
  warning: (w: HivecastWarning) => void;
}

type Listener = (...args: never[]) => void;

/**
 * Minimal typed event emitter (no Node `events` in browser code). A throwing listener
 * never breaks the emitter or other listeners.
 */
export class TypedEmitter<E extends { [K in keyof E]: Listener }> {
  private readonly listeners = new Map<keyof E, Set<Listener>>();

  /** Adds a listener. */
  on<K extends keyof E>(event: K, fn: E[K]): this {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(fn);
    return this;
  }

  /** Removes a listener. */
  off<K extends keyof E>(event: K, fn: E[K]): this {
    this.listeners.get(event)?.delete(fn);
    return this;
  }

  /** Calls every listener of `event`; exceptions from listeners are swallowed. */
  protected emit<K extends keyof E>(event: K, ...args: Parameters<E[K]>): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        (fn as (...a: Parameters<E[K]>) => void)(...args);
      } catch {
        // A user's listener must not break loading.
      }
    }
  }

  /** Number of listeners, all events (used by destroy tests). */
  listenerCount(): number {
    let n = 0;
    for (const s of this.listeners.values()) n += s.size;
    return n;
  }

  /** Drops every listener. */
  protected removeAllListeners(): void {
    this.listeners.clear();
  }
}
