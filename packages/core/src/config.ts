import { HivecastError } from "./errors.js";
import type { PeerTransport } from "./p2p/peer-transport.js";
import type { ByteRange } from "./types.js";
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
  /**
   * When the player gave no deadline or no origin's throughput is measured yet, segments at least
   * this large are split into byte ranges over several origins (see `splitDeadlineShare` for the
   * rule otherwise; 0 disables splitting altogether). @default 1048576
   */
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
  /**
   * How segment requests are spread over healthy origins: `"weighted"` in proportion to each
   * origin's weight (all equal unless given: an even spread), `"round-robin"` in turn ignoring
   * weights, `"fastest"` always the origin expected to be fastest. Whatever the policy, an origin
   * that failed or served bad bytes ranks last, a slow request is hedged, and failover is
   * immediate. Playlists always go to the fastest origin. @default "weighted"
   */
  originPolicy: OriginPolicy;
  /**
   * Split a segment into byte ranges over several origins when the best single origin is
   * expected (from its measured throughput) to take longer than this share of the player's
   * deadline (0 disables this rule). Without a deadline or a measurement, `splitThresholdBytes`
   * decides. @default 0.5
   */
  splitDeadlineShare: number;
  /**
   * How long a segment that no origin served with its trusted hash is remembered as bad: the
   * player's retries of it within this time fail at once instead of downloading the same bad
   * bytes again. @default 60000
   */
  badSegmentMemoryMs: number;
}

/** See {@link HttpConfig.originPolicy}. */
export type OriginPolicy = "fastest" | "weighted" | "round-robin";

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
   * Peer connections: `"rtc"` is the built-in transport on the browser's `RTCPeerConnection`;
   * a function builds another one (e.g. `simplePeerTransport()` from `@hivecast/core/simple-peer`).
   * @default "rtc"
   */
  transport: "rtc" | PeerTransportFactory;
  /** Budgets, scoring and address rules against abusive peers (each field may be given alone). */
  defense: PeerDefenseConfig;
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
  /**
   * Joining a stream's swarm (tracker announce, building peer connections) waits until start-up
   * is over — `Engine.playbackStarted()` (the hls.js adapter calls it at the first frame: the
   * media's `playing` after the first buffered fragment) or a segment load with a playback
   * deadline — so that start-up does not compete with peer set-up on the page's main thread;
   * at the latest this long after the stream's playlist arrived, ms (for a page that does not
   * start playing: autoplay blocked, paused, or a start-up slower than this on a starved
   * device). 0 joins at once. The P2P layer's code is loaded at that moment too (a chunk of
   * its own with a bundler).
   * @default 10000
   */
  joinDelayMaxMs: number;
  /**
   * After the player stalls while playing (the media waits for data, not at start-up and not
   * after a seek — the hls.js adapter calls `Engine.playbackStalled()`; not either when every
   * segment of the live playlist is buffered: then the stream is late for every viewer alike),
   * uploads to peers pause this long: their requests are answered "busy" and they fetch
   * elsewhere. A viewer whose CPU or uplink cannot keep up with its own playback stops giving
   * them away until it recovers; each stall starts the pause again. Uploads already running
   * finish. 0 never pauses, ms.
   * @default 15000
   */
  uploadPauseAfterStallMs: number;
  /**
   * Putting off peer set-up on a starved page. While the page is visible, a timer set every
   * 250 ms that fires more than this late in 3 of its last 8 runs means the page's main thread
   * cannot keep up (a slow device, a busy machine, too many tabs): joining the swarm (tracker
   * announce, peer connections — the costliest work P2P adds) then waits until the thread keeps
   * up again, and segments come from the origins meanwhile (warning `join-deferred`). A page that
   * keeps up fires its timers a few ms late; pages starved to the point of stalling in the swarm
   * bench, 500–1500 ms. Once joined, a swarm stays joined. 0 never waits, ms. Off by default
   * for now: with 250 (the value measured in the swarm bench) the bench's throttled runs
   * stalled less, but not in every run, and two failures of P2P tests on a heavily loaded CI
   * machine could not be ruled out as joins it put off.
   * @default 0
   */
  mainThreadLagMs: number;
}

/**
 * How a viewer defends itself against peers that lie, stall, flood, leech or multiply. Every
 * limit is data: tune it here, the code has no other thresholds for these decisions.
 */
export interface PeerDefenseConfig {
  /** HAVE/LOST frames a peer may send: sustained per second. @default 20 */
  announceFramesPerSec: number;
  /** HAVE/LOST frames a peer may send in a burst (the first announcements included). @default 64 */
  announceFramesBurst: number;
  /** HAVE/LOST entries (segment ids) per second, sustained. @default 200 */
  announceEntriesPerSec: number;
  /** HAVE/LOST entries in a burst (a full store announced on connect). @default 10000 */
  announceEntriesBurst: number;
  /** REQUEST and CANCEL frames per second, sustained. @default 20 */
  requestsPerSec: number;
  /** REQUEST and CANCEL frames in a burst. @default 40 */
  requestsBurst: number;
  /**
   * Text (non-binary) data-channel messages per second, sustained. Our peer protocol is binary
   * only, so honest peers send none: text is dropped unread and only counted. @default 1
   */
  textMessagesPerSec: number;
  /** Text messages in a burst; a flood is banned within about this many. @default 8 */
  textMessagesBurst: number;
  /** A peer whose requests stall (or trickle) this many times is disconnected. @default 3 */
  maxStalls: number;
  /** A disconnected staller or dropped idle peer is refused this long, ms. @default 120000 */
  cooldownMs: number;
  /** Upload cap per peer that never gave us bytes, bytes/second (0 = none). @default 1500000 */
  uploadPerPeerBytesPerSec: number;
  /** A peer that gave us bytes gets this many times the per-peer cap and fair share. @default 2 */
  giveBackWeight: number;
  /** Most times one segment is uploaded to one peer within `cooldownMs`. @default 2 */
  maxServesPerSegment: number;
  /** Most ready peers of one swarm from one (public) remote address. @default 2 */
  maxPeersPerAddress: number;
  /**
   * Address-keyed rules (bans surviving a new peer id, `maxPeersPerAddress`) skip loopback,
   * RFC 1918, CGNAT 100.64/10, link-local and ULA addresses, so viewers on one LAN, behind one
   * carrier NAT or on one machine are not counted as one. @default true
   */
  exemptPrivateAddresses: boolean;
  /** A peer that exchanged no byte with us for this long is idle (dropped when slots are short), ms. @default 10000 */
  idleMs: number;
  /**
   * Below this many useful peers (ones that served us bytes or announced segments), ask the
   * trackers for fresh ones: after 5 s, then backing off to the announce interval. @default 2
   */
  minUsefulPeers: number;
}

/** Builds the peer transport the P2P layer uses (see {@link P2PConfig.transport}). */
export type PeerTransportFactory = (opts: {
  /** The config's `p2p.iceGatherTimeoutMs`. */
  iceGatherTimeoutMs: number;
}) => PeerTransport;

/**
 * What an origin does with the query string of a URL that came from another origin (say the
 * token CDN A put in the URL hls.js asked for). `"drop"`: the query is removed (HLS delivery
 * directives, `_HLS_*`, are always kept) — sign the URL in {@link Config.requestSetup}.
 * `"keep"`: the query is copied (all origins accept the same query). A URL's own origin always
 * keeps its query.
 */
export type OriginQuery = "keep" | "drop";

/** One origin as the user may write it: a base URL, or a base URL with per-origin options. */
export interface OriginOptions {
  /** Base URL, e.g. `https://cdn-a.example/live/`. */
  url: string;
  /** See {@link OriginQuery}. @default "drop" */
  query?: OriginQuery;
  /** Headers sent with every request to this origin. @default {} */
  headers?: Record<string, string>;
  /** `credentials` of every request to this origin (cookies on a cross-site CDN). @default undefined (fetch's "same-origin") */
  credentials?: RequestCredentials;
  /**
   * Relative share of segment load when origins are equally good (≥ 0). 0 keeps the origin out
   * of the rotation: it serves only as failover (a backup CDN). @default 1
   */
  weight?: number;
}

/** An origin after validation: every option filled in. */
export interface Origin {
  url: string;
  query: OriginQuery;
  headers: Readonly<Record<string, string>>;
  credentials: RequestCredentials | undefined;
  weight: number;
}

/** What a request is for, as {@link RequestContext.kind}. */
export type RequestKind = "playlist" | "init" | "segment" | "manifest";

/** Facts about one HTTP request, for {@link Config.requestSetup}. */
export interface RequestContext {
  /** The URL about to be requested: the resource on the chosen origin (query handled per {@link OriginQuery}). */
  url: string;
  /** The URL the player asked for (on whichever origin it came from). */
  resourceUrl: string;
  /** Base URL of the chosen origin (as configured), or the URL's own `scheme://host` when not under one. */
  origin: string;
  kind: RequestKind;
  /** Byte range of this request (a split range, an EXT-X-BYTERANGE…), end exclusive. */
  range: ByteRange | undefined;
  /** 0 for the first attempt at this resource, then 1, 2… across retries, hedges and origins. */
  attempt: number;
  /** True when this origin just answered 401/403 to the URL the hook returned: sign it afresh. */
  refresh: boolean;
}

/** What {@link Config.requestSetup} may change. Headers are merged over the origin's `headers`. */
export interface RequestSetupResult {
  url?: string;
  init?: Pick<RequestInit, "headers" | "credentials" | "mode" | "referrerPolicy" | "cache">;
}

/** See {@link Config.requestSetup}. */
export type RequestSetup = (
  ctx: RequestContext,
) => RequestSetupResult | undefined | void | Promise<RequestSetupResult | undefined | void>;

/** Everything Hivecast can be configured with. Users pass `Partial<Config>` (nested slices may be partial too). */
export interface Config {
  /**
   * Origins serving the same paths: base URLs (e.g. `https://cdn-a.example/live/`) or
   * {@link OriginOptions} objects. A request under one of them may be served by any of them.
   * Read back normalised: every entry an {@link Origin}. @default []
   */
  origins: Origin[];
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
  /**
   * Called before every HTTP request (playlists, segments, ranges, manifests, probes; sync or
   * async) with the chosen origin: return a new `url` and/or `init` (headers…) to sign the URL
   * for that CDN or add a token. When that origin answers 401 or 403 it is called once more
   * with `refresh: true` before the origin is held responsible. A hook that throws fails that
   * attempt (the next origin is tried). @default undefined
   */
  requestSetup: RequestSetup | undefined;
  /** The `fetch` used for every HTTP request. @default globalThis.fetch */
  fetch: typeof fetch | undefined;
  /**
   * Content steering: pathway id → origin base URL (one of `origins`). Pathways not listed are
   * matched to the origin with the host of the pathway's URI. @default {}
   */
  pathways: Record<string, string>;
}

/** One entry of the user's `origins`. */
export type OriginInput = string | OriginOptions;

/** Partial user config: top level and each slice may omit fields. */
export type UserConfig = Partial<Omit<Config, "http" | "p2p" | "origins">> & {
  origins?: readonly OriginInput[];
  http?: Partial<HttpConfig>;
  p2p?: Partial<Omit<P2PConfig, "defense">> & { defense?: Partial<PeerDefenseConfig> };
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
    originPolicy: "weighted",
    splitDeadlineShare: 0.5,
    badSegmentMemoryMs: 60_000,
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
    transport: "rtc",
    defense: Object.freeze({
      announceFramesPerSec: 20,
      announceFramesBurst: 64,
      announceEntriesPerSec: 200,
      announceEntriesBurst: 10_000,
      requestsPerSec: 20,
      requestsBurst: 40,
      textMessagesPerSec: 1,
      textMessagesBurst: 8,
      maxStalls: 3,
      cooldownMs: 120_000,
      uploadPerPeerBytesPerSec: 1_500_000,
      giveBackWeight: 2,
      maxServesPerSegment: 2,
      maxPeersPerAddress: 2,
      exemptPrivateAddresses: true,
      idleMs: 10_000,
      minUsefulPeers: 2,
    }),
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
    joinDelayMaxMs: 10_000,
    uploadPauseAfterStallMs: 15_000,
    mainThreadLagMs: 0,
  }),
  requestSetup: undefined,
  fetch: undefined,
  pathways: Object.freeze({}),
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

function checkUrl(field: string, v: unknown, protocols: readonly string[]): asserts v is string {
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

const ORIGIN_KEYS = new Set(["url", "query", "headers", "credentials", "weight"]);

/** Validates one user origin entry into an {@link Origin}. */
function normaliseOrigin(field: string, v: unknown): Origin {
  if (typeof v === "string") {
    checkUrl(field, v, ["http:", "https:"]);
    return Object.freeze({
      url: v,
      query: "drop",
      headers: Object.freeze({}),
      credentials: undefined,
      weight: 1,
    });
  }
  if (typeof v !== "object" || v === null || Array.isArray(v))
    fail(field, "expected a base URL or { url, query?, headers?, credentials?, weight? }");
  for (const k of Object.keys(v)) if (!ORIGIN_KEYS.has(k)) fail(`${field}.${k}`, "unknown option");
  const url: unknown = Reflect.get(v, "url");
  checkUrl(`${field}.url`, url, ["http:", "https:"]);
  const query: unknown = Reflect.get(v, "query") ?? "drop";
  if (query !== "keep" && query !== "drop") fail(`${field}.query`, `expected "keep" or "drop"`);
  const rawHeaders: unknown = Reflect.get(v, "headers") ?? {};
  if (typeof rawHeaders !== "object" || rawHeaders === null || Array.isArray(rawHeaders))
    fail(`${field}.headers`, "expected an object of header names to string values");
  const headers: Record<string, string> = {};
  for (const [k, hv] of Object.entries(rawHeaders)) {
    if (typeof hv !== "string" || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k))
      fail(`${field}.headers`, `bad header ${JSON.stringify(k)}`);
    headers[k] = hv;
  }
  const credentials: unknown = Reflect.get(v, "credentials");
  if (
    credentials !== undefined &&
    credentials !== "omit" &&
    credentials !== "same-origin" &&
    credentials !== "include"
  )
    fail(`${field}.credentials`, `expected "omit", "same-origin" or "include"`);
  const weight: unknown = Reflect.get(v, "weight") ?? 1;
  if (typeof weight !== "number" || !(weight >= 0) || !Number.isFinite(weight))
    fail(`${field}.weight`, "expected a number ≥ 0");
  return Object.freeze({
    url,
    query,
    headers: Object.freeze(headers),
    credentials,
    weight,
  });
}

/** Merges a user's partial config over {@link DEFAULT_CONFIG} and validates the result once. */
export function resolveConfig(user: UserConfig = {}): Config {
  const rawOrigins: unknown = user.origins ?? DEFAULT_CONFIG.origins;
  if (!Array.isArray(rawOrigins)) fail("origins", "expected an array of base URLs");
  const c: Config = {
    ...DEFAULT_CONFIG,
    ...user,
    origins: rawOrigins.map((o: unknown, i) => normaliseOrigin(`origins[${i}]`, o)),
    http: { ...DEFAULT_CONFIG.http, ...(user.http ?? {}) },
    p2p: {
      ...DEFAULT_CONFIG.p2p,
      ...(user.p2p ?? {}),
      defense: { ...DEFAULT_CONFIG.p2p.defense, ...(user.p2p?.defense ?? {}) },
    },
  };
  if (new Set(c.origins.map((o) => o.url)).size !== c.origins.length)
    fail("origins", "the same base URL twice");
  if (c.requestSetup !== undefined && typeof c.requestSetup !== "function")
    fail("requestSetup", "expected a function");
  if (c.fetch !== undefined && typeof c.fetch !== "function") fail("fetch", "expected a function");
  if (typeof c.pathways !== "object" || c.pathways === null || Array.isArray(c.pathways))
    fail("pathways", "expected an object of pathway id to origin base URL");
  for (const [id, o] of Object.entries(c.pathways))
    if (!c.origins.some((x) => x.url === o))
      fail(`pathways.${id}`, `expected one of the configured origins, got ${String(o)}`);
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
  if (!["fastest", "weighted", "round-robin"].includes(h.originPolicy))
    fail("http.originPolicy", `expected "fastest", "weighted" or "round-robin"`);
  checkNumber("http.splitDeadlineShare", h.splitDeadlineShare, 0, 1);
  checkNumber("http.badSegmentMemoryMs", h.badSegmentMemoryMs, 0);
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
  if (p.transport !== "rtc" && typeof p.transport !== "function")
    fail("p2p.transport", `expected "rtc" or a function returning a PeerTransport`);
  const d = p.defense;
  for (const k of [
    "announceFramesPerSec",
    "announceFramesBurst",
    "announceEntriesPerSec",
    "announceEntriesBurst",
    "requestsPerSec",
    "requestsBurst",
    "textMessagesPerSec",
    "textMessagesBurst",
  ] as const)
    checkNumber(`p2p.defense.${k}`, d[k], 1);
  checkNumber("p2p.defense.maxStalls", d.maxStalls, 1);
  checkNumber("p2p.defense.cooldownMs", d.cooldownMs, 0);
  checkNumber("p2p.defense.uploadPerPeerBytesPerSec", d.uploadPerPeerBytesPerSec, 0);
  checkNumber("p2p.defense.giveBackWeight", d.giveBackWeight, 1, 100);
  checkNumber("p2p.defense.maxServesPerSegment", d.maxServesPerSegment, 1);
  checkNumber("p2p.defense.maxPeersPerAddress", d.maxPeersPerAddress, 1);
  if (typeof d.exemptPrivateAddresses !== "boolean")
    fail("p2p.defense.exemptPrivateAddresses", "expected a boolean");
  checkNumber("p2p.defense.idleMs", d.idleMs, 1);
  checkNumber("p2p.defense.minUsefulPeers", d.minUsefulPeers, 0);
  if (p.iceServers !== undefined) {
    const r = checkIceServers(p.iceServers, "p2p.iceServers");
    if (!r.ok) fail("p2p.iceServers", r.error);
  }
  if (p.iceServersUrl !== undefined)
    checkUrl("p2p.iceServersUrl", p.iceServersUrl, ["http:", "https:"]);
  if (typeof p.allowRelay !== "boolean") fail("p2p.allowRelay", "expected a boolean");
  checkRetry("p2p.connectRetry", p.connectRetry);
  checkNumber("p2p.joinDelayMaxMs", p.joinDelayMaxMs, 0, 60_000);
  checkNumber("p2p.uploadPauseAfterStallMs", p.uploadPauseAfterStallMs, 0, 600_000);
  checkNumber("p2p.mainThreadLagMs", p.mainThreadLagMs, 0, 60_000);
  return c;
}
