import { abortedError, childController, destroyedError, throwIfAborted } from "./abort.js";
import { type Clock, systemClock } from "./clock.js";
import { type Config, resolveConfig, type UserConfig } from "./config.js";
import { HivecastError, isHivecastError } from "./errors.js";
import { type HivecastEvents, TypedEmitter } from "./events.js";
import { WarningLimiter } from "./warning-limiter.js";
import { IntegrityIndex } from "./integrity-index.js";
import { OriginPool } from "./origin-pool.js";
import type { PeerHost, PeerSegmentSource, PeerSegmentSourceFactory } from "./p2p/contract.js";
import { lazyPeerSource } from "./p2p/lazy-source.js";
import { hasWebCrypto, sha256Hex } from "./sha256.js";
import { SegmentStore } from "./segment-store.js";
import { SegmentPath, segmentOf } from "./segment-load.js";
import { PlaylistIntake } from "./playlist-intake.js";
import { Counters } from "./stats.js";
import type {
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

/** Byte cap of peer bytes prefetched ahead of playback (VOD), not verified yet. */
const MAX_PENDING_BYTES = 32 * 1024 * 1024;

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
  /** Start-up is over ({@link Engine.playbackStarted}). */
  private started = false;
  private readonly lifetime = new AbortController();
  private isDestroyed = false;
  /** Playlist facts, ids and keys, content steering (playlist-intake.ts). */
  private readonly intake: PlaylistIntake;
  /** Every segment load: store → peers → HTTP, verified (segment-load.ts). */
  private readonly segments: SegmentPath;
  /** Rate-limits `warning` events per kind. */
  private readonly warnings: WarningLimiter;
  /** The insecure-context warning was given. */
  private insecureWarned = false;
  private readonly counters = new Counters();

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
      idOf: (url, range) => this.intake.idOf(url, range),
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
    this.intake = new PlaylistIntake({
      config: () => this.cfg,
      clock,
      index: this.index,
      pool: this.pool,
      peers: () => this.peers,
      warnings: this.warnings,
      onError: (e) => this.fire("error", e),
      destroyed: () => this.isDestroyed,
    });
    this.segments = new SegmentPath({
      config: () => this.cfg,
      clock,
      sha256: this.deps.sha256,
      pool: this.pool,
      index: this.index,
      store: this.store,
      peers: () => this.peers,
      counters: this.counters,
      keyOf: (req) => this.intake.keyOf(req),
      isLive: (url) => this.intake.isLive(url),
      onNoHash: (url) => this.intake.warnNoHash(url),
      emit: (event, ...args) => this.fire(event, ...args),
      lifetime: this.lifetime.signal,
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
      this.intake.ingest(text, res.url);
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
      return await this.segments.load(req, scope.signal, opts);
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
   * Start-up is over: the player shows its first frame (the hls.js adapter calls this at the
   * media's first `playing` after the first buffered fragment).
   * Peer set-up, held back so that it does not compete with start-up, begins now instead of at
   * `p2p.joinDelayMaxMs`. Idempotent.
   */
  playbackStarted(): void {
    if (this.isDestroyed || this.started) return;
    this.started = true;
    this.peers?.playbackStarted?.();
  }

  /**
   * The player stalled while playing: the media waits for data after start-up, not because of a
   * seek (the hls.js adapter calls this on the media's `waiting`, unless every segment of the
   * live playlist is already buffered: the stream is late then, not this viewer). Uploads to
   * peers pause for `p2p.uploadPauseAfterStallMs`, so P2P does not take CPU or uplink from a
   * viewer whose own playback cannot keep up. Ignored before {@link Engine.playbackStarted}.
   */
  playbackStalled(): void {
    if (this.isDestroyed || !this.started) return;
    this.peers?.playbackStalled?.();
  }

  /**
   * Consent switch. Enabling creates the P2P layer (once, and only with trackers configured and a
   * factory given), which learns the playlists and verified segments seen so far, so consent
   * given while playing shares what is already held; disabling destroys it, closing every peer
   * and tracker socket.
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
        catchUp: (source) => this.catchUp(source),
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
    this.catchUp(this.peers);
  }

  /**
   * Tells a P2P layer created after start (consent given while playing, or a layer loaded on
   * demand) what it missed: the playlists, the verified segments already held (peers may fetch
   * them), and start-up.
   */
  private catchUp(source: PeerSegmentSource): void {
    if (this.isDestroyed) return;
    for (const info of this.intake.known()) source.updatePlaylist(info);
    for (const { key, size } of this.store.shareable()) source.announce(key, size);
    if (this.started) source.playbackStarted?.();
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
    const c = this.counters.snapshot();
    const moved = c.bytes.http + c.bytes.p2p;
    return {
      ...c,
      offload: moved === 0 ? 0 : c.bytes.p2p / moved,
      byOrigin: this.pool.stats(),
      peers: this.peers?.peerCount() ?? 0,
      ...linkStatsOf(this.peers),
      hedges: this.pool.hedges,
      retries: this.pool.retries,
    };
  }

  /** Aborts every load (they reject with `DESTROYED`), clears every timer, closes P2P, drops listeners. */
  destroy(): void {
    if (this.isDestroyed) return;
    this.isDestroyed = true;
    this.lifetime.abort(destroyedError());
    this.pool.destroy();
    this.index.destroy();
    this.intake.destroy();
    const peers = this.peers;
    this.peers = undefined;
    peers?.destroy();
    this.store.clear();
    this.removeAllListeners();
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
    if (segment) this.counters.failed();
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
        this.counters.linked(peerId, e.linkType, e.setupMs);
        this.fire("peerConnected", e);
      },
      onPeerDisconnected: (peerId, reason) => this.fire("peerDisconnected", { peerId, reason }),
      onPeerBanned: (peerId, reason) => this.fire("peerBanned", { peerId, reason }),
      onWarning: (kind, message, details) => {
        if (!this.isDestroyed) this.warnings.warn(kind, message, details);
      },
      onUploaded: (peerId, bytes) => {
        if (this.isDestroyed) return;
        this.counters.uploadedTo(peerId, bytes);
        this.fire("bytesUploaded", { peerId, bytes });
      },
    };
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
    if (event === "error") this.counters.error();
    this.emit(event, ...args);
  }
}

/** Top-level config fields {@link Engine.updateConfig} may change. */
const RUNTIME_KEYS = new Set(["origins", "requestSetup", "pathways", "p2p"]);

/**
 * The built-in P2P layer, on the transport the config names (`p2p.transport`). It is a chunk of
 * its own, loaded when the swarm would join (see `p2p/lazy-source.ts`): start-up does not load
 * it, and pages without P2P never do.
 */
const defaultPeerSourceFactory: PeerSegmentSourceFactory = (deps) =>
  lazyPeerSource(deps, async () => {
    const { createPeerSegmentSource } = await import("./p2p/peer-segment-source.js");
    return (d) => {
      const t = d.config.p2p.transport;
      return createPeerSegmentSource(
        typeof t === "function"
          ? { ...d, transport: t({ iceGatherTimeoutMs: d.config.p2p.iceGatherTimeoutMs }) }
          : d,
      );
    };
  });

/** A blocking playlist reload (HLS §6.2.5.2): the query asks for a media sequence number. */
function isBlockingReload(url: string): boolean {
  const q = url.indexOf("?");
  return q >= 0 && /(?:^|&)_HLS_msn=/.test(url.slice(q + 1).split("#", 1)[0] ?? "");
}

/** A caller's hold bound, if it is a usable number of milliseconds. */
function validHold(ms: number | undefined): number | undefined {
  return typeof ms === "number" && Number.isFinite(ms) && ms > 0 ? ms : undefined;
}
