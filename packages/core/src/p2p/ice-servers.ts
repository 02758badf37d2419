/**
 * ICE servers (STUN/TURN) for peer connections: the explicit `p2p.iceServers`, or a list
 * fetched from `p2p.iceServersUrl` (the signaling server's `GET /ice`, with time-limited TURN
 * credentials), cached until it expires and refreshed before. A fetch that fails, times out or
 * returns anything but a valid list falls back to the explicit list with a warning; nothing
 * here ever blocks playback (peer creation waits at most {@link ICE_SERVERS_WAIT_MS}).
 */
import type { Clock } from "../clock.js";
import type { P2PConfig } from "../config.js";
import type { HivecastWarning, WarningKind } from "../events.js";

/** Longest wait of a new swarm's first peer connections for the first fetch, ms. */
export const ICE_SERVERS_WAIT_MS = 1500;
/** One fetch of `p2p.iceServersUrl` is abandoned after this, ms. */
export const ICE_FETCH_TIMEOUT_MS = 5000;
/** Largest `p2p.iceServersUrl` response accepted, bytes. */
export const MAX_ICE_RESPONSE_BYTES = 64 * 1024;
/** Most ICE servers in a list (explicit or fetched). */
export const MAX_ICE_SERVERS = 32;
/** Longest ICE server URL, username or credential, characters. */
export const MAX_ICE_FIELD_CHARS = 1024;
/** A fetched list is refreshed after this share of its lifetime (minus up to 10 % jitter). */
export const ICE_REFRESH_SHARE = 0.8;
/** Refreshes are at least this far apart, ms. */
export const MIN_ICE_REFRESH_MS = 10_000;
/** A fetched list without `ttlSeconds`/`expiresAt` is refreshed this often, ms. */
export const DEFAULT_ICE_REFRESH_MS = 60 * 60 * 1000;
/** After a failed fetch, the next try comes after this (doubling, up to the max), ms. */
export const ICE_RETRY_MS = 30_000;
/** Longest wait between tries after failures, ms. */
export const MAX_ICE_RETRY_MS = 10 * 60 * 1000;

const SCHEME = /^(stun|stuns|turn|turns):[^\s]+$/i;
const TURN = /^turns?:/i;

/**
 * Validates one untrusted ICE server entry; returns it (a fresh object with only the known
 * fields) or why not. `field` names it in the message (e.g. `p2p.iceServers[2]`).
 */
export function checkIceServer(
  value: unknown,
  field: string,
): { ok: true; server: RTCIceServer } | { ok: false; error: string } {
  const bad = (why: string): { ok: false; error: string } => ({
    ok: false,
    error: `${field}${why}`,
  });
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return bad(": expected an object with `urls`");
  const rawUrls: unknown = Reflect.get(value, "urls");
  const list: unknown[] = Array.isArray(rawUrls) ? rawUrls : [rawUrls];
  if (list.length === 0 || list.length > MAX_ICE_SERVERS)
    return bad(`.urls: expected 1 to ${MAX_ICE_SERVERS} URLs`);
  const urls: string[] = [];
  let turn = false;
  for (const [i, u] of list.entries()) {
    const at = Array.isArray(rawUrls) ? `.urls[${i}]` : ".urls";
    if (typeof u !== "string") return bad(`${at}: expected a string`);
    if (u.length > MAX_ICE_FIELD_CHARS || !SCHEME.test(u))
      return bad(`${at}: expected a stun:, stuns:, turn: or turns: URL`);
    turn ||= TURN.test(u);
    urls.push(u);
  }
  const server: RTCIceServer = { urls: Array.isArray(rawUrls) ? urls : (urls[0] ?? "") };
  for (const k of ["username", "credential"] as const) {
    const v: unknown = Reflect.get(value, k);
    if (v === undefined) continue;
    if (typeof v !== "string" || v.length > MAX_ICE_FIELD_CHARS)
      return bad(`.${k}: expected a string`);
    server[k] = v;
  }
  if (turn && (server.username === undefined || server.credential === undefined))
    return bad(": a turn: or turns: server needs `username` and `credential`");
  return { ok: true, server };
}

/** Validates an untrusted list of ICE servers. */
export function checkIceServers(
  value: unknown,
  field: string,
): { ok: true; servers: RTCIceServer[] } | { ok: false; error: string } {
  if (!Array.isArray(value)) return { ok: false, error: `${field}: expected an array` };
  if (value.length > MAX_ICE_SERVERS)
    return { ok: false, error: `${field}: more than ${MAX_ICE_SERVERS} servers` };
  const servers: RTCIceServer[] = [];
  for (const [i, v] of value.entries()) {
    const r = checkIceServer(v, `${field}[${i}]`);
    if (!r.ok) return r;
    servers.push(r.server);
  }
  return { ok: true, servers };
}

/** A parsed `GET /ice` reply. */
export interface IceServersReply {
  iceServers: RTCIceServer[];
  /** How long the list (its TURN credentials) stays valid, ms; undefined when not said. */
  ttlMs: number | undefined;
}

/**
 * Parses the body of an ICE servers reply: JSON `{ iceServers, ttlSeconds?, expiresAt? }`
 * (`expiresAt` in unix seconds, read against `nowUnixMs` when there is no `ttlSeconds`).
 */
export function parseIceServersReply(
  text: string,
  nowUnixMs: number,
): { ok: true; reply: IceServersReply } | { ok: false; error: string } {
  if (text.length > MAX_ICE_RESPONSE_BYTES) return { ok: false, error: "reply too large" };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, error: "reply is not JSON" };
  }
  if (typeof json !== "object" || json === null || Array.isArray(json))
    return { ok: false, error: "reply is not a JSON object" };
  const list = checkIceServers(Reflect.get(json, "iceServers"), "iceServers");
  if (!list.ok) return list;
  const ttl: unknown = Reflect.get(json, "ttlSeconds");
  const expiresAt: unknown = Reflect.get(json, "expiresAt");
  let ttlMs: number | undefined;
  if (ttl !== undefined) {
    if (typeof ttl !== "number" || !Number.isFinite(ttl) || ttl <= 0)
      return { ok: false, error: "ttlSeconds: expected a positive number" };
    ttlMs = ttl * 1000;
  } else if (expiresAt !== undefined) {
    if (typeof expiresAt !== "number" || !Number.isFinite(expiresAt))
      return { ok: false, error: "expiresAt: expected unix seconds" };
    ttlMs = expiresAt * 1000 - nowUnixMs;
    if (ttlMs <= 0) return { ok: false, error: "the list has expired already" };
  }
  return { ok: true, reply: { iceServers: list.servers, ttlMs } };
}

/** Reads a response body as text, refusing more than `max` bytes. */
async function readBounded(res: Response, max: number): Promise<string> {
  const declared = Number(res.headers.get("content-length") ?? "");
  if (Number.isFinite(declared) && declared > max) throw new Error("reply too large");
  const body = res.body;
  if (!body) {
    const t = await res.text();
    if (t.length > max) throw new Error("reply too large");
    return t;
  }
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      void reader.cancel().catch(() => undefined);
      throw new Error("reply too large");
    }
    chunks.push(value);
  }
  const all = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  return new TextDecoder().decode(all);
}

/** `p`, or a rejection as soon as `signal` aborts. */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new Error("aborted"));
    if (signal.aborted) onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** Whether `servers` name at least one STUN or TURN URL. */
function hasAnyUrl(servers: readonly RTCIceServer[]): boolean {
  return servers.some((s) => (Array.isArray(s.urls) ? s.urls.length > 0 : s.urls !== ""));
}

/** `servers` without TURN URLs (servers left with no URL are dropped). */
export function withoutTurn(servers: readonly RTCIceServer[]): RTCIceServer[] {
  const out: RTCIceServer[] = [];
  for (const s of servers) {
    const urls = (Array.isArray(s.urls) ? s.urls : [s.urls]).filter((u) => !TURN.test(u));
    if (urls.length > 0) out.push({ ...s, urls });
  }
  return out;
}

/** Options of an {@link IceServerProvider}. */
export interface IceServerProviderOptions {
  config: P2PConfig;
  clock: Clock;
  random: () => number;
  /** Fetches `config.iceServersUrl`. @default globalThis.fetch (read at use) */
  fetch?: typeof fetch | undefined;
  /** Unix time, ms (only to read a reply's `expiresAt`). @default Date.now */
  now?: () => number;
  onWarning(kind: WarningKind, message: string, details?: HivecastWarning["details"]): void;
}

/** The ICE servers in use, kept fresh. Nothing happens before {@link start}. */
export class IceServerProvider {
  private readonly opts: IceServerProviderOptions;
  private fetched: RTCIceServer[] | undefined;
  /** Engine-clock time the fetched list expires (Infinity when the reply said nothing). */
  private fetchedUntil = Number.POSITIVE_INFINITY;
  private firstFetch: Promise<void> | undefined;
  private settled = false;
  private failures = 0;
  private timer: unknown;
  private started = false;
  private destroyed = false;
  private warnedMissing = false;
  /** Pending {@link ready} waits: timer and resolver (released on destroy). */
  private readonly waits = new Map<unknown, () => void>();
  private readonly lifetime = new AbortController();

  constructor(opts: IceServerProviderOptions) {
    this.opts = opts;
  }

  /** Starts fetching `p2p.iceServersUrl` (if set). Idempotent. */
  start(): void {
    if (this.started || this.destroyed) return;
    this.started = true;
    if (this.opts.config.iceServersUrl === undefined) {
      this.settled = true;
      return;
    }
    this.firstFetch = this.fetchOnce().finally(() => {
      this.settled = true;
    });
  }

  /**
   * Undefined when peer connections may be created now; else a promise that resolves when the
   * first fetch is done or {@link ICE_SERVERS_WAIT_MS} passed, whichever is first. Never rejects.
   */
  ready(): Promise<void> | undefined {
    this.start();
    const first = this.firstFetch;
    if (this.settled || !first) return undefined;
    return new Promise<void>((resolve) => {
      const { clock } = this.opts;
      const done = (): void => {
        clock.clearTimeout(h);
        this.waits.delete(h);
        resolve();
      };
      const h = clock.setTimeout(done, ICE_SERVERS_WAIT_MS);
      this.waits.set(h, done);
      void first.then(done);
    });
  }

  /** The ICE servers to use now: fetched (while valid), else explicit, else `rtcConfig`'s. */
  servers(): RTCIceServer[] {
    const c = this.opts.config;
    const fetched =
      this.fetched && this.opts.clock.now() < this.fetchedUntil ? this.fetched : undefined;
    const list = fetched ?? c.iceServers ?? c.rtcConfig.iceServers ?? [];
    return c.allowRelay ? [...list] : withoutTurn(list);
  }

  /**
   * The configuration of a new peer connection: `p2p.rtcConfig` with {@link servers} as its
   * `iceServers`. Warns once ("ice-servers-missing") when there is no STUN/TURN server at all.
   */
  rtcConfig(): RTCConfiguration {
    const iceServers = this.servers();
    if (!hasAnyUrl(iceServers) && !this.warnedMissing && !this.destroyed) {
      this.warnedMissing = true;
      this.opts.onWarning(
        "ice-servers-missing",
        "P2P is on without any STUN or TURN server: only viewers on the same network can connect " +
          "(set p2p.iceServers or p2p.iceServersUrl)",
      );
    }
    return { ...this.opts.config.rtcConfig, iceServers };
  }

  /** Stops refreshing; a fetch in flight is aborted. Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.lifetime.abort();
    if (this.timer !== undefined) this.opts.clock.clearTimeout(this.timer);
    this.timer = undefined;
    for (const done of [...this.waits.values()]) done();
  }

  private schedule(ms: number): void {
    if (this.destroyed) return;
    if (this.timer !== undefined) this.opts.clock.clearTimeout(this.timer);
    this.timer = this.opts.clock.setTimeout(() => {
      this.timer = undefined;
      void this.fetchOnce();
    }, ms);
  }

  private async fetchOnce(): Promise<void> {
    const url = this.opts.config.iceServersUrl;
    if (url === undefined || this.destroyed) return;
    const { clock, random } = this.opts;
    const ac = new AbortController();
    const onDestroy = (): void => ac.abort();
    this.lifetime.signal.addEventListener("abort", onDestroy, { once: true });
    const timeout = clock.setTimeout(() => ac.abort(), ICE_FETCH_TIMEOUT_MS);
    let error: string;
    try {
      const f = this.opts.fetch ?? globalThis.fetch;
      if (typeof f !== "function") throw new Error("no fetch implementation");
      // Raced with the signal too: a fetch (or body) that ignores it still ends in time.
      const text = await abortable(
        (async () => {
          const res = await f(url, { signal: ac.signal, credentials: "omit", cache: "no-store" });
          if (!res.ok) throw new Error(`HTTP ${res.status}`);
          return readBounded(res, MAX_ICE_RESPONSE_BYTES);
        })(),
        ac.signal,
      );
      const parsed = parseIceServersReply(text, (this.opts.now ?? Date.now)());
      if (parsed.ok) {
        if (this.destroyed) return;
        const { iceServers, ttlMs } = parsed.reply;
        this.fetched = iceServers;
        this.fetchedUntil = ttlMs === undefined ? Number.POSITIVE_INFINITY : clock.now() + ttlMs;
        this.failures = 0;
        const life = ttlMs ?? DEFAULT_ICE_REFRESH_MS / ICE_REFRESH_SHARE;
        this.schedule(
          Math.max(
            Math.min(MIN_ICE_REFRESH_MS, life / 2),
            life * (ICE_REFRESH_SHARE - 0.1 * random()),
          ),
        );
        return;
      }
      error = parsed.error;
    } catch (e) {
      error = ac.signal.aborted && !this.destroyed ? "timed out" : String(e);
    } finally {
      clock.clearTimeout(timeout);
      this.lifetime.signal.removeEventListener("abort", onDestroy);
    }
    if (this.destroyed) return;
    const retryMs = Math.min(MAX_ICE_RETRY_MS, ICE_RETRY_MS * 2 ** Math.min(this.failures, 20));
    this.failures++;
    const stillValid = this.fetched !== undefined && clock.now() < this.fetchedUntil;
    this.opts.onWarning(
      "ice-servers-unavailable",
      `ICE servers from ${url}: ${error}; ` +
        (stillValid
          ? "keeping the list fetched before until it expires"
          : "using p2p.iceServers / p2p.rtcConfig"),
      { url, error },
    );
    // Retry, but no later than a little before the list we still hold runs out.
    const untilExpiry = this.fetchedUntil - clock.now();
    this.schedule(
      Math.max(
        1000,
        Math.min(retryMs * (0.75 + 0.5 * random()), stillValid ? untilExpiry * 0.5 : Infinity),
      ),
    );
  }
}
