import { createHmac, randomBytes } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";

/**
 * ICE servers handed to viewers (`GET /ice`): STUN/TURN URL validation and time-limited TURN
 * credentials in the "TURN REST API" scheme coturn implements with `use-auth-secret`:
 * username `<unix expiry>:<id>`, credential `base64(HMAC-SHA1(secret, username))`.
 */

/** URL schemes an ICE server may use (RFC 7064, RFC 7065). */
export type IceScheme = "stun" | "stuns" | "turn" | "turns";

/** A validated STUN/TURN URL. */
export interface IceServerUrl {
  /** The URL as handed to browsers (scheme lower-cased, otherwise as given). */
  url: string;
  scheme: IceScheme;
  /** Host name, IPv4 address or bracketed IPv6 address. */
  host: string;
  /** Port, or `null` for the scheme's default (3478, or 5349 for stuns/turns). */
  port: number | null;
  /** `?transport=` of a TURN URL, or `null`. */
  transport: "udp" | "tcp" | null;
}

/** One entry of the `iceServers` list, shaped like the browser's `RTCIceServer`. */
export interface IceServerEntry {
  urls: string[];
  username?: string;
  credential?: string;
}

/** The JSON body of `GET /ice`. */
export interface IceResponse {
  /** Pass as `RTCConfiguration.iceServers`. */
  iceServers: IceServerEntry[];
  /** How long the TURN credentials are valid from now, in seconds. */
  ttlSeconds: number;
  /** When the TURN credentials expire, Unix time in seconds (the username's first part). */
  expiresAt: number;
}

/** A minted TURN REST credential. */
export interface TurnCredential {
  username: string;
  credential: string;
  /** Unix time in seconds. */
  expiresAt: number;
}

/** Longest ICE URL accepted. */
export const MAX_ICE_URL_CHARS = 512;
/** Most ICE URLs one server hands out. */
export const MAX_ICE_URLS = 16;

const LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
const ICE_URL = new RegExp(
  `^(stuns?|turns?):(\\[[0-9A-Fa-f:.]+\\]|${LABEL}(?:\\.${LABEL})*)(?::([0-9]{1,5}))?(?:\\?transport=(udp|tcp))?$`,
  "i",
);

/**
 * Parses one STUN/TURN URL: `stun:`, `stuns:`, `turn:` or `turns:`, a host (name, IPv4 or
 * `[IPv6]`), an optional port and, for TURN only, an optional `?transport=udp|tcp`.
 * @returns the parsed URL, or a sentence saying why it is refused. Never throws.
 */
export function parseIceServerUrl(raw: string): IceServerUrl | string {
  if (typeof raw !== "string" || raw.length === 0) return "is empty";
  if (raw.length > MAX_ICE_URL_CHARS) return `is longer than ${MAX_ICE_URL_CHARS} characters`;
  const m = ICE_URL.exec(raw);
  if (m === null) {
    if (!/^(stuns?|turns?):/i.test(raw)) return "must start with stun:, stuns:, turn: or turns:";
    if (/^[a-z]+:\/\//i.test(raw))
      return 'must not have "//" after the scheme (e.g. turn:host:3478)';
    return "must be <scheme>:<host>[:<port>][?transport=udp|tcp]";
  }
  const scheme = (m[1] ?? "").toLowerCase() as IceScheme;
  const host = m[2] ?? "";
  if (host.startsWith("[")) {
    if (!isIPv6(host.slice(1, -1))) return `has a bad IPv6 address ${host}`;
  } else if (/^[0-9.]+$/.test(host) && !isIPv4(host)) {
    return `has a bad IPv4 address ${host}`;
  }
  let port: number | null = null;
  if (m[3] !== undefined) {
    port = Number(m[3]);
    if (port < 1 || port > 65535) return `has a port out of [1, 65535]: ${m[3]}`;
  }
  const transport = m[4] === undefined ? null : (m[4].toLowerCase() as "udp" | "tcp");
  if (transport !== null && (scheme === "stun" || scheme === "stuns")) {
    return "is a STUN URL: ?transport= is for TURN URLs only";
  }
  return { url: scheme + raw.slice(scheme.length), scheme, host, port, transport };
}

/** True for `turn:` and `turns:` URLs (the ones that need credentials). */
export function isTurn(u: IceServerUrl): boolean {
  return u.scheme === "turn" || u.scheme === "turns";
}

/** Ids safe to put after the `:` of a TURN REST username. */
const SAFE_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Mints a TURN REST credential valid for `ttlS` seconds from `nowMs`: username
 * `<expiry>:<id>`, credential `base64(HMAC-SHA1(secret, username))`, as coturn checks it with
 * `use-auth-secret` and the same `static-auth-secret`. An `id` that is not 1–64 characters of
 * `[A-Za-z0-9._-]` is replaced by a random one.
 */
export function mintTurnCredential(
  secret: string,
  ttlS: number,
  nowMs: number,
  id?: string,
): TurnCredential {
  const expiresAt = Math.floor(nowMs / 1000) + ttlS;
  const who = id !== undefined && SAFE_ID.test(id) ? id : randomBytes(8).toString("hex");
  const username = `${expiresAt}:${who}`;
  const credential = createHmac("sha1", secret).update(username).digest("base64");
  return { username, credential, expiresAt };
}

/**
 * Builds the `GET /ice` body: STUN URLs in one entry without credentials, TURN URLs in one
 * entry with fresh credentials (when `turnSecret` is set).
 */
export function buildIceResponse(
  urls: readonly IceServerUrl[],
  turnSecret: string | null,
  ttlS: number,
  nowMs: number,
  id?: string,
): IceResponse {
  const stun = urls.filter((u) => !isTurn(u)).map((u) => u.url);
  const turn = urls.filter(isTurn).map((u) => u.url);
  const iceServers: IceServerEntry[] = [];
  if (stun.length > 0) iceServers.push({ urls: stun });
  let expiresAt = Math.floor(nowMs / 1000) + ttlS;
  if (turn.length > 0) {
    if (turnSecret === null) {
      iceServers.push({ urls: turn });
    } else {
      const c = mintTurnCredential(turnSecret, ttlS, nowMs, id);
      expiresAt = c.expiresAt;
      iceServers.push({ urls: turn, username: c.username, credential: c.credential });
    }
  }
  return { iceServers, ttlSeconds: ttlS, expiresAt };
}
