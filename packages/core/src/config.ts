import { HivecastError } from "./errors.js";
import { checkIceServers } from "./p2p/ice-servers.js";

/** Integrity policy: see {@link Config.integrity}. */
export type IntegrityPolicy = "required" | "optional" | "off";

/** Retry behaviour as data (in the spirit of hls.js `RetryConfig`). */
export interface RetryConfig {
  /** Retries after the first attempt, across all origins. @default 4 */
  maxNumRetry: number;
  /** First backoff delay. @default 250 */
  retryDelayMs: number;
  /** Backoff ceiling. @default 4000 */
  maxRetryDelayMs: number;
  /** Growth of the delay between retries. @default "exponential" */
  backoff: "exponential" | "linear";
  /** Random jitter as a fraction of the delay (0…1). @default 0.3 */
  jitter: number;
}

/** HTTP / multi-origin behaviour. */
export interface HttpConfig {
  /** Abort a request whose first byte has not arrived after this. @default 4000 */
  firstByteTimeoutMs: number;
  /** Abort a request that stalls (no new bytes) for this long. @default 3000 */
  stallTimeoutMs: number;
  /** Abort any single request after this. @default 20000 */
  requestTimeoutMs: number;
  /** Retry policy for segments. */
  segmentRetry: RetryConfig;
  /** Retry policy for playlists and manifests. */
  playlistRetry: RetryConfig;
  /** Hedge to a second origin when a request takes longer than `hedgeFactor` × its expected time. @default 2 */
  hedgeFactor: number;
  /** Never hedge earlier than this. @default 800 */
  minHedgeDelayMs: number;
  /** Segments at least this large are split into byte ranges over several origins (0 disables). @default 1048576 */
  splitThresholdBytes: number;
  /** Smallest byte range a split produces. @default 262144 */
  minRangeBytes: number;
  /** Consecutive failures that open an origin's circuit breaker. @default 3 */
  breakerThreshold: number;
  /** First half-open probe delay after the breaker opens (doubles, jittered). @default 2000 */
  breakerBaseMs: number;
  /** Longest time between probes. @default 30000 */
  breakerMaxMs: number;
  /** Weight of the newest sample in the EWMA estimates (0…1). @default 0.3 */
  ewmaAlpha: number;
}

/** Peer-to-peer behaviour. Nothing peer-related is created while `enabled` is false. */
export interface P2PConfig {
  /** Master switch / user consent. No RTCPeerConnection or tracker socket exists while false. @default false */
  enabled: boolean;
  /** WebSocket tracker URLs (WebTorrent tracker protocol). @default [] */
  trackers: string[];
  /**
   * Swarm id shared by every viewer of the same stream variant. Default: the media playlist URL
   * without query string and without the configured origin prefix, so viewers on different
   * origins or with different tokens share a swarm. @default undefined
   */
  swarmId: string | undefined;
  /**
   * RTCPeerConnection configuration. Its `iceServers` is used only when neither `iceServers`
   * nor a fetched `iceServersUrl` list is there (those replace it). @default { iceServers: [] }
   */
  rtcConfig: RTCConfiguration;
  /** Most peers connected per swarm. @default 20 */
  maxPeers: number;
  /** Give up on a peer connection that is not open after this. @default 10000 */
  connectTimeoutMs: number;
  /**
   * Send an offer or answer after this long even if ICE gathering has not finished (with the
   * candidates found so far; offers and answers carry all candidates, no trickle). @default 5000
   */
  iceGatherTimeoutMs: number;
  /** Most segments uploaded at once. @default 4 */
  maxUploads: number;
  /** Upload cap in bytes/second (0 = unlimited). @default 0 */
  uploadBytesPerSec: number;
  /** Never upload. "auto": on when `navigator.connection` says metered or saveData. @default "auto" */
  downloadOnly: boolean | "auto";
  /** Announce interval to the tracker. @default 30000 */
  announceIntervalMs: number;
  /** Tracker reconnect backoff. */
  trackerRetry: RetryConfig;
  /** Live: target share of viewers fetching each new segment from HTTP. @default 0.15 */
  liveHttpFetchShare: number;
  /** VOD: segments ahead of the playhead prefetched from peers. @default 5 */
  vodPrefetchSegments: number;
  /**
   * STUN/TURN servers (`{ urls, username?, credential? }`, URLs `stun:`, `stuns:`, `turn:` or
   * `turns:`; TURN needs `username` and `credential`). When set, replaces
   * `rtcConfig.iceServers`; it is also the fallback while `iceServersUrl` cannot be fetched.
   * Without any STUN/TURN server only viewers on the same network connect (a warning
   * "ice-servers-missing" says so); no public server is used by default. @default undefined
   */
  iceServers: RTCIceServer[] | undefined;
  /**
   * URL (http/https) answering JSON `{ iceServers, ttlSeconds?, expiresAt? }`, e.g. the
   * signaling server's `GET /ice` with time-limited TURN credentials. Fetched when the first
   * swarm starts, cached until it expires, refreshed at about 80 % of its lifetime; while it
   * cannot be fetched, `iceServers` (else `rtcConfig.iceServers`) is used with a warning
   * "ice-servers-unavailable". Peer connections wait at most 1.5 s for the first fetch.
   * @default undefined
   */
  iceServersUrl: string | undefined;
  /**
   * Allow peer links relayed by a TURN server. When false, TURN URLs are left out of the ICE
   * configuration and a link whose selected pair is relayed anyway (the peer's TURN) is closed
   * and that peer is not tried again. @default true
   */
  allowRelay: boolean;
  /**
   * After a peer link fails to come up (ICE failed, timeout, no candidates) while fewer than
   * min(3, swarm size − 1) links are up, the swarm announces again for new offers after this
   * backoff (consecutive failures; reset once a link opens), instead of waiting for the
   * announce interval. `maxNumRetry` bounds the early announces per run of failures.
   */
  connectRetry: RetryConfig;
}

/** Everything Hivecast can be configured with. Users pass `Partial<Config>` (nested slices may be partial too). */
export interface Config {
  /**
   * Base URLs of origins serving the same paths (e.g. `https://cdn-a.example/live/`). A request
   * under one of them may be served by any of them. @default []
   */
  origins: string[];
  /**
   * `required`: only verified bytes are played and shared; segments without a hash play from HTTP
   * only (never from peers). `optional`: verify when a hash is known. `off`: no verification.
   * @default "required"
   */
  integrity: IntegrityPolicy;
  /** Sidecar integrity manifest URL; otherwise found via `EXT-X-SESSION-DATA` (`io.hivecast.integrity`) or `segments-sha256.json` beside the playlist. @default undefined */
  integrityManifestUrl: string | undefined;
  /** Bounded refetches of a live manifest that lacks a new segment's hash. @default 3 */
  integrityManifestRetries: number;
  /** Byte cap of the verified-segment store (serves retries and peers). @default 64 MiB */
  storeMaxBytes: number;
  http: HttpConfig;
  p2p: P2PConfig;
}

/** Partial user config: top level and each slice may omit fields. */
export type UserConfig = Partial<Omit<Config, "http" | "p2p">> & {
  http?: Partial<HttpConfig>;
  p2p?: Partial<P2PConfig>;
};

const retry = (r: RetryConfig): Readonly<RetryConfig> => Object.freeze(r);

/** The single documented default. */
export const DEFAULT_CONFIG: Readonly<Config> = Object.freeze({
  origins: [],
  integrity: "required",
  integrityManifestUrl: undefined,
  integrityManifestRetries: 3,
  storeMaxBytes: 64 * 1024 * 1024,
  http: Object.freeze({
    firstByteTimeoutMs: 4000,
    stallTimeoutMs: 3000,
    requestTimeoutMs: 20_000,
    segmentRetry: retry({
      maxNumRetry: 4,
      retryDelayMs: 250,
      maxRetryDelayMs: 4000,
      backoff: "exponential",
      jitter: 0.3,
    }),
    playlistRetry: retry({
      maxNumRetry: 4,
      retryDelayMs: 250,
      maxRetryDelayMs: 4000,
      backoff: "exponential",
      jitter: 0.3,
    }),
    hedgeFactor: 2,
    minHedgeDelayMs: 800,
    splitThresholdBytes: 1024 * 1024,
    minRangeBytes: 256 * 1024,
    breakerThreshold: 3,
    breakerBaseMs: 2000,
    breakerMaxMs: 30_000,
    ewmaAlpha: 0.3,
  }),
  p2p: Object.freeze({
    enabled: false,
    trackers: [],
    swarmId: undefined,
    rtcConfig: Object.freeze({ iceServers: [] }),
    maxPeers: 20,
    connectTimeoutMs: 10_000,
    iceGatherTimeoutMs: 5000,
    maxUploads: 4,
    uploadBytesPerSec: 0,
    downloadOnly: "auto",
    announceIntervalMs: 30_000,
    trackerRetry: retry({
      maxNumRetry: Number.POSITIVE_INFINITY,
      retryDelayMs: 1000,
      maxRetryDelayMs: 30_000,
      backoff: "exponential",
      jitter: 0.5,
    }),
    liveHttpFetchShare: 0.15,
    vodPrefetchSegments: 5,
    iceServers: undefined,
    iceServersUrl: undefined,
    allowRelay: true,
    connectRetry: retry({
      maxNumRetry: 5,
      retryDelayMs: 2000,
      maxRetryDelayMs: 30_000,
      backoff: "exponential",
      jitter: 0.5,
    }),
  }),
}) as Readonly<Config>;

function fail(field: string, why: string): never {
  throw new HivecastError("CONFIG_INVALID", `Invalid config "${field}": ${why}`, {
    fatal: true,
    details: { field },
  });
}

function checkNumber(field: string, v: unknown, min: number, max = Number.POSITIVE_INFINITY): void {
  if (typeof v !== "number" || Number.isNaN(v) || v < min || v > max)
    fail(field, `expected a number in [${min}, ${max}], got ${String(v)}`);
}

function checkRetry(field: string, r: RetryConfig): void {
  checkNumber(`${field}.maxNumRetry`, r.maxNumRetry, 0);
  checkNumber(`${field}.retryDelayMs`, r.retryDelayMs, 0);
  checkNumber(`${field}.maxRetryDelayMs`, r.maxRetryDelayMs, 0);
  checkNumber(`${field}.jitter`, r.jitter, 0, 1);
  if (r.backoff !== "exponential" && r.backoff !== "linear")
    fail(`${field}.backoff`, `expected "exponential" or "linear"`);
}

function checkUrl(field: string, v: unknown, protocols: readonly string[]): void {
  if (typeof v !== "string") fail(field, "expected a URL string");
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    fail(field, `not an absolute URL: ${v}`);
  }
  if (!protocols.includes(u.protocol))
    fail(field, `protocol must be one of ${protocols.join(", ")}`);
}

/** Merges a user's partial config over {@link DEFAULT_CONFIG} and validates the result once. */
export function resolveConfig(user: UserConfig = {}): Config {
  const c: Config = {
    ...DEFAULT_CONFIG,
    ...user,
    http: { ...DEFAULT_CONFIG.http, ...(user.http ?? {}) },
    p2p: { ...DEFAULT_CONFIG.p2p, ...(user.p2p ?? {}) },
  };
  if (!Array.isArray(c.origins)) fail("origins", "expected an array of base URLs");
  c.origins.forEach((o, i) => checkUrl(`origins[${i}]`, o, ["http:", "https:"]));
  if (!["required", "optional", "off"].includes(c.integrity))
    fail("integrity", `expected "required", "optional" or "off"`);
  if (c.integrityManifestUrl !== undefined && typeof c.integrityManifestUrl !== "string")
    fail("integrityManifestUrl", "expected a URL string");
  checkNumber("integrityManifestRetries", c.integrityManifestRetries, 0, 20);
  checkNumber("storeMaxBytes", c.storeMaxBytes, 0);
  const h = c.http;
  checkNumber("http.firstByteTimeoutMs", h.firstByteTimeoutMs, 1);
  checkNumber("http.stallTimeoutMs", h.stallTimeoutMs, 1);
  checkNumber("http.requestTimeoutMs", h.requestTimeoutMs, 1);
  checkRetry("http.segmentRetry", h.segmentRetry);
  checkRetry("http.playlistRetry", h.playlistRetry);
  checkNumber("http.hedgeFactor", h.hedgeFactor, 1);
  checkNumber("http.minHedgeDelayMs", h.minHedgeDelayMs, 0);
  checkNumber("http.splitThresholdBytes", h.splitThresholdBytes, 0);
  checkNumber("http.minRangeBytes", h.minRangeBytes, 1);
  checkNumber("http.breakerThreshold", h.breakerThreshold, 1);
  checkNumber("http.breakerBaseMs", h.breakerBaseMs, 0);
  checkNumber("http.breakerMaxMs", h.breakerMaxMs, 0);
  checkNumber("http.ewmaAlpha", h.ewmaAlpha, 0, 1);
  const p = c.p2p;
  if (typeof p.enabled !== "boolean") fail("p2p.enabled", "expected a boolean");
  if (!Array.isArray(p.trackers)) fail("p2p.trackers", "expected an array of ws:// or wss:// URLs");
  p.trackers.forEach((t, i) => checkUrl(`p2p.trackers[${i}]`, t, ["ws:", "wss:"]));
  if (p.swarmId !== undefined && (typeof p.swarmId !== "string" || p.swarmId.length === 0))
    fail("p2p.swarmId", "expected a non-empty string");
  if (typeof p.rtcConfig !== "object" || p.rtcConfig === null)
    fail("p2p.rtcConfig", "expected an RTCConfiguration object");
  checkNumber("p2p.maxPeers", p.maxPeers, 0, 200);
  checkNumber("p2p.connectTimeoutMs", p.connectTimeoutMs, 1);
  checkNumber("p2p.iceGatherTimeoutMs", p.iceGatherTimeoutMs, 1, 60_000);
  checkNumber("p2p.maxUploads", p.maxUploads, 0);
  checkNumber("p2p.uploadBytesPerSec", p.uploadBytesPerSec, 0);
  if (typeof p.downloadOnly !== "boolean" && p.downloadOnly !== "auto")
    fail("p2p.downloadOnly", `expected true, false or "auto"`);
  checkNumber("p2p.announceIntervalMs", p.announceIntervalMs, 1000);
  checkRetry("p2p.trackerRetry", p.trackerRetry);
  checkNumber("p2p.liveHttpFetchShare", p.liveHttpFetchShare, 0, 1);
  checkNumber("p2p.vodPrefetchSegments", p.vodPrefetchSegments, 0, 100);
  if (p.iceServers !== undefined) {
    const r = checkIceServers(p.iceServers, "p2p.iceServers");
    if (!r.ok) fail("p2p.iceServers", r.error);
  }
  if (p.iceServersUrl !== undefined)
    checkUrl("p2p.iceServersUrl", p.iceServersUrl, ["http:", "https:"]);
  if (typeof p.allowRelay !== "boolean") fail("p2p.allowRelay", "expected a boolean");
  checkRetry("p2p.connectRetry", p.connectRetry);
  return c;
}
