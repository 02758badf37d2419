/**
 * The P2P layer behind the Engine's {@link PeerSegmentSource} seam: swarms (one per stream
 * variant) created on first use, the download loop driven by the scheduler, VOD prefetch from
 * peers, bans, and the upload gate. Nothing opens a socket or a peer connection before the
 * first `download`, `announce` or `updatePlaylist` call.
 */
import type { Clock } from "../clock.js";
import type { Config } from "../config.js";
import type { HivecastWarning, WarningKind } from "../events.js";
import type {
  PeerDownload,
  PeerPartial,
  PeerHost,
  PeerSegmentSource,
  PeerStore,
  PlaylistInfo,
  SegmentKey,
} from "./contract.js";
import { storeId } from "../segment-store.js";
import { actionFor, type FailureKind } from "../failure-policy.js";
import { isShareableSegmentId } from "./peer-protocol.js";
import { INTERNAL_ERROR, type PeerSession } from "./peer-session.js";
import type { PeerLinkCounts, PeerLinkFailures, PeerLinkType } from "../types.js";
import { IceServerProvider } from "./ice-servers.js";
import type { LinkFailureCause, PeerTransport } from "./peer-transport.js";
import { WebRtcTransport } from "./webrtc-transport.js";
import { resolveDownloadOnly } from "./scheduler.js";
import { PeerFetcher } from "./peer-fetch.js";
import { Swarm } from "./swarm.js";
import { PeerDefense } from "./peer-defense.js";
import { UploadPolicy } from "./upload-policy.js";
import { watchMainThread, type MainThreadWatch } from "./main-thread-watch.js";
import { TrackerClient, type WebSocketConstructor } from "./tracker-client.js";

type WarningDetails = HivecastWarning["details"];

/** Live: segments this close to the newest in the playlist count as "at the live edge". */
export const LIVE_EDGE_SEGMENTS = 2;
/** VOD prefetch: concurrent peer transfers. */
export const MAX_PREFETCH_INFLIGHT = 2;
/** VOD prefetch: a transfer gets this long, ms. */
export const PREFETCH_TIMEOUT_MS = 20_000;
/** Dependencies of {@link createPeerSegmentSource}: the contract's plus optional injections. */
export interface PeerSegmentSourceDeps {
  config: Config;
  clock: Clock;
  random: () => number;
  host: PeerHost;
  /** The Engine's segment store: uploads read it, prefetched bytes wait in its pending tier. */
  store: PeerStore;
  /** Peer connections. @default a {@link WebRtcTransport} (the platform's RTCPeerConnection) */
  transport?: PeerTransport;
  /** Tracker sockets. @default globalThis.WebSocket, read when the first swarm starts */
  WebSocket?: WebSocketConstructor;
  /** Where `navigator.connection` is read for `downloadOnly: "auto"`. @default globalThis.navigator */
  navigator?: unknown;
  /**
   * Where `visibilityState` is read: the main-thread watch samples only a visible page.
   * @default globalThis.document (none: always visible)
   */
  document?: unknown;
  /** Our 20-character tracker peer id. @default "-HC0001-" + 12 random characters */
  peerId?: string;
  /** Fetches `p2p.iceServersUrl`. @default globalThis.fetch */
  fetch?: typeof fetch | undefined;
}

/** The {@link PeerLinkFailures} counter of each cause. */
const FAILURE_FIELD: Record<LinkFailureCause, keyof PeerLinkFailures> = {
  "ice-failed": "iceFailed",
  "connect-timeout": "connectTimeout",
  "no-candidates": "noCandidates",
  "offer-unanswered": "offerUnanswered",
  "relay-refused": "relayRefused",
  other: "other",
};

const ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** A fresh 20-character tracker peer id. */
export function makePeerId(random: () => number): string {
  let s = "-HC0001-";
  while (s.length < 20) s += ID_ALPHABET[Math.floor(random() * ID_ALPHABET.length) % 62];
  return s;
}

/** A printable form of a tracker peer id (ids of other clients may be binary). */
export function displayPeerId(raw: string): string {
  if (/^[\x21-\x7e]+$/.test(raw)) return raw;
  let hex = "";
  for (let i = 0; i < raw.length; i++) hex += raw.charCodeAt(i).toString(16).padStart(2, "0");
  return hex;
}

/** Implementation of {@link PeerSegmentSource}. */
export class P2PSegmentSource implements PeerSegmentSource {
  /** Our tracker peer id. */
  readonly peerId: string;
  /** Download-only (never uploads, announces nothing). */
  readonly downloadOnly: boolean;
  private readonly deps: PeerSegmentSourceDeps;
  private readonly lifetime = new AbortController();
  private readonly swarms = new Map<string, Swarm>();
  private trackers: TrackerClient[] | undefined;
  private readonly transport: PeerTransport;
  private readonly banned = new Set<string>();
  /** Ready sessions per peer id (a peer may be in several swarms). */
  private readonly connected = new Map<string, number>();
  /** Sessions counted in `connected`. */
  private readonly counted = new WeakSet<PeerSession>();
  private readonly playlists = new Map<string, PlaylistInfo>();
  private readonly playhead = new Map<string, number>();
  /**
   * Playlist-segment downloads asked per swarm: before playback has started, the first one never
   * waits for the join.
   */
  private readonly asked = new Map<string, number>();
  /** Index of each segment id in its playlist, per swarm (O(1) lookups on hot paths). */
  private readonly segmentIndex = new Map<string, Map<string, number>>();
  /** Playlist index of the last segment the Engine asked for, per swarm. */
  private readonly playheadIndex = new Map<string, number>();
  /** VOD prefetch transfers under way, by store id (their bytes go to the store's pending tier). */
  private readonly prefetching = new Map<string, Promise<PeerDownload | null>>();
  private readonly gate: UploadPolicy;
  private readonly defense: PeerDefense;
  private readonly ice: IceServerProvider;
  /** Tells a starved main thread (`p2p.mainThreadLagMs`); runs from the first swarm on. */
  private mainThread: MainThreadWatch | undefined;
  /** Swarms whose join waits for the main thread to keep up. */
  private readonly deferred = new Set<string>();
  /** Swarms created but not joined yet, with their fallback join timers. */
  private readonly joinTimers = new Map<string, unknown>();
  /** Start-up is over ({@link playbackStarted}): new swarms join at once. */
  private playing = false;
  /** Downloads from peers (peer-fetch.ts). */
  private readonly fetcher: PeerFetcher;
  /** Link type of each connected peer (display id), as of its first ready session. */
  private readonly peerLinks = new Map<string, PeerLinkType | undefined>();
  private readonly failures: PeerLinkFailures = {
    iceFailed: 0,
    connectTimeout: 0,
    noCandidates: 0,
    offerUnanswered: 0,
    relayRefused: 0,
    other: 0,
  };
  private destroyed = false;

  constructor(deps: PeerSegmentSourceDeps) {
    this.deps = deps;
    this.peerId = deps.peerId ?? makePeerId(deps.random);
    const p = deps.config.p2p;
    this.downloadOnly = resolveDownloadOnly(p.downloadOnly, deps.navigator ?? globalThis.navigator);
    this.gate = new UploadPolicy(deps.clock, {
      maxUploads: p.maxUploads,
      totalBytesPerSec: p.uploadBytesPerSec,
      perPeerBytesPerSec: p.defense.uploadPerPeerBytesPerSec,
      giveBackWeight: p.defense.giveBackWeight,
      maxServesPerSegment: p.defense.maxServesPerSegment,
      windowMs: p.defense.cooldownMs,
    });
    this.defense = new PeerDefense({
      clock: deps.clock,
      config: p.defense,
      maxPeers: p.maxPeers,
      swarms: () => this.swarms.values(),
      displayId: displayPeerId,
      disconnect: (id, reason) => this.disconnect(id, reason),
      warn: (kind, m, d) => this.warn(kind, m, d),
    });
    this.transport =
      deps.transport ??
      new WebRtcTransport({ iceGatherTimeoutMs: p.iceGatherTimeoutMs, clock: deps.clock });
    this.fetcher = new PeerFetcher({
      clock: deps.clock,
      config: deps.config,
      selfId: this.peerId,
      downloadOnly: this.downloadOnly,
      lifetime: this.lifetime.signal,
      destroyed: () => this.destroyed,
      isBanned: (id) => this.banned.has(id),
      defense: this.defense,
      displayId: displayPeerId,
      warn: (kind, m, d) => this.warn(kind, m, d),
      ban: (id, reason, address) => this.ban(id, reason, address),
    });
    this.ice = new IceServerProvider({
      config: p,
      clock: deps.clock,
      random: deps.random,
      fetch: deps.fetch,
      onWarning: (kind, m, d) => this.warn(kind, m, d),
    });
  }

  /** Counts a link that did not come up and says so (an unanswered offer is only counted). */
  private linkFailed(cause: LinkFailureCause, peerId: string | undefined, message: string): void {
    if (this.destroyed) return;
    this.failures[FAILURE_FIELD[cause]]++;
    if (cause === "offer-unanswered") return;
    const peer = peerId === undefined ? undefined : displayPeerId(peerId);
    this.warn(
      cause === "connect-timeout" ? "peer-timeout" : "peer-connection-failed",
      `peer link${peer === undefined ? "" : ` to ${peer}`} did not come up (${cause}): ${message}`,
      { peerId: peer, cause },
    );
  }

  /** Connected peers by link type, and failed links by cause. */
  linkStats(): { links: PeerLinkCounts; failures: PeerLinkFailures } {
    const links: PeerLinkCounts = { host: 0, srflx: 0, prflx: 0, relay: 0, unknown: 0 };
    for (const t of this.peerLinks.values()) links[t ?? "unknown"]++;
    return { links, failures: { ...this.failures } };
  }

  private warn(kind: WarningKind, message: string, details?: WarningDetails): void {
    if (this.destroyed) return;
    try {
      this.deps.host.onWarning(kind, message, details);
    } catch {
      // a logger must not break the P2P layer
    }
  }

  /** Calls a host callback; the Engine's exceptions never escape into the P2P layer. */
  private hostCall(fn: (h: PeerHost) => void): void {
    if (this.destroyed) return;
    try {
      fn(this.deps.host);
    } catch (e) {
      this.warn("p2p-internal", `host callback failed: ${String(e)}`);
    }
  }

  private getTrackers(): TrackerClient[] {
    if (this.trackers) return this.trackers;
    const { config, clock, random } = this.deps;
    const urls = [...new Set(config.p2p.trackers)];
    const WS = this.deps.WebSocket ?? globalThis.WebSocket;
    if (urls.length > 0 && typeof WS !== "function") {
      this.warn("p2p-internal", "no WebSocket implementation: trackers disabled");
      this.trackers = [];
      return this.trackers;
    }
    this.trackers = urls.map(
      (url) =>
        new TrackerClient({
          url,
          clock,
          random,
          retry: config.p2p.trackerRetry,
          connectTimeoutMs: config.p2p.connectTimeoutMs,
          WebSocket: WS,
          onWarning: (kind, m, d) => this.warn(kind, m, d),
        }),
    );
    return this.trackers;
  }

  /** The swarm of `swarmId`, created and started on first use. */
  private swarm(swarmId: string): Swarm {
    let s = this.swarms.get(swarmId);
    if (s) return s;
    const { config, clock, random } = this.deps;
    s = new Swarm(
      swarmId,
      {
        clock,
        random,
        config: config.p2p,
        ewmaAlpha: config.http.ewmaAlpha,
        transport: this.transport,
        selfId: this.peerId,
        downloadOnly: this.downloadOnly,
        gate: {
          // A refused upload (limits, fair share) is the app's business too: warn, rate-limited.
          tryAcquire: (peer, segmentId) => {
            const ok = this.gate.tryAcquire(peer, segmentId);
            // A pause after a stall is warned once when it begins (playbackStalled).
            if (!ok && !this.gate.paused) {
              const id = peer ? displayPeerId(peer.peerId) : undefined;
              this.warn(
                "upload-refused",
                `upload of ${segmentId ?? "a segment"} refused by limits`,
                {
                  peerId: id,
                  segmentId,
                },
              );
            }
            return ok;
          },
          release: () => this.gate.release(),
          reserve: (bytes, peer) => this.gate.reserve(bytes, peer),
        },
        isBanned: (id) => {
          const d = displayPeerId(id);
          return this.banned.has(d) || this.defense.isCooling(d);
        },
        getVerified: (segmentId) =>
          this.destroyed ? undefined : this.deps.store.getShareable({ swarmId, segmentId }),
        onSessionReady: (sw, x) => this.sessionReady(sw, x),
        onSessionClosed: (_sw, x, reason, violation) => this.sessionClosed(x, reason, violation),
        onHave: (sw) => this.schedulePrefetch(sw.swarmId),
        onUploaded: (peerId, bytes) =>
          this.hostCall((h) => h.onUploaded(displayPeerId(peerId), bytes)),
        onWarning: (kind, m, d) => this.warn(kind, m, d),
        rtcConfig: () => this.ice.rtcConfig(),
        onLinkFailed: (cause, peerId, m) => this.linkFailed(cause, peerId, m),
      },
      this.getTrackers(),
    );
    this.swarms.set(swarmId, s);
    this.defense.start();
    const lagMs = this.deps.config.p2p.mainThreadLagMs;
    if (lagMs > 0 && !this.mainThread) {
      // The page's document, looked up once: only whether it is hidden is read on each run.
      const doc = (this.deps.document ?? globalThis.document) as
        { visibilityState?: unknown } | undefined;
      this.mainThread = watchMainThread(
        this.deps.clock,
        lagMs,
        () => doc?.visibilityState !== "hidden",
        (starved) => {
          if (starved || this.destroyed) return;
          // The main thread keeps up: swarms whose join was put off join now.
          for (const id of this.deferred) {
            const sw = this.swarms.get(id);
            if (sw) this.start(id, sw);
          }
          this.deferred.clear();
        },
      );
    }
    // Joining (tracker announce, peer connections) waits until start-up is over, at most
    // `p2p.joinDelayMaxMs`: start-up does not compete with peer set-up.
    const delay = this.deps.config.p2p.joinDelayMaxMs;
    if (delay <= 0 || this.playing) this.startOrDefer(swarmId, s);
    else
      this.joinTimers.set(
        swarmId,
        this.deps.clock.setTimeout(() => this.join(swarmId), delay),
      );
    return s;
  }

  playbackStarted(): void {
    if (this.playing || this.destroyed) return;
    this.playing = true;
    for (const swarmId of [...this.joinTimers.keys()]) this.join(swarmId);
  }

  playbackStalled(): void {
    if (this.destroyed) return;
    const ms = this.deps.config.p2p.uploadPauseAfterStallMs;
    if (ms <= 0) return;
    const was = this.gate.paused;
    this.gate.pause(ms);
    if (!was)
      this.warn("uploads-paused", `playback stalled: uploads to peers pause for ${ms} ms`, {
        pauseMs: ms,
      });
  }

  /** Joins the trackers of a swarm still waiting to (once). */
  private join(swarmId: string): void {
    const timer = this.joinTimers.get(swarmId);
    const sw = this.swarms.get(swarmId);
    if (timer === undefined || !sw || this.destroyed) return;
    this.deps.clock.clearTimeout(timer);
    this.joinTimers.delete(swarmId);
    this.startOrDefer(swarmId, sw);
  }

  /**
   * Starts a swarm, unless the page's main thread is starved (`p2p.mainThreadLagMs`): then the
   * join waits until it keeps up again, for as long as that takes (said once per wait).
   */
  private startOrDefer(swarmId: string, sw: Swarm): void {
    if (!this.mainThread?.starved()) return this.start(swarmId, sw);
    if (this.deferred.size === 0)
      this.warn("join-deferred", "main thread starved: joining waits", {
        swarmId,
      });
    this.deferred.add(swarmId);
  }

  /** Starts a swarm: the first offers wait (briefly) for the first ICE servers fetch. */
  private start(swarmId: string, sw: Swarm): void {
    const ice = this.ice.ready();
    if (ice)
      void ice.then(() => {
        if (!this.destroyed && this.swarms.get(swarmId) === sw) {
          this.ice.rtcConfig(); // warns now if there is no STUN/TURN server at all
          sw.start();
        }
      });
    else {
      this.ice.rtcConfig();
      sw.start();
    }
  }

  private sessionReady(sw: Swarm, s: PeerSession): void {
    const id = displayPeerId(s.peerId);
    const refusal = this.defense.admit(sw, s);
    if (refusal === "banned address") {
      this.ban(id, "returned from a banned address", this.defense.addressOf(s));
      return;
    }
    if (refusal !== undefined) {
      this.defense.cool(id);
      sw.closePeer(s.peerId, refusal);
      return;
    }
    this.counted.add(s);
    const n = this.connected.get(id) ?? 0;
    this.connected.set(id, n + 1);
    if (n === 0) {
      const link = sw.linkInfo(s);
      this.peerLinks.set(id, link.linkType);
      this.hostCall((h) => h.onPeerConnected(id, link));
    }
  }

  private sessionClosed(s: PeerSession, reason: string, violation: string | undefined): void {
    const id = displayPeerId(s.peerId);
    // A peer speaking another protocol version is dropped (its link is closed), not punished.
    const kind: FailureKind | undefined =
      violation === undefined
        ? undefined
        : violation === "UNSUPPORTED_VERSION"
          ? "peer-unsupported-version"
          : "peer-protocol-violation";
    if (kind !== undefined && actionFor(kind).peer === "ban") {
      this.warn("peer-abuse", `peer ${id} banned: ${reason}`, { peerId: id, reason: violation });
      this.ban(id, reason, s.remoteAddress);
      return;
    }
    if (reason.startsWith(INTERNAL_ERROR))
      this.warn("p2p-internal", `link to peer ${id} closed: ${reason}`, { peerId: id });
    if (!this.counted.has(s)) return;
    this.counted.delete(s);
    this.decConnected(id, reason);
  }

  private decConnected(id: string, reason: string): void {
    const n = this.connected.get(id) ?? 0;
    if (n <= 0) return;
    if (n === 1) {
      this.connected.delete(id);
      this.peerLinks.delete(id);
      this.hostCall((h) => h.onPeerDisconnected(id, reason));
    } else this.connected.set(id, n - 1);
  }

  /** Disconnects every session of `peerId` (display form) without banning it. */
  private disconnect(peerId: string, reason: string): void {
    if (this.destroyed) return;
    for (const sw of this.swarms.values()) {
      for (const s of sw.readySessions()) {
        if (displayPeerId(s.peerId) !== peerId) continue;
        if (this.counted.has(s)) {
          this.counted.delete(s);
          this.decConnected(peerId, reason);
        }
        sw.closePeer(s.peerId, reason);
      }
    }
  }

  private ban(peerId: string, reason: string, address?: string): void {
    if (this.destroyed || this.banned.has(peerId)) return;
    this.banned.add(peerId);
    this.defense.noteBan(address);
    for (const sw of this.swarms.values()) {
      for (const s of sw.readySessions()) {
        if (displayPeerId(s.peerId) === peerId) sw.closePeer(s.peerId, "banned");
      }
    }
    this.deps.store.dropPending((p) => p.peerId === peerId);
    const wasConnected = this.connected.delete(peerId);
    this.peerLinks.delete(peerId);
    this.hostCall((h) => h.onPeerBanned(peerId, reason));
    if (wasConnected) this.hostCall((h) => h.onPeerDisconnected(peerId, "banned"));
  }

  /** Whether `peerId` is banned for this session. */
  isBanned(peerId: string): boolean {
    return this.banned.has(peerId);
  }

  // ---- PeerSegmentSource ----

  async download(
    key: SegmentKey,
    opts: { signal: AbortSignal; giveUpAt: number; expectedSize?: number; mayWait?: boolean },
  ): Promise<PeerDownload | PeerPartial | null> {
    const { signal, giveUpAt } = opts;
    if (signal.aborted) throw signal.reason;
    if (this.destroyed) return null;
    if (!isShareableSegmentId(key.segmentId)) return null;
    let shareable = false;
    try {
      shareable = this.deps.host.shareable(key);
    } catch {
      shareable = false;
    }
    if (!shareable) return null;
    const swarm = this.swarm(key.swarmId);
    // A load with a deadline means the player is playing: start-up is over, join now.
    if (opts.mayWait !== false) this.join(key.swarmId);
    const pos = this.position(key);
    if (pos) {
      this.playhead.set(key.swarmId, pos.sn);
      this.playheadIndex.set(key.swarmId, pos.index);
      this.evictPending(key.swarmId, pos.sn);
    }
    const k = storeId(key);
    const asked = this.deps.clock.now();
    const pre = this.deps.store.takePending(key);
    if (pre) {
      this.schedulePrefetch(key.swarmId);
      // Bytes already here: no first byte before the Engine asked, no waiting.
      return { data: pre.data, peerId: pre.peerId, firstByteAt: asked, waitMs: 0 };
    }
    const inflight = this.prefetching.get(k);
    if (inflight) {
      const got = await this.fetcher.raceUntil(inflight, giveUpAt, signal);
      if (this.destroyed) return null;
      if (got) {
        this.deps.store.takePending(key);
        this.schedulePrefetch(key.swarmId);
        return { ...got, firstByteAt: Math.max(got.firstByteAt, asked), waitMs: 0 };
      }
    }
    // Only playlist segments count and may wait: an init segment (no position) loads before
    // the first media segment, which must not wait either.
    const askedBefore = this.asked.get(key.swarmId) ?? 0;
    if (pos) this.asked.set(key.swarmId, askedBefore + 1);
    const result = await this.fetcher.fetch(swarm, key, {
      signal,
      giveUpAt,
      allowPartial: true,
      // After the player's first fragment, even its first ask here may wait: start-up loads
      // that no peer could serve went to the origins without asking this layer.
      mayAwaitJoin: pos !== undefined && (askedBefore > 0 || this.playing),
      mayWait: opts.mayWait !== false,
      size: opts.expectedSize,
      nearLiveEdge: pos?.nearLiveEdge ?? false,
      previousId: pos?.previousId,
      targetDurationMs: (this.playlists.get(key.swarmId)?.targetDuration ?? 0) * 1000,
    });
    this.schedulePrefetch(key.swarmId);
    return result;
  }

  private position(
    key: SegmentKey,
  ):
    | { sn: number; index: number; nearLiveEdge: boolean; previousId: string | undefined }
    | undefined {
    const info = this.playlists.get(key.swarmId);
    const i = this.segmentIndex.get(key.swarmId)?.get(key.segmentId);
    if (!info || i === undefined) return undefined;
    const seg = info.segments[i];
    if (!seg) return undefined;
    return {
      sn: seg.sn,
      index: i,
      nearLiveEdge: info.live && i >= info.segments.length - LIVE_EDGE_SEGMENTS,
      previousId: info.segments[i - 1]?.segmentId,
    };
  }

  reportBad(peerId: string, _key: SegmentKey, reason: string): void {
    let address: string | undefined;
    for (const sw of this.swarms.values())
      for (const s of sw.readySessions())
        if (displayPeerId(s.peerId) === peerId) address ??= this.defense.addressOf(s);
    this.ban(peerId, reason, address);
  }

  announce(key: SegmentKey, size: number): void {
    if (this.destroyed || !isShareableSegmentId(key.segmentId)) return;
    if (!Number.isInteger(size) || size <= 0) return;
    // No join here: the first segment is verified before the player has appended it, and peer
    // set-up then would compete with start-up. Joining waits for playback (playbackStarted, or
    // a load with a deadline) or `p2p.joinDelayMaxMs`.
    this.swarm(key.swarmId).announceHave(key.segmentId, size);
  }

  forget(key: SegmentKey): void {
    if (this.destroyed) return;
    this.swarms.get(key.swarmId)?.announceLost(key.segmentId);
  }

  updatePlaylist(info: PlaylistInfo): void {
    if (this.destroyed) return;
    this.playlists.set(info.swarmId, info);
    const index = new Map<string, number>();
    info.segments.forEach((seg, i) => index.set(seg.segmentId, i));
    this.segmentIndex.set(info.swarmId, index);
    const head = this.playhead.get(info.swarmId);
    const headIndex = info.segments.findIndex((seg) => seg.sn === head);
    if (headIndex >= 0) this.playheadIndex.set(info.swarmId, headIndex);
    else this.playheadIndex.delete(info.swarmId);
    this.swarm(info.swarmId);
    this.schedulePrefetch(info.swarmId);
  }

  peerCount(): number {
    return this.connected.size;
  }

  // ---- VOD prefetch ----

  /** Prefetched bytes behind the playhead will not be asked for: they leave the store. */
  private evictPending(swarmId: string, playheadSn: number): void {
    this.deps.store.dropPending((p) => p.key.swarmId === swarmId && p.sn < playheadSn);
  }

  private schedulePrefetch(swarmId: string): void {
    if (this.destroyed) return;
    const info = this.playlists.get(swarmId);
    const head = this.playhead.get(swarmId);
    const headIndex = this.playheadIndex.get(swarmId);
    const swarm = this.swarms.get(swarmId);
    const n = this.deps.config.p2p.vodPrefetchSegments;
    if (!info || info.live || head === undefined || headIndex === undefined || !swarm || n <= 0)
      return;
    for (let i = headIndex + 1; i <= headIndex + n; i++) {
      const seg = info.segments[i];
      if (!seg) return;
      if (this.prefetching.size >= MAX_PREFETCH_INFLIGHT) return;
      const key: SegmentKey = { swarmId, segmentId: seg.segmentId };
      const k = storeId(key);
      if (this.prefetching.has(k) || this.deps.store.has(key)) continue;
      if (swarm.candidates(seg.segmentId, new Set()).length === 0) continue;
      try {
        if (!this.deps.host.shareable(key)) continue;
      } catch {
        continue;
      }
      const p = this.fetcher
        .fetch(swarm, key, {
          signal: this.lifetime.signal,
          giveUpAt: this.deps.clock.now() + PREFETCH_TIMEOUT_MS,
          allowPartial: false,
          size: undefined,
          nearLiveEdge: false,
        })
        .then((r) => (r && !("partial" in r) ? r : null))
        .catch(() => null);
      this.prefetching.set(k, p);
      void p.then((dl) => {
        this.prefetching.delete(k);
        if (!dl || this.destroyed || this.banned.has(dl.peerId)) return;
        const nowHead = this.playhead.get(swarmId) ?? head;
        if (seg.sn <= nowHead - 1) return;
        // A full pending tier stops prefetching until the player takes some.
        if (!this.deps.store.putPending({ key, data: dl.data, peerId: dl.peerId, sn: seg.sn }))
          return;
        this.schedulePrefetch(swarmId);
      });
    }
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.lifetime.abort();
    this.mainThread?.stop();
    this.ice.destroy();
    for (const t of this.joinTimers.values()) this.deps.clock.clearTimeout(t);
    this.joinTimers.clear();
    for (const s of this.swarms.values()) s.destroy();
    this.swarms.clear();
    for (const t of this.trackers ?? []) t.destroy();
    this.trackers = [];
    this.prefetching.clear();
    this.connected.clear();
    this.defense.destroy();
    this.peerLinks.clear();
  }
}

/**
 * Builds the P2P layer. Matches the contract's `PeerSegmentSourceFactory`; the optional
 * `transport`, `WebSocket`, `navigator`, `document`, `peerId` and `onWarning` deps are for
 * tests, the simulator and Node.
 */
export function createPeerSegmentSource(deps: PeerSegmentSourceDeps): P2PSegmentSource {
  return new P2PSegmentSource(deps);
}
