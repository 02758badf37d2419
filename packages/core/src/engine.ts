import { abortedError, childController, destroyedError, throwIfAborted } from "./abort.js";
import { type Clock, systemClock } from "./clock.js";
import { type Config, resolveConfig, type UserConfig } from "./config.js";
import { HivecastError, isHivecastError } from "./errors.js";
import { type HivecastEvents, TypedEmitter } from "./events.js";
import { WarningLimiter } from "./warning-limiter.js";
import { IntegrityIndex } from "./integrity-index.js";
import { OriginPool, type PoolResult } from "./origin-pool.js";
import { resourceId } from "./origin-url.js";
import type {
  PeerDownload,
  PeerPartial,
  PeerHost,
  PeerSegmentSource,
  PeerSegmentSourceFactory,
  PlaylistInfo,
  SegmentKey,
} from "./p2p/contract.js";
import { parsePlaylist } from "./playlist-parser.js";
import { createPeerSegmentSource } from "./p2p/peer-segment-source.js";
import { isSha256Hex, sha256Hex } from "./sha256.js";
import { SegmentStore } from "./segment-store.js";
import type {
  ByteRange,
  HivecastStats,
  LoadOptions,
  LoadTiming,
  PlaylistLoadOptions,
  PlaylistResult,
  SegmentRequest,
  SegmentResult,
} from "./types.js";

/** Everything the engine takes from its environment; each is replaceable for tests. */
export interface EngineDeps {
  /** @default globalThis.fetch */
  fetch: typeof fetch;
  /** @default the system clock (performance.now + global timers) */
  clock: Clock;
  /** Source of jitter. @default Math.random */
  random: () => number;
  /** SHA-256 as 64 lowercase hex digits. @default WebCrypto */
  sha256: (data: Uint8Array) => Promise<string>;
  /** Builds the P2P layer once P2P is enabled (consent). @default the WebRTC P2P layer; `undefined` = HTTP only */
  peerSourceFactory: PeerSegmentSourceFactory | undefined;
}

/** Peers' budget when the player gave no deadline: short, so HTTP is never much delayed. */
const NO_DEADLINE_PEER_BUDGET_MS = 500;
/** HTTP estimate before any origin was measured. */
const UNKNOWN_HTTP_ESTIMATE_MS = 2000;
/** The HTTP fallback after peers gets its expected time × this, plus the margin below. */
const HTTP_SAFETY_FACTOR = 1.5;
const HTTP_SAFETY_MARGIN_MS = 300;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function freezeConfig(c: Config): Readonly<Config> {
  return Object.freeze({
    ...c,
    http: Object.freeze({ ...c.http }),
    p2p: Object.freeze({ ...c.p2p }),
  });
}

/** Peer links by type and failures by cause (zeros without P2P). */
function linkStatsOf(
  peers: PeerSegmentSource | undefined,
): Pick<HivecastStats, "links" | "linkFailures"> {
  const s = peers?.linkStats?.();
  return {
    links: s ? { ...s.links } : { host: 0, srflx: 0, prflx: 0, relay: 0, unknown: 0 },
    linkFailures: s
      ? { ...s.failures }
      : {
          iceFailed: 0,
          connectTimeout: 0,
          noCandidates: 0,
          offerUnanswered: 0,
          relayRefused: 0,
          other: 0,
        },
  };
}

/** A buffer that owns its whole ArrayBuffer, so storing it does not pin a larger one. */
function compact(data: Uint8Array): Uint8Array {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
}

/**
 * The Hivecast engine: the one object an adapter talks to. Serves each segment from its store,
 * from peers (when P2P is on and a trusted hash is known) or from the best origins, verifying
 * every byte against its SHA-256 before the player sees it.
 */
export class Engine extends TypedEmitter<HivecastEvents> {
  private cfg: Readonly<Config>;
  private readonly deps: EngineDeps;
  private readonly pool: OriginPool;
  private readonly index: IntegrityIndex;
  private readonly store: SegmentStore;
  private peers: PeerSegmentSource | undefined;
  private readonly lifetime = new AbortController();
  private isDestroyed = false;
  /** Latest playlist facts per swarm, replayed to a P2P layer created later. */
  private readonly playlists = new Map<string, PlaylistInfo>();
  /** Live flag per media playlist id. */
  private readonly live = new Map<string, boolean>();
  /** Playlists already warned about missing hashes (one error event each). */
  private readonly warned = new Set<string>();
  /** Rate-limits `warning` events per kind. */
  private readonly warnings: WarningLimiter;
  private readonly counters: Mutable<
    Omit<
      HivecastStats,
      "offload" | "byOrigin" | "peers" | "hedges" | "retries" | "links" | "linkFailures"
    >
  > = {
    bytes: { http: 0, p2p: 0, cache: 0 },
    uploadedBytes: 0,
    segments: { http: 0, p2p: 0, cache: 0, failed: 0 },
    byPeer: {},
    integrityFailures: 0,
    errors: 0,
  };

  /** Validates `config` (throws CONFIG_INVALID naming the bad field) and builds the engine. */
  constructor(config: UserConfig = {}, deps: Partial<EngineDeps> = {}) {
    super();
    this.cfg = freezeConfig(resolveConfig(config));
    this.deps = {
      fetch: deps.fetch ?? ((input, init) => globalThis.fetch(input, init)),
      clock: deps.clock ?? systemClock,
      random: deps.random ?? Math.random,
      sha256: deps.sha256 ?? sha256Hex,
      // The real P2P layer unless a test or simulator injects its own (or `undefined` for none).
      peerSourceFactory:
        "peerSourceFactory" in deps ? deps.peerSourceFactory : createPeerSegmentSource,
    };
    const { clock, random } = this.deps;
    this.warnings = new WarningLimiter(
      () => clock.now(),
      (w) => this.fire("warning", w),
    );
    this.pool = new OriginPool({
      config: this.cfg,
      fetch: this.deps.fetch,
      clock,
      random,
      onStateChange: (origin, state) => this.fire("originStateChanged", { origin, state }),
    });
    this.index = new IntegrityIndex({
      policy: this.cfg.integrity,
      manifestUrl: this.cfg.integrityManifestUrl,
      manifestRetries: this.cfg.integrityManifestRetries,
      retry: this.cfg.http.playlistRetry,
      idOf: (url, range) => this.idOf(url, range),
      fetchManifest: async (url, maxBytes, signal) =>
        (await this.pool.fetch({ url, kind: "playlist", signal, maxBytes })).data,
      clock,
      random,
      onError: (e) => this.fire("error", e),
    });
    this.store = new SegmentStore(this.cfg.storeMaxBytes, (entry) => this.peers?.forget(entry.key));
    if (this.cfg.p2p.enabled) this.setP2PEnabled(true);
  }

  /** The validated configuration in effect (`p2p.enabled` follows {@link Engine.setP2PEnabled}). */
  get config(): Readonly<Config> {
    return this.cfg;
  }

  /** True once {@link Engine.destroy} ran. */
  get destroyed(): boolean {
    return this.isDestroyed;
  }

  /**
   * Fetches a playlist with origin failover. A media playlist's hash tags, segment list, live
   * flag and target duration go to the IntegrityIndex and the P2P layer; a multivariant
   * playlist's `EXT-X-SESSION-DATA` integrity manifest is remembered. A blocking reload (LL-HLS
   * `_HLS_msn` in the URL) may be held by the origin for up to `opts.blockingHoldMs`, is not
   * hedged, and its wait does not count against the origin's health.
   */
  async loadPlaylist(url: string, opts: PlaylistLoadOptions = {}): Promise<PlaylistResult> {
    const scope = this.openScope(opts.signal);
    const start = this.deps.clock.now();
    const http = this.cfg.http;
    try {
      const res = await this.pool.fetch({
        url,
        kind: "playlist",
        signal: scope.signal,
        onProgress: this.progress(opts, scope.signal),
        blockingHoldMs: isBlockingReload(url)
          ? Math.max(
              http.firstByteTimeoutMs,
              validHold(opts.blockingHoldMs) ?? http.requestTimeoutMs,
            )
          : undefined,
      });
      throwIfAborted(scope.signal);
      const text = new TextDecoder().decode(res.data);
      this.ingestPlaylist(text, res.url);
      return {
        text,
        url: res.url,
        origin: res.origin,
        timing: this.timing(start, res.firstByteAt, 0),
      };
    } catch (e) {
      throw this.failure(e, opts.signal, false);
    } finally {
      scope.release();
    }
  }

  /**
   * Serves one segment (or its byte range): store → peers (hash known or policy off) → origins.
   * Resolves only with bytes that passed verification when a hash is known; rejects with a fatal
   * HivecastError (`ABORTED`, `DESTROYED`, `INTEGRITY_MISMATCH`, `ALL_ORIGINS_FAILED`, …).
   */
  async loadSegment(req: SegmentRequest, opts: LoadOptions = {}): Promise<SegmentResult> {
    const scope = this.openScope(opts.signal);
    try {
      return await this.serveSegment(req, scope.signal, opts);
    } catch (e) {
      throw this.failure(e, opts.signal, true);
    } finally {
      scope.release();
    }
  }

  /**
   * Consent switch. Enabling creates the P2P layer (once, and only with trackers configured and a
   * factory given); disabling destroys it, closing every peer and tracker socket.
   */
  setP2PEnabled(enabled: boolean): void {
    if (this.isDestroyed) return;
    this.cfg = freezeConfig({ ...this.cfg, p2p: { ...this.cfg.p2p, enabled } });
    if (!enabled) {
      const peers = this.peers;
      this.peers = undefined;
      peers?.destroy();
      return;
    }
    const factory = this.deps.peerSourceFactory;
    if (this.peers || !factory || this.cfg.p2p.trackers.length === 0) return;
    try {
      this.peers = factory({
        config: this.cfg,
        clock: this.deps.clock,
        random: this.deps.random,
        host: this.peerHost(),
        fetch: this.deps.fetch,
      });
    } catch (e) {
      this.fire(
        "error",
        new HivecastError("TRACKER_UNAVAILABLE", "Could not start P2P; playing from HTTP", {
          cause: e,
        }),
      );
      return;
    }
    for (const info of this.playlists.values()) this.peers.updatePlaylist(info);
  }

  /** A fresh cumulative snapshot. */
  get stats(): HivecastStats {
    const c = this.counters;
    const moved = c.bytes.http + c.bytes.p2p;
    const byPeer: HivecastStats["byPeer"] = {};
    for (const [id, p] of Object.entries(c.byPeer)) byPeer[id] = { ...p };
    return {
      bytes: { ...c.bytes },
      uploadedBytes: c.uploadedBytes,
      segments: { ...c.segments },
      offload: moved === 0 ? 0 : c.bytes.p2p / moved,
      byOrigin: this.pool.stats(),
      byPeer,
      peers: this.peers?.peerCount() ?? 0,
      ...linkStatsOf(this.peers),
      integrityFailures: c.integrityFailures,
      hedges: this.pool.hedges,
      retries: this.pool.retries,
      errors: c.errors,
    };
  }

  /** Aborts every load (they reject with `DESTROYED`), clears every timer, closes P2P, drops listeners. */
  destroy(): void {
    if (this.isDestroyed) return;
    this.isDestroyed = true;
    this.lifetime.abort(destroyedError());
    this.pool.destroy();
    this.index.destroy();
    const peers = this.peers;
    this.peers = undefined;
    peers?.destroy();
    this.store.clear();
    this.removeAllListeners();
  }

  // ---- one segment ----------------------------------------------------------------------

  private async serveSegment(
    req: SegmentRequest,
    signal: AbortSignal,
    opts: LoadOptions,
  ): Promise<SegmentResult> {
    const start = this.deps.clock.now();
    const key = this.keyOf(req);
    const cached = this.store.get(key);
    // Unverified bytes kept while no hash existed must not be replayed once one is known.
    const trusted =
      cached &&
      (cached.verified ||
        this.cfg.integrity === "off" ||
        (req.hash === undefined && this.index.get(key.segmentId) === undefined));
    if (cached && trusted) {
      return this.deliver(req, {
        data: cached.data,
        source: "cache",
        verified: cached.verified,
        timing: this.timing(start, start, 0),
      });
    }
    const hash = await this.hashFor(req, key, signal);
    let waitMs = 0;
    if (this.peers && (hash !== undefined || this.cfg.integrity === "off")) {
      const fromPeers = await this.fromPeers(req, key, hash, signal, start);
      if (typeof fromPeers !== "number") return fromPeers;
      waitMs = fromPeers;
    }
    return this.fromHttp(req, key, hash, signal, {
      start,
      waitMs,
      onProgress: this.progress(opts, signal),
    });
  }

  /** The trusted hash (adapter's tag, playlist tag or manifest), or undefined. */
  private async hashFor(
    req: SegmentRequest,
    key: SegmentKey,
    signal: AbortSignal,
  ): Promise<string | undefined> {
    if (this.cfg.integrity === "off") return undefined;
    if (req.hash !== undefined && isSha256Hex(req.hash))
      this.index.remember(key.segmentId, req.hash.toLowerCase());
    const live = req.live ?? this.live.get(this.idOf(req.playlistUrl)) ?? false;
    const hash = await this.index.resolve(key.segmentId, req.playlistUrl, live, signal);
    throwIfAborted(signal);
    if (hash === undefined && this.cfg.integrity === "required") this.warnNoHash(req.playlistUrl);
    return hash;
  }

  /** Tries peers; returns the result, or the milliseconds spent waiting before falling back. */
  private async fromPeers(
    req: SegmentRequest,
    key: SegmentKey,
    hash: string | undefined,
    signal: AbortSignal,
    start: number,
  ): Promise<SegmentResult | number> {
    const peers = this.peers;
    const asked = this.deps.clock.now();
    const giveUpAt = this.peerGiveUpAt(req);
    if (!peers || giveUpAt <= asked) return 0;
    let got: PeerDownload | PeerPartial | null;
    try {
      const expectedSize = req.byteRange
        ? req.byteRange.end - req.byteRange.start
        : this.pool.sizeOf(req.url);
      got = await peers.download(key, { signal, giveUpAt, expectedSize });
    } catch {
      got = null; // a P2P failure never stops playback: HTTP follows
    }
    throwIfAborted(signal);
    const waited = this.deps.clock.now() - asked;
    if (!got) return waited;
    if ("partial" in got) return this.completePartial(req, key, hash, got, signal, start, waited);
    if (hash !== undefined) {
      const actual = await this.deps.sha256(got.data);
      throwIfAborted(signal);
      if (actual !== hash) {
        this.blamePeer(got.peerId, key, req.url, hash, actual);
        return waited;
      }
    }
    this.countFromPeer(got.peerId, got.data.length);
    const verified = hash !== undefined;
    this.keep(key, got.data, verified);
    return this.deliver(req, {
      data: got.data,
      source: "p2p",
      peerId: got.peerId,
      verified,
      timing: { start, firstByte: got.firstByteAt, end: this.deps.clock.now(), waitMs: got.waitMs },
    });
  }

  /**
   * An abandoned peer transfer's first bytes plus the rest over one HTTP range, verified as a
   * whole. If the whole fails its hash, a full HTTP copy decides who lied: a peer whose bytes
   * differ from it is banned. Without a trusted hash, or when the range fails, full HTTP.
   */
  private async completePartial(
    req: SegmentRequest,
    key: SegmentKey,
    hash: string | undefined,
    part: PeerPartial,
    signal: AbortSignal,
    start: number,
    waited: number,
  ): Promise<SegmentResult | number> {
    const have = part.data.length;
    if (hash === undefined || have === 0 || have >= part.size) return waited;
    const base = req.byteRange?.start ?? 0;
    let rest: PoolResult;
    try {
      rest = await this.pool.fetch({
        url: req.url,
        kind: "segment",
        range: { start: base + have, end: base + part.size },
        signal,
        split: false,
      });
    } catch {
      throwIfAborted(signal);
      return waited; // full HTTP follows, with its own retries and errors
    }
    throwIfAborted(signal);
    if (rest.data.length !== part.size - have) return waited;
    const data = new Uint8Array(part.size);
    data.set(part.data);
    data.set(rest.data, have);
    const actual = await this.deps.sha256(data);
    throwIfAborted(signal);
    if (actual !== hash) {
      const full = await this.fromHttp(req, key, hash, signal, {
        start,
        waitMs: waited,
        onProgress: undefined,
      });
      if (!startsWith(full.data, part.data))
        this.blamePeer(part.peerId, key, req.url, hash, actual);
      return full;
    }
    this.countFromPeer(part.peerId, have);
    this.keep(key, data, true);
    return this.deliver(req, {
      data,
      source: "http",
      origin: rest.origin,
      peerId: part.peerId,
      p2pBytes: have,
      verified: true,
      timing: {
        start,
        firstByte: part.firstByteAt,
        end: this.deps.clock.now(),
        waitMs: part.waitMs,
      },
    });
  }

  /** Bytes from `peerId` failed the trusted hash: count it, ban the peer, tell the app. */
  private blamePeer(
    peerId: string,
    key: SegmentKey,
    url: string,
    expected: string,
    actual: string,
  ): void {
    this.counters.integrityFailures++;
    this.peers?.reportBad(peerId, key, "hash mismatch");
    this.fire("integrityFailure", { url, source: "p2p", peerId, expected, actual });
  }

  /** Verified bytes that came from `peerId`, for the per-peer stats. */
  private countFromPeer(peerId: string, bytes: number): void {
    const peer = (this.counters.byPeer[peerId] ??= { downloadedBytes: 0, uploadedBytes: 0 });
    peer.downloadedBytes += bytes;
  }

  /**
   * Origins, verified. A mismatch penalises the origin(s) that served it and refetches elsewhere
   * (each origin once, at least two tries); when none serves good bytes: fatal INTEGRITY_MISMATCH.
   */
  private async fromHttp(
    req: SegmentRequest,
    key: SegmentKey,
    hash: string | undefined,
    signal: AbortSignal,
    t: { start: number; waitMs: number; onProgress: LoadOptions["onProgress"] },
  ): Promise<SegmentResult> {
    const bad = new Set<string>();
    const suspect = new Set<string>();
    const origins = this.pool.originCount(req.url);
    const tries = Math.max(2, origins);
    for (let i = 0; i < tries; i++) {
      const res = await this.pool.fetch({
        url: req.url,
        kind: "segment",
        range: req.byteRange,
        signal,
        onProgress: t.onProgress,
        exclude: bad,
        avoid: suspect,
        // After a split failed verification, single-origin answers tell which origin is bad.
        split: suspect.size === 0,
      });
      throwIfAborted(signal);
      if (hash !== undefined) {
        const actual = await this.deps.sha256(res.data);
        throwIfAborted(signal);
        if (actual !== hash) {
          this.blameOrigins(req, res, hash, actual, { bad, suspect, origins });
          continue;
        }
      }
      const verified = hash !== undefined;
      this.keep(key, res.data, verified);
      return this.deliver(req, {
        data: res.data,
        source: "http",
        origin: res.origin,
        verified,
        timing: this.timing(t.start, res.firstByteAt, t.waitMs),
      });
    }
    throw new HivecastError(
      "INTEGRITY_MISMATCH",
      `No source served ${req.url} with its trusted SHA-256 (${tries} tries)`,
      {
        fatal: true,
        details: { url: req.url, expected: hash },
      },
    );
  }

  private blameOrigins(
    req: SegmentRequest,
    res: PoolResult,
    expected: string,
    actual: string,
    s: { bad: Set<string>; suspect: Set<string>; origins: number },
  ): void {
    this.counters.integrityFailures++;
    this.fire("integrityFailure", {
      url: req.url,
      source: "http",
      origin: res.origin,
      expected,
      actual,
    });
    for (const o of res.origins) this.pool.penalise(o);
    const only = res.origins.length === 1 ? res.origins[0] : undefined;
    if (only === undefined) res.origins.forEach((o) => s.suspect.add(o));
    // Exclude a proven-bad origin while others remain; with none left, it gets one more try.
    else if (s.bad.size + 1 < s.origins) s.bad.add(only);
  }

  /** Stores bytes; verified ones (or any, with policy off) are announced to peers. */
  private keep(key: SegmentKey, data: Uint8Array, verified: boolean): void {
    this.store.put({ key, data: compact(data), verified });
    if (verified || this.cfg.integrity === "off") this.peers?.announce(key, data.length);
  }

  /** Counts, emits `segmentLoaded`, and hands the caller its own copy (players may transfer it). */
  private deliver(req: SegmentRequest, r: SegmentResult): SegmentResult {
    const fromPeer = r.p2pBytes ?? 0;
    this.counters.bytes.p2p += fromPeer;
    this.counters.bytes[r.source] += r.data.length - fromPeer;
    this.counters.segments[r.source]++;
    this.fire("segmentLoaded", {
      url: req.url,
      source: r.source,
      origin: r.origin,
      peerId: r.peerId,
      bytes: r.data.length,
      ms: r.timing.end - r.timing.start,
    });
    return { ...r, data: r.data.slice() };
  }

  /** When peers must give up so that HTTP still meets the deadline (with margin). */
  private peerGiveUpAt(req: SegmentRequest): number {
    const now = this.deps.clock.now();
    if (req.deadlineMs === undefined) return now + NO_DEADLINE_PEER_BUDGET_MS;
    const http = this.pool.expectedMs(req.url, req.byteRange) ?? UNKNOWN_HTTP_ESTIMATE_MS;
    return now + req.deadlineMs - (http * HTTP_SAFETY_FACTOR + HTTP_SAFETY_MARGIN_MS);
  }

  private warnNoHash(playlistUrl: string): void {
    const id = this.idOf(playlistUrl);
    if (this.warned.has(id)) return;
    this.warned.add(id);
    this.fire(
      "error",
      new HivecastError(
        "INTEGRITY_UNAVAILABLE",
        `No trusted SHA-256 for segments of ${playlistUrl} (${this.index.manifestStatus(playlistUrl)}): they play from HTTP only and are never shared with peers`,
        { details: { url: playlistUrl } },
      ),
    );
  }

  // ---- playlists ------------------------------------------------------------------------

  private ingestPlaylist(text: string, url: string): void {
    const p = parsePlaylist(text, url);
    if (!p) return;
    if (p.type === "multivariant") {
      if (p.integrityManifestUrl) this.index.setSessionManifest(p.integrityManifestUrl);
      return;
    }
    this.index.addPlaylist(url, p);
    this.live.set(this.idOf(url), p.live);
    const info: PlaylistInfo = {
      swarmId: this.swarmIdOf(url),
      live: p.live,
      targetDuration: p.targetDuration,
      segments: p.entries
        .filter((e) => e.kind === "segment")
        .map((e) => ({ segmentId: this.idOf(e.url, e.byteRange), sn: e.sn, duration: e.duration })),
    };
    this.playlists.set(info.swarmId, info);
    this.peers?.updatePlaylist(info);
  }

  // ---- plumbing -------------------------------------------------------------------------

  private idOf(url: string, range?: ByteRange): string {
    return resourceId(url, range, this.cfg.origins);
  }

  private swarmIdOf(playlistUrl: string): string {
    return this.cfg.p2p.swarmId ?? this.idOf(playlistUrl);
  }

  private keyOf(req: SegmentRequest): SegmentKey {
    return {
      swarmId: this.swarmIdOf(req.playlistUrl),
      segmentId: this.idOf(req.url, req.byteRange),
    };
  }

  private timing(start: number, firstByte: number, waitMs: number): LoadTiming {
    return { start, firstByte, end: this.deps.clock.now(), waitMs };
  }

  /** A signal aborted by the caller or by destroy(); throws DESTROYED when already destroyed. */
  private openScope(user: AbortSignal | undefined): { signal: AbortSignal; release: () => void } {
    if (this.isDestroyed) throw destroyedError();
    const { controller, release } = childController(user, this.lifetime.signal);
    return { signal: controller.signal, release };
  }

  /** The caller's progress callback, silenced once the load is aborted or the engine destroyed. */
  private progress(opts: LoadOptions, signal: AbortSignal): LoadOptions["onProgress"] {
    const cb = opts.onProgress;
    if (!cb) return undefined;
    return (loaded, total) => {
      if (this.isDestroyed || signal.aborted) return;
      try {
        cb(loaded, total);
      } catch {
        // A throwing callback must not break loading.
      }
    };
  }

  /** The rejection for a failed load: DESTROYED / ABORTED win; anything else becomes fatal. */
  private failure(e: unknown, user: AbortSignal | undefined, segment: boolean): HivecastError {
    if (this.isDestroyed) return destroyedError();
    if (user?.aborted) return abortedError();
    const err = isHivecastError(e)
      ? e.fatal
        ? e
        : new HivecastError(e.code, e.message, { fatal: true, cause: e, details: { ...e.details } })
      : new HivecastError("HTTP_NETWORK", e instanceof Error ? e.message : String(e), {
          fatal: true,
          cause: e,
        });
    if (segment) this.counters.segments.failed++;
    this.fire("error", err);
    return err;
  }

  private peerHost(): PeerHost {
    return {
      getVerified: (key) => {
        if (this.isDestroyed) return undefined;
        const e = this.store.get(key);
        return e && (e.verified || this.cfg.integrity === "off") ? e.data : undefined;
      },
      shareable: (key) =>
        this.cfg.integrity === "off" || this.index.get(key.segmentId) !== undefined,
      onPeerConnected: (peerId, link) => {
        if (this.isDestroyed) return;
        const e: Parameters<HivecastEvents["peerConnected"]>[0] = {
          peerId,
        };
        if (link?.linkType !== undefined) e.linkType = link.linkType;
        if (link?.setupMs !== undefined) e.setupMs = link.setupMs;
        const peer = (this.counters.byPeer[peerId] ??= { downloadedBytes: 0, uploadedBytes: 0 });
        if (e.linkType !== undefined) peer.linkType = e.linkType;
        if (e.setupMs !== undefined) peer.setupMs = e.setupMs;
        this.fire("peerConnected", e);
      },
      onPeerDisconnected: (peerId, reason) => this.fire("peerDisconnected", { peerId, reason }),
      onPeerBanned: (peerId, reason) => this.fire("peerBanned", { peerId, reason }),
      onWarning: (kind, message, details) => {
        if (!this.isDestroyed) this.warnings.warn(kind, message, details);
      },
      onUploaded: (peerId, bytes) => {
        if (this.isDestroyed) return;
        this.counters.uploadedBytes += bytes;
        const peer = (this.counters.byPeer[peerId] ??= { downloadedBytes: 0, uploadedBytes: 0 });
        peer.uploadedBytes += bytes;
      },
    };
  }

  /** Emits unless destroyed: after destroy() no event ever fires. */
  private fire<K extends keyof HivecastEvents>(
    event: K,
    ...args: Parameters<HivecastEvents[K]>
  ): void {
    if (this.isDestroyed) return;
    if (event === "error") this.counters.errors++;
    this.emit(event, ...args);
  }
}

/** Whether `data` begins with `prefix`. */
function startsWith(data: Uint8Array, prefix: Uint8Array): boolean {
  if (data.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (data[i] !== prefix[i]) return false;
  return true;
}

/** A blocking playlist reload (HLS §6.2.5.2): the query asks for a media sequence number. */
function isBlockingReload(url: string): boolean {
  const q = url.indexOf("?");
  return q >= 0 && /(?:^|&)_HLS_msn=/.test(url.slice(q + 1).split("#", 1)[0] ?? "");
}

/** A caller's hold bound, if it is a usable number of milliseconds. */
function validHold(ms: number | undefined): number | undefined {
  return typeof ms === "number" && Number.isFinite(ms) && ms > 0 ? ms : undefined;
}
