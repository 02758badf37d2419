import { abortedError, childController, destroyedError, throwIfAborted } from "./abort.js";
import { type Clock, systemClock } from "./clock.js";
import { type Config, resolveConfig, type UserConfig } from "./config.js";
import type { ContentSteering } from "./content-steering.js";
import { HivecastError, isHivecastError } from "./errors.js";
import { type HivecastEvents, TypedEmitter } from "./events.js";
import { WarningLimiter } from "./warning-limiter.js";
import { IntegrityIndex } from "./integrity-index.js";
import { OriginPool, type PoolResult } from "./origin-pool.js";
import { matchOrigin, resourceId } from "./origin-url.js";
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
import { isSha256Hex } from "./hash-tag.js";
import { hasWebCrypto, sha256Hex } from "./sha256.js";
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

/** Segments remembered as served bad by every source (see `http.badSegmentMemoryMs`). */
const BAD_SEGMENT_MEMORY = 256;
/** Byte cap of peer bytes prefetched ahead of playback (VOD), not verified yet. */
const MAX_PENDING_BYTES = 32 * 1024 * 1024;

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
  /** Content steering, loaded (own chunk) with the first multivariant playlist that uses it. */
  private steering: Promise<ContentSteering> | undefined;
  private peers: PeerSegmentSource | undefined;
  private readonly lifetime = new AbortController();
  private isDestroyed = false;
  /** Latest playlist facts per swarm, replayed to a P2P layer created later. */
  private readonly playlists = new Map<string, PlaylistInfo>();
  /** Live flag per media playlist id. */
  private readonly live = new Map<string, boolean>();
  /** Playlists already warned about missing hashes (one error event each). */
  private readonly warned = new Set<string>();
  /**
   * Segments no origin served with their trusted hash, by segment id: the hash and when that
   * was found. A player's retry within `http.badSegmentMemoryMs` fails at
   * once instead of downloading the same bad bytes again.
   */
  private readonly badSegments = new Map<string, { hash: string; at: number }>();
  /** Rate-limits `warning` events per kind. */
  private readonly warnings: WarningLimiter;
  /** The insecure-context warning was given. */
  private insecureWarned = false;
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
    const userFetch = this.cfg.fetch;
    this.deps = {
      fetch: deps.fetch ?? userFetch ?? ((input, init) => globalThis.fetch(input, init)),
      clock: deps.clock ?? systemClock,
      random: deps.random ?? Math.random,
      sha256: deps.sha256 ?? ((data) => this.defaultSha256(data)),
      // The real P2P layer (on the config's `p2p.transport`) unless a test or simulator injects
      // its own (or `undefined` for none).
      peerSourceFactory:
        "peerSourceFactory" in deps ? deps.peerSourceFactory : defaultPeerSourceFactory,
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
      fetchManifest: async (url, maxBytes, signal, optional) =>
        (
          await this.pool.fetch({
            url,
            kind: "playlist",
            resource: "manifest",
            signal,
            maxBytes,
            optional,
          })
        ).data,
      clock,
      random,
      onError: (e) => this.fire("error", e),
      onUnavailable: (url, why) =>
        this.warnings.warn(
          "integrity-manifest-unavailable",
          `Integrity manifest ${url} unavailable (${why}): its segments play from HTTP only`,
          { url, cause: why },
        ),
    });
    this.store = new SegmentStore({
      maxBytes: this.cfg.storeMaxBytes,
      maxPendingBytes: Math.min(MAX_PENDING_BYTES, this.cfg.storeMaxBytes),
      shareUnverified: this.cfg.integrity === "off",
      onEvict: (entry) => this.peers?.forget(entry.key),
    });
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
    const what = segmentOf(req);
    const start = this.deps.clock.now();
    this.fire("segmentStart", what);
    try {
      return await this.serveSegment(req, scope.signal, opts);
    } catch (e) {
      const err = this.failure(e, opts.signal, true);
      if (err.code === "ABORTED")
        this.fire("segmentAborted", { ...what, ms: this.deps.clock.now() - start });
      else if (err.code !== "DESTROYED") this.fire("segmentError", { ...what, error: err });
      throw err;
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
        store: this.store,
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

  /**
   * Changes the configuration while playing: `origins`, `requestSetup`, `pathways` and the `p2p`
   * slice (limits, upload cap, download-only, trackers, `enabled`…). Validated like the
   * constructor: an invalid change throws `CONFIG_INVALID` naming the field and the config in
   * effect stays as it was. `http`, `integrity*`, `storeMaxBytes` and `fetch` are fixed at
   * construction (changing them throws `CONFIG_INVALID`). A `p2p` change restarts the P2P layer
   * (peers reconnect); an origins change applies to requests started afterwards.
   */
  updateConfig(partial: UserConfig): void {
    if (this.isDestroyed) return;
    if (typeof partial !== "object" || partial === null)
      throw new HivecastError(
        "CONFIG_INVALID",
        'Invalid config "updateConfig": expected an object',
        {
          fatal: true,
          details: { field: "updateConfig" },
        },
      );
    for (const key of Object.keys(partial))
      if (!RUNTIME_KEYS.has(key))
        throw new HivecastError(
          "CONFIG_INVALID",
          `Invalid config "${key}": fixed at construction, cannot be changed with updateConfig`,
          { fatal: true, details: { field: key } },
        );
    const prev = this.cfg;
    const next = freezeConfig(
      resolveConfig({
        ...prev,
        ...partial,
        http: prev.http,
        p2p: { ...prev.p2p, ...(partial.p2p ?? {}) },
      }),
    );
    this.cfg = next;
    this.pool.reconfigure(next);
    if (partial.p2p !== undefined) {
      const peers = this.peers;
      this.peers = undefined;
      peers?.destroy();
      this.setP2PEnabled(next.p2p.enabled);
    }
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
    void this.steering?.then(
      (c) => c.destroy(),
      () => undefined,
    );
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
      // Before playback starts (no deadline) any wait for peers is start-up time: only a peer
      // already holding the segment may serve it.
      const mayWait = req.deadlineMs !== undefined;
      got = await peers.download(key, { signal, giveUpAt, expectedSize, mayWait });
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
        resource: req.kind,
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
   * Origins, verified. Bytes that fail the hash are never delivered; the segment is refetched
   * and only an origin proven to have served bad bytes is blamed (event, health): one that served
   * the whole segment wrong, or a range that differs from a copy that verified. A split whose
   * culprit is not known yet is refetched whole from one origin at a time (each origin once, at
   * least two tries). When none serves good bytes: fatal INTEGRITY_MISMATCH, and the segment
   * is remembered as bad for `http.badSegmentMemoryMs` so that the player's retries cost nothing.
   */
  private async fromHttp(
    req: SegmentRequest,
    key: SegmentKey,
    hash: string | undefined,
    signal: AbortSignal,
    t: { start: number; waitMs: number; onProgress: LoadOptions["onProgress"] },
  ): Promise<SegmentResult> {
    if (hash !== undefined) this.refuseKnownBad(req, key, hash);
    const bad = new Set<string>();
    /** Split downloads that failed verification, their culprits not proven yet. */
    const unresolved: Array<{ res: PoolResult; actual: string }> = [];
    const origins = this.pool.originCount(req.url);
    const tries = Math.max(2, origins);
    let wholeTries = 0;
    while (wholeTries < tries) {
      const elapsed = this.deps.clock.now() - t.start;
      const res = await this.pool.fetch({
        url: req.url,
        kind: "segment",
        resource: req.kind,
        range: req.byteRange,
        signal,
        onProgress: t.onProgress,
        // A proven-bad origin is left out while others remain; with none left, it gets one more try.
        exclude: bad.size < origins ? bad : undefined,
        // After a split failed, whole copies from one origin each tell who is bad.
        split: unresolved.length === 0,
        deadlineMs:
          req.deadlineMs === undefined ? undefined : Math.max(0, req.deadlineMs - elapsed),
      });
      throwIfAborted(signal);
      if (res.origins.length === 1) wholeTries++;
      if (hash !== undefined) {
        const actual = await this.deps.sha256(res.data);
        throwIfAborted(signal);
        if (actual !== hash) {
          this.counters.integrityFailures++;
          const only = res.origins.length === 1 ? res.origins[0] : undefined;
          if (only === undefined) unresolved.push({ res, actual });
          else {
            this.blameOrigin(req.url, only, hash, actual);
            bad.add(only);
          }
          continue;
        }
        // A verified copy: every range of a failed split that differs from it was bad.
        for (const u of unresolved)
          for (const o of differingOrigins(u.res, res.data))
            this.blameOrigin(req.url, o, hash, u.actual);
        this.pool.confirm(res.origins);
      }
      const verified = hash !== undefined;
      this.keep(key, res.data, verified);
      return this.deliver(
        req,
        {
          data: res.data,
          source: "http",
          origin: res.origin,
          verified,
          timing: this.timing(t.start, res.firstByteAt, t.waitMs),
        },
        contributions(res),
      );
    }
    if (hash !== undefined) this.rememberBad(key, hash);
    throw new HivecastError(
      "INTEGRITY_MISMATCH",
      `No source served ${req.url} with its trusted SHA-256 (${tries} tries)`,
      {
        fatal: true,
        details: { url: req.url, expected: hash },
      },
    );
  }

  /** Proven bad bytes from `origin`: its health pays, the app is told. */
  private blameOrigin(url: string, origin: string, expected: string, actual: string): void {
    this.pool.penalise(origin);
    this.fire("integrityFailure", { url, source: "http", origin, expected, actual });
  }

  /** Fails at once for a segment that every origin served bad within the memory window. */
  private refuseKnownBad(req: SegmentRequest, key: SegmentKey, hash: string): void {
    const known = this.badSegments.get(key.segmentId);
    if (!known) return;
    const age = this.deps.clock.now() - known.at;
    if (known.hash !== hash || age >= this.cfg.http.badSegmentMemoryMs) {
      this.badSegments.delete(key.segmentId);
      return;
    }
    throw new HivecastError(
      "INTEGRITY_MISMATCH",
      `No source served ${req.url} with its trusted SHA-256 (every origin tried ${Math.round(age / 1000)} s ago; not downloaded again before ${Math.round(this.cfg.http.badSegmentMemoryMs / 1000)} s)`,
      { fatal: true, details: { url: req.url, expected: hash, knownBad: true } },
    );
  }

  private rememberBad(key: SegmentKey, hash: string): void {
    if (this.cfg.http.badSegmentMemoryMs <= 0) return;
    this.badSegments.delete(key.segmentId);
    this.badSegments.set(key.segmentId, { hash, at: this.deps.clock.now() });
    while (this.badSegments.size > BAD_SEGMENT_MEMORY)
      this.badSegments.delete(this.badSegments.keys().next().value ?? "");
  }

  /** Stores bytes; verified ones (or any, with policy off) are announced to peers. */
  private keep(key: SegmentKey, data: Uint8Array, verified: boolean): void {
    this.store.put({ key, data: compact(data), verified });
    if (verified || this.cfg.integrity === "off") this.peers?.announce(key, data.length);
  }

  /**
   * Counts, emits `segmentLoaded`, and hands the caller its own copy (players may transfer it).
   * `origins`: the bytes each origin contributed, when they came over HTTP.
   */
  private deliver(
    req: SegmentRequest,
    r: SegmentResult,
    origins?: Array<{ origin: string; bytes: number }>,
  ): SegmentResult {
    const fromPeer = r.p2pBytes ?? 0;
    this.counters.bytes.p2p += fromPeer;
    this.counters.bytes[r.source] += r.data.length - fromPeer;
    this.counters.segments[r.source]++;
    const p2pBytes = r.source === "p2p" ? r.data.length : fromPeer;
    this.fire("segmentLoaded", {
      source: r.source,
      origin: r.origin,
      peerId: r.peerId,
      bytes: r.data.length,
      ms: r.timing.end - r.timing.start,
      ...segmentOf(req),
      httpBytes: r.source === "http" ? r.data.length - fromPeer : 0,
      p2pBytes,
      origins:
        origins ??
        (r.origin === undefined
          ? undefined
          : [{ origin: r.origin, bytes: r.data.length - fromPeer }]),
      verified: r.verified,
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
    let p: ReturnType<typeof parsePlaylist>;
    try {
      p = parsePlaylist(text, url);
    } catch {
      return; // impossible values (PlaylistError): no hashes, no P2P; the player judges the text
    }
    if (!p) return;
    if (p.type === "multivariant") {
      if (p.integrityManifestUrl) this.index.setSessionManifest(p.integrityManifestUrl);
      const st = p.steering;
      if (st)
        void this.contentSteering().then(
          (c) => c.start(st.serverUri, st.pathwayId, st.pathways),
          () => this.warnings.warn("steering-unavailable", "Content steering could not be loaded"),
        );
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
        this.fire("bytesUploaded", { peerId, bytes });
      },
    };
  }

  /**
   * The content steering controller, loaded by a dynamic import on first use: bundlers put it
   * in its own chunk, so pages without steering never download it.
   */
  private contentSteering(): Promise<ContentSteering> {
    this.steering ??= import("./content-steering.js").then((m) => {
      const c = new m.ContentSteering({
        clock: this.deps.clock,
        origins: () => this.cfg.origins,
        pathways: () => this.cfg.pathways,
        originUnder: (url) => matchOrigin(url, this.cfg.origins),
        fetch: async (url, maxBytes, signal) =>
          (
            await this.pool.fetch({
              url,
              kind: "playlist",
              resource: "manifest",
              signal,
              maxBytes,
            })
          ).data,
        onOrder: (order) => this.pool.setPreference(order),
        onUnavailable: (url, why) =>
          this.warnings.warn(
            "steering-unavailable",
            `Content steering manifest ${url} unavailable (${why}); keeping the current order`,
            { url, cause: why },
          ),
      });
      if (this.isDestroyed) c.destroy();
      return c;
    });
    return this.steering;
  }

  /** WebCrypto's SHA-256, or (insecure page) the pure-JS one, said once with a warning. */
  private defaultSha256(data: Uint8Array): Promise<string> {
    if (!this.insecureWarned && !hasWebCrypto()) {
      this.insecureWarned = true;
      this.warnings.warn(
        "insecure-context",
        "No WebCrypto: the page is not a secure context (HTTPS or localhost); verifying segments with a pure-JS SHA-256 (slower)",
        { secureContext: false },
      );
    }
    return sha256Hex(data);
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

/** Top-level config fields {@link Engine.updateConfig} may change. */
const RUNTIME_KEYS = new Set(["origins", "requestSetup", "pathways", "p2p"]);

/** The built-in P2P layer, on the transport the config names (`p2p.transport`). */
const defaultPeerSourceFactory: PeerSegmentSourceFactory = (deps) => {
  const t = deps.config.p2p.transport;
  return createPeerSegmentSource(
    typeof t === "function"
      ? { ...deps, transport: t({ iceGatherTimeoutMs: deps.config.p2p.iceGatherTimeoutMs }) }
      : deps,
  );
};

/** What segment events say about a request. */
function segmentOf(req: SegmentRequest): {
  url: string;
  kind: "init" | "media";
  range?: ByteRange;
} {
  const kind = req.kind === "init" ? "init" : "media";
  return req.byteRange
    ? { url: req.url, kind, range: { ...req.byteRange } }
    : { url: req.url, kind };
}

/** Bytes per contributing origin, in order of first contribution. */
function contributions(res: PoolResult): Array<{ origin: string; bytes: number }> {
  const out = new Map<string, number>();
  for (const p of res.parts) out.set(p.origin, (out.get(p.origin) ?? 0) + (p.end - p.start));
  return [...out].map(([origin, bytes]) => ({ origin, bytes }));
}

/** Origins whose ranges of `res` differ from the verified copy `good`. */
function differingOrigins(res: PoolResult, good: Uint8Array): Set<string> {
  const out = new Set<string>();
  for (const p of res.parts) {
    if (out.has(p.origin)) continue;
    if (p.end > good.length) {
      out.add(p.origin);
      continue;
    }
    for (let i = p.start; i < p.end; i++)
      if (res.data[i] !== good[i]) {
        out.add(p.origin);
        break;
      }
  }
  return out;
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
