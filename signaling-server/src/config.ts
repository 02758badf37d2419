import { isIP } from "node:net";
import { normalizeIp } from "./address.js";
import { SignalingError } from "./errors.js";
import { MAX_ICE_URLS, isTurn, parseIceServerUrl } from "./ice.js";

/** Log levels, most verbose first. `silent` logs nothing. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

/** Which client addresses the per-address peer limit applies to. */
export type IpRuleScope = "public" | "all";

/** Every setting of the signaling server. Users pass `Partial<SignalingConfig>`. */
export interface SignalingConfig {
  /**
   * TCP port. `0` picks a free port (tests).
   * @default 8090
   */
  port: number;
  /**
   * Interface to bind. Loopback by default so that a forgotten flag never exposes the tracker;
   * operators put a TLS reverse proxy in front (for `wss://`) or pass `--host 0.0.0.0`.
   * @default "127.0.0.1"
   */
  host: string;
  /**
   * Largest WebSocket message accepted, in bytes; larger ones close the socket with 1009.
   * @default 65536
   */
  maxPayload: number;
  /**
   * Sustained messages per second one connection may send (token bucket refill rate).
   * @default 20
   */
  messageRatePerSecond: number;
  /**
   * Token bucket size: messages a connection may send in a burst.
   * @default 60
   */
  messageBurst: number;
  /**
   * Messages dropped by the rate limit before the connection is closed (1008).
   * @default 200
   */
  maxRateLimitedMessages: number;
  /**
   * Malformed / refused messages before the connection is closed (1008).
   * @default 20
   */
  maxInvalidMessages: number;
  /**
   * Swarms (info hashes) one connection may be in at once; also caps the peer ids it may own.
   * @default 16
   */
  maxSwarmsPerConnection: number;
  /**
   * Peers in one swarm; announces beyond it get a `failure reason`.
   * @default 10000
   */
  maxPeersPerSwarm: number;
  /**
   * Peers one client address may have in one swarm (different peer ids, e.g. one attacker's
   * sybil identities); more announces get a `failure reason`. `0` = no limit. Generous by
   * default because one address may be a whole carrier NAT or office; private addresses are
   * exempt unless `ipRuleScope` is `all`. Offers are spread over addresses in any case.
   * @default 64
   */
  maxPeersPerIp: number;
  /**
   * Which addresses `maxPeersPerIp` applies to: `public` exempts loopback, RFC 1918, CGNAT,
   * link-local and unique-local addresses (a demo on one machine, a classroom on one LAN, or a
   * proxy in front that is not listed in `trustedProxies`); `all` applies it to every address.
   * @default "public"
   */
  ipRuleScope: IpRuleScope;
  /**
   * Addresses of reverse proxies in front of the server (exact IPs): for connections from them
   * the client address is the right-most `X-Forwarded-For` entry that is not a trusted proxy.
   * Empty = the TCP peer's address is the client's.
   * @default []
   */
  trustedProxies: readonly string[];
  /**
   * Swarms on the whole server.
   * @default 100000
   */
  maxSwarms: number;
  /**
   * Open WebSocket connections on the whole server; more are refused at the upgrade (503).
   * @default 100000
   */
  maxConnections: number;
  /**
   * Offers relayed per announce (extra offers are ignored, like a smaller `numwant`).
   * @default 10
   */
  maxOffers: number;
  /**
   * Largest SDP string in an offer or answer, in UTF-8 bytes.
   * @default 16384
   */
  maxSdpBytes: number;
  /**
   * Offers remembered per receiving connection while waiting for an answer (oldest dropped).
   * An answer is looked up among these, newest first, so the range stops at 4096.
   * @default 64
   */
  maxPendingOffers: number;
  /**
   * How long an offer can be answered, in ms (the WebTorrent client gives up after 50 s).
   * @default 60000
   */
  offerTtlMs: number;
  /**
   * A connection that sends no message for this long is closed (4000). Must be at least twice
   * the announce interval so that a healthy client is never reaped.
   * @default 300000
   */
  idleTimeoutMs: number;
  /**
   * Ping period; a socket that has not answered the previous ping is terminated. Two periods
   * must fit in `idleTimeoutMs`.
   * @default 30000
   */
  pingIntervalMs: number;
  /**
   * Re-announce interval told to clients (`interval` in replies), in seconds.
   * @default 120
   */
  announceIntervalS: number;
  /**
   * Relays to a connection whose send buffer exceeds this many bytes are dropped (slow reader).
   * @default 1048576
   */
  maxBufferedBytes: number;
  /**
   * Allowed `Origin` header values (exact match, e.g. `https://example.com`). Empty = any origin.
   * When set, upgrades without an `Origin` header are refused too.
   * @default []
   */
  allowedOrigins: readonly string[];
  /**
   * HMAC-SHA256 secret for signed tokens (`?token=` on the WebSocket URL, see
   * `createSignalingToken`). `null` = no token required.
   * @default null
   */
  tokenSecret: string | null;
  /**
   * On `close()`, sockets still open after this many ms are terminated.
   * @default 5000
   */
  shutdownTimeoutMs: number;
  /**
   * Structured (JSON lines, stderr) log level.
   * @default "info"
   */
  logLevel: LogLevel;
  /**
   * STUN/TURN URLs served on `GET /ice` (`stun:`, `stuns:`, `turn:`, `turns:`, a host, an
   * optional port, `?transport=udp|tcp` on TURN URLs), at most 16. Empty = `/ice` answers 404.
   * @default []
   */
  iceServers: readonly string[];
  /**
   * Shared secret of the TURN server (coturn `static-auth-secret` with `use-auth-secret`): each
   * `GET /ice` mints TURN credentials valid for `turnTtlS`. Required when `iceServers` has a
   * `turn:`/`turns:` URL; at least 16 characters. Prefer the `HIVECAST_TURN_SECRET` environment
   * variable to the flag, which other users can read in the process list.
   * @default null
   */
  turnSecret: string | null;
  /**
   * Lifetime of minted TURN credentials, in seconds (a TURN allocation made before expiry keeps
   * running; only new allocations and refreshes need a valid credential).
   * @default 86400
   */
  turnTtlS: number;
}

/** The defaults, frozen. Every field is documented on {@link SignalingConfig}. */
export const DEFAULT_CONFIG: Readonly<SignalingConfig> = Object.freeze({
  port: 8090,
  host: "127.0.0.1",
  maxPayload: 64 * 1024,
  messageRatePerSecond: 20,
  messageBurst: 60,
  maxRateLimitedMessages: 200,
  maxInvalidMessages: 20,
  maxSwarmsPerConnection: 16,
  maxPeersPerSwarm: 10_000,
  maxPeersPerIp: 64,
  ipRuleScope: "public",
  trustedProxies: Object.freeze([]) as readonly string[],
  maxSwarms: 100_000,
  maxConnections: 100_000,
  maxOffers: 10,
  maxSdpBytes: 16 * 1024,
  maxPendingOffers: 64,
  offerTtlMs: 60_000,
  idleTimeoutMs: 300_000,
  pingIntervalMs: 30_000,
  announceIntervalS: 120,
  maxBufferedBytes: 1024 * 1024,
  allowedOrigins: Object.freeze([]) as readonly string[],
  tokenSecret: null,
  shutdownTimeoutMs: 5_000,
  logLevel: "info",
  iceServers: Object.freeze([]) as readonly string[],
  turnSecret: null,
  turnTtlS: 86_400,
});

/** An IPv4 or IPv6 address (brackets and IPv4-mapped forms allowed). */
function isIp(s: string): boolean {
  return isIP(normalizeIp(s)) !== 0;
}

const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error", "silent"];

/** Integer fields with their inclusive bounds. */
const INT_BOUNDS: ReadonlyArray<readonly [keyof SignalingConfig, number, number]> = [
  ["port", 0, 65535],
  ["maxPayload", 1024, 16 * 1024 * 1024],
  ["messageBurst", 1, 1_000_000],
  ["maxRateLimitedMessages", 1, Number.MAX_SAFE_INTEGER],
  ["maxInvalidMessages", 1, Number.MAX_SAFE_INTEGER],
  ["maxSwarmsPerConnection", 1, 10_000],
  ["maxPeersPerSwarm", 1, 10_000_000],
  ["maxPeersPerIp", 0, 10_000_000],
  ["maxSwarms", 1, 100_000_000],
  ["maxConnections", 1, 100_000_000],
  ["maxOffers", 0, 1000],
  ["maxSdpBytes", 16, 16 * 1024 * 1024],
  ["maxPendingOffers", 1, 4096],
  ["offerTtlMs", 1, 86_400_000],
  ["idleTimeoutMs", 10, 86_400_000],
  ["pingIntervalMs", 5, 86_400_000],
  ["announceIntervalS", 1, 86_400],
  ["maxBufferedBytes", 1, Number.MAX_SAFE_INTEGER],
  ["shutdownTimeoutMs", 0, 3_600_000],
  ["turnTtlS", 60, 604_800],
];

function bad(field: string, why: string): SignalingError {
  return new SignalingError("config_invalid", `signaling config: \`${field}\` ${why}`);
}

/**
 * Merges `partial` over {@link DEFAULT_CONFIG} and validates every field once.
 * @throws SignalingError `config_invalid` naming the first bad field.
 */
export function resolveConfig(partial: Partial<SignalingConfig> = {}): Readonly<SignalingConfig> {
  const known = new Set(Object.keys(DEFAULT_CONFIG));
  for (const key of Object.keys(partial)) {
    if (!known.has(key)) throw bad(key, "is not a known option");
  }
  const defined = Object.fromEntries(
    Object.entries(partial).filter(([, v]) => v !== undefined),
  ) as Partial<SignalingConfig>;
  const c: SignalingConfig = { ...DEFAULT_CONFIG, ...defined };
  for (const [field, min, max] of INT_BOUNDS) {
    const v = c[field];
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      throw bad(field, `must be an integer in [${min}, ${max}], got ${String(v)}`);
    }
  }
  if (
    typeof c.messageRatePerSecond !== "number" ||
    !Number.isFinite(c.messageRatePerSecond) ||
    c.messageRatePerSecond <= 0
  ) {
    throw bad("messageRatePerSecond", "must be a positive number");
  }
  if (typeof c.host !== "string" || c.host.length === 0)
    throw bad("host", "must be a non-empty string");
  if (!LOG_LEVELS.includes(c.logLevel))
    throw bad("logLevel", `must be one of ${LOG_LEVELS.join(", ")}`);
  if (c.ipRuleScope !== "public" && c.ipRuleScope !== "all")
    throw bad("ipRuleScope", "must be public or all");
  if (
    !Array.isArray(c.trustedProxies) ||
    !c.trustedProxies.every((p) => typeof p === "string" && isIp(p))
  ) {
    throw bad("trustedProxies", "must be an array of IP addresses");
  }
  if (
    !Array.isArray(c.allowedOrigins) ||
    !c.allowedOrigins.every((o) => typeof o === "string" && o.length > 0)
  ) {
    throw bad("allowedOrigins", "must be an array of non-empty strings");
  }
  if (c.tokenSecret !== null && (typeof c.tokenSecret !== "string" || c.tokenSecret.length < 16)) {
    throw bad("tokenSecret", "must be null or a string of at least 16 characters");
  }
  if (c.pingIntervalMs * 2 > c.idleTimeoutMs) {
    throw bad(
      "pingIntervalMs",
      "must be at most half of idleTimeoutMs (half-open sockets are reaped within it)",
    );
  }
  if (c.announceIntervalS * 1000 * 2 > c.idleTimeoutMs) {
    throw bad(
      "idleTimeoutMs",
      "must be at least twice announceIntervalS, or healthy clients get reaped",
    );
  }
  checkIce(c);
  return Object.freeze({
    ...c,
    allowedOrigins: Object.freeze([...c.allowedOrigins]),
    trustedProxies: Object.freeze([...c.trustedProxies]),
    iceServers: Object.freeze([...c.iceServers]),
  });
}

/** An ICE config error naming the field and its flag. */
function badIce(field: "iceServers" | "turnSecret", flag: string, why: string): SignalingError {
  return bad(field, `(${flag}) ${why}`);
}

/** `iceServers` (each URL parsed) and `turnSecret` belong together. */
function checkIce(c: SignalingConfig): void {
  const urls: unknown = c.iceServers;
  if (!Array.isArray(urls) || !urls.every((u) => typeof u === "string")) {
    throw badIce("iceServers", "--ice-servers", "must be an array of STUN/TURN URLs");
  }
  if (urls.length > MAX_ICE_URLS) {
    throw badIce("iceServers", "--ice-servers", `has more than ${MAX_ICE_URLS} URLs`);
  }
  let turn = false;
  for (const raw of urls as string[]) {
    const u = parseIceServerUrl(raw);
    if (typeof u === "string") {
      throw badIce("iceServers", "--ice-servers", `entry ${JSON.stringify(raw)} ${u}`);
    }
    turn ||= isTurn(u);
  }
  const secret: unknown = c.turnSecret;
  if (secret !== null && (typeof secret !== "string" || secret.length < 16)) {
    throw badIce(
      "turnSecret",
      "--turn-secret",
      "must be null or a string of at least 16 characters",
    );
  }
  if (turn && secret === null) {
    throw badIce(
      "turnSecret",
      "--turn-secret",
      "is required with turn:/turns: URLs in iceServers (coturn use-auth-secret)",
    );
  }
  if (!turn && secret !== null) {
    throw badIce("turnSecret", "--turn-secret", "is set but iceServers has no turn:/turns: URL");
  }
}
