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
import { LOCAL_BUSY_DETAIL, type PeerSession } from "./peer-session.js";
import type { PeerLinkCounts, PeerLinkFailures, PeerLinkType } from "../types.js";
import { IceServerProvider } from "./ice-servers.js";
import type { LinkFailureCause, PeerTransport } from "./peer-transport.js";
import { WebRtcTransport } from "./webrtc-transport.js";
import {
  BACKUP_FETCH_DELAY_MS,
  fetchRole,
  isFallingBehind,
  planDownload,
  resolveDownloadOnly,
  type Candidate,
} from "./scheduler.js";
import { Swarm } from "./swarm.js";
import { PeerDefense } from "./peer-defense.js";
import type { TransferOutcome } from "./peer-score.js";
import { UploadPolicy } from "./upload-policy.js";
import { TrackerClient, type WebSocketConstructor } from "./tracker-client.js";

type WarningDetails = HivecastWarning["details"];

/** A peer transfer that delivers no byte for this long is abandoned, ms. */
export const PEER_STALL_MS = 2000;
/** Live: segments this close to the newest in the playlist count as "at the live edge". */
export const LIVE_EDGE_SEGMENTS = 2;
/** Most peers tried for one download. */
export const MAX_PEER_ATTEMPTS = 3;
/** A peer that answered "busy" is asked again after this, ms. */
export const BUSY_RETRY_MS = 250;
/** Least bytes of an abandoned peer transfer worth completing over HTTP (one chunk). */
export const MIN_PARTIAL_BYTES = 16 * 1024;
/** VOD prefetch: concurrent peer transfers. */
export const MAX_PREFETCH_INFLIGHT = 2;
/** VOD prefetch: a transfer gets this long, ms. */
export const PREFETCH_TIMEOUT_MS = 20_000;
/**
 * After joining a swarm the tracker says others are in, segments after the first wait up to
 * this long from the join (and never past `giveUpAt`) for the first peer connections, so the
 * start-up burst comes from peers too. The first segment never waits (start-up time).
 */
export const JOIN_WAIT_MS = 1500;
/** A peer's first announcements follow its handshake: a session this new may not have sent them yet, ms. */
export const HAVE_SETTLE_MS = 100;

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
  /** Our 20-character tracker peer id. @default "-HC0001-" + 12 random characters */
  peerId?: string;
  /** Fetches `p2p.iceServersUrl`. @default globalThis.fetch */
  fetch?: typeof fetch | undefined;
}

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

type TransferResult =
  | { ok: true; data: Uint8Array; firstByteAt: number }
  | {
      ok: false;
      /** Scored outcome (undefined: rejected or gone, nothing to score). */
      outcome: TransferOutcome | undefined;
      retry: boolean;
      busy: boolean;
      /** The peer disconnected during the transfer. */
      gone: boolean;
      partial: { data: Uint8Array; size: number; firstByteAt: number } | undefined;
    };

/**
 * Until when a segment nobody announced may wait while joining ({@link JOIN_WAIT_MS}): the
 * tracker has not answered yet or reported others in the swarm, and no serving peer is
 * connected yet or one of them is still settling ({@link HAVE_SETTLE_MS}). Undefined when
 * there is nothing to wait for (alone in the swarm, or settled peers).
 */
function joinWaitUntil(
  swarm: Swarm,
  serving: readonly PeerSession[],
  now: number,
): number | undefined {
  if (swarm.trackerPeers === 1) return undefined;
  const joinEnd = swarm.startedAt + JOIN_WAIT_MS;
  if (serving.length === 0) return joinEnd;
  let settled = Number.NEGATIVE_INFINITY;
  for (const s of serving) settled = Math.max(settled, s.readyAt + HAVE_SETTLE_MS);
  return settled > now ? Math.min(joinEnd, settled) : undefined;
}

/** The failure policy's kind of a failed transfer. */
function transferFailureKind(r: Extract<TransferResult, { ok: false }>): FailureKind {
  if (r.busy) return "peer-busy";
  if (r.outcome === "stalled") return "peer-stalled";
  if (r.outcome === "slow") return "peer-slow";
  return r.gone ? "peer-gone" : "peer-refused";
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
  /** Playlist-segment downloads asked per swarm (the first one never waits for the join). */
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
            if (!ok) {
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
    const sw = s;
    // The first offers wait (briefly) for the first ICE servers fetch.
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
      s.start();
    }
    return s;
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
      this.warn("peer-abuse", `peer ${id} banned: protocol violation ${violation}`, {
        peerId: id,
        reason: violation,
      });
      this.ban(id, `protocol violation: ${violation}`, s.remoteAddress);
      return;
    }
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
      const got = await this.raceUntil(inflight, giveUpAt, signal);
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
    const result = await this.fetch(swarm, key, {
      signal,
      giveUpAt,
      allowPartial: true,
      mayAwaitJoin: pos !== undefined && askedBefore > 0,
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

  /** Resolves `p`'s value, or null at `until`/destroy; rejects on `signal`. */
  private raceUntil<T>(
    p: Promise<T | null>,
    until: number,
    signal: AbortSignal,
  ): Promise<T | null> {
    return new Promise<T | null>((resolve, reject) => {
      const { clock } = this.deps;
      const finish = (v: T | null, err?: unknown): void => {
        clock.clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        this.lifetime.signal.removeEventListener("abort", onDestroy);
        if (err !== undefined) reject(err);
        else resolve(v);
      };
      const onAbort = (): void => finish(null, signal.reason);
      const onDestroy = (): void => finish(null);
      const timer = clock.setTimeout(() => finish(null), Math.max(0, until - clock.now()));
      signal.addEventListener("abort", onAbort, { once: true });
      this.lifetime.signal.addEventListener("abort", onDestroy, { once: true });
      p.then(
        (v) => finish(v),
        () => finish(null),
      );
    });
  }

  private async fetch(
    swarm: Swarm,
    key: SegmentKey,
    opts: {
      signal: AbortSignal;
      giveUpAt: number;
      /** Give up with the bytes an abandoned transfer received (for HTTP to complete). */
      allowPartial: boolean;
      /** Whether waiting for the first connections after joining is allowed ({@link JOIN_WAIT_MS}). */
      mayAwaitJoin?: boolean;
      /** Whether waiting at all is allowed (false: only a connected peer holding it now). */
      mayWait?: boolean;
      size: number | undefined;
      nearLiveEdge: boolean;
      /** The segment before this one: peers that have it are following the live edge. */
      previousId?: string | undefined;
      /** The playlist's target duration, ms (0 when unknown). */
      targetDurationMs?: number;
    },
  ): Promise<PeerDownload | PeerPartial | null> {
    const { clock, config } = this.deps;
    const { signal, giveUpAt } = opts;
    const backupAfter = clock.now() + (opts.targetDurationMs ?? 0) + BACKUP_FETCH_DELAY_MS;
    const tried = new Set<string>();
    /** Peers that were busy, and when to ask them again. Busy is not a failure. */
    const busy = new Map<string, number>();
    let waitMs = 0;
    /** The longest start of the segment an abandoned transfer left behind. */
    let partial: PeerPartial | undefined;
    const giveUp = (): PeerPartial | null =>
      partial && !this.banned.has(partial.peerId) ? { ...partial, waitMs } : null;
    for (let round = 0; round < 1000; round++) {
      if (this.destroyed) return null;
      if (signal.aborted) throw signal.reason;
      const now = clock.now();
      if (now >= giveUpAt || tried.size >= MAX_PEER_ATTEMPTS) return giveUp();
      let retryBusyAt = Number.POSITIVE_INFINITY;
      const excluded = new Set(tried);
      for (const [id, at] of busy) {
        if (at <= now) busy.delete(id);
        else {
          excluded.add(id);
          retryBusyAt = Math.min(retryBusyAt, at);
        }
      }
      // The size comes from the origin (playlist byte range, known HTTP size) when known: a peer
      // announcing another is a liar and is banned. Otherwise the size most peers announce
      // wins; one liar can never veto honest peers.
      const { sessions, size } = this.trustedCandidates(swarm, key.segmentId, excluded, opts.size);
      if (this.destroyed) return null;
      const candidates: Candidate[] = sessions.map((s) => ({
        peerId: s.peerId,
        throughputBps: s.throughputBps,
        activeDownloads: s.activeDownloads,
        penalty: this.defense.scores.penalty(displayPeerId(s.peerId)),
        relayed: swarm.linkInfo(s).linkType === "relay",
      }));
      const serving = swarm.readySessions().filter((s) => !s.remoteDownloadOnly);
      // Only a new live segment has fetchers; the ranking is done once per round.
      const role = opts.nearLiveEdge
        ? fetchRole(
            this.peerId,
            !this.downloadOnly,
            serving
              .filter((s) => !opts.previousId || s.remoteHaves.has(opts.previousId))
              .map((s) => s.peerId),
            key.segmentId,
            config.p2p.liveHttpFetchShare,
          )
        : "other";
      const plan = planDownload({
        now,
        giveUpAt,
        size,
        nearLiveEdge: opts.nearLiveEdge,
        selfIsFetcher: role === "fetcher",
        backupAt: role === "backup" ? backupAfter : undefined,
        candidates,
        servingPeers: serving.length,
        joiningUntil: opts.mayAwaitJoin === true ? joinWaitUntil(swarm, serving, now) : undefined,
      });
      if (plan.kind === "http") return giveUp();
      if (plan.kind === "wait") {
        if (opts.mayWait === false) return giveUp();
        const t0 = clock.now();
        await swarm.waitForChange(key.segmentId, Math.min(plan.until, retryBusyAt), signal);
        waitMs += clock.now() - t0;
        continue;
      }
      const session = swarm.session(plan.peerId);
      if (!session) {
        tried.add(plan.peerId);
        continue;
      }
      const r = await this.transfer(session, key.segmentId, giveUpAt, signal);
      const scored = r.ok ? "served" : r.outcome;
      if (scored !== undefined && !this.destroyed)
        this.defense.recordTransfer(displayPeerId(session.peerId), scored);
      if (r.ok) {
        if (this.destroyed) return null;
        return {
          data: r.data,
          peerId: displayPeerId(session.peerId),
          firstByteAt: r.firstByteAt,
          waitMs,
        };
      }
      if (this.destroyed) return null;
      const got = r.partial;
      if (
        opts.allowPartial &&
        got &&
        got.data.byteLength >= MIN_PARTIAL_BYTES &&
        got.data.byteLength > (partial?.data.byteLength ?? 0)
      ) {
        const peerId = displayPeerId(session.peerId);
        partial = { partial: true, ...got, peerId, waitMs };
      }
      if (!r.retry) return giveUp();
      // The policy says whether this peer may be asked again in this load (busy: after a wait).
      if (actionFor(transferFailureKind(r)).load === "retry")
        busy.set(plan.peerId, clock.now() + BUSY_RETRY_MS);
      else tried.add(plan.peerId);
    }
    return giveUp();
  }

  /**
   * Candidates for `segmentId` whose announced size is the trusted one: `known` (from the
   * origin) when given — peers contradicting it are banned for a protocol violation — else the
   * size most candidates announce (ties: the smaller, a liar's huge size never wins a tie).
   */
  private trustedCandidates(
    swarm: Swarm,
    segmentId: string,
    excluded: ReadonlySet<string>,
    known: number | undefined,
  ): { sessions: PeerSession[]; size: number | undefined } {
    const all = swarm.candidates(segmentId, excluded);
    if (known !== undefined) {
      const ok: PeerSession[] = [];
      for (const s of all) {
        const claimed = s.remoteHaves.get(segmentId);
        if (claimed === known) {
          ok.push(s);
          continue;
        }
        const id = displayPeerId(s.peerId);
        if (actionFor("peer-size-lie").peer !== "ban") continue;
        this.warn(
          "peer-abuse",
          `peer ${id} banned: announced ${String(claimed)} bytes, origin says ${known}`,
          {
            peerId: id,
            reason: "SIZE_MISMATCH",
          },
        );
        this.ban(id, "protocol violation: SIZE_MISMATCH", this.defense.addressOf(s));
      }
      return { sessions: ok, size: known };
    }
    const votes = new Map<number, number>();
    for (const s of all) {
      const claimed = s.remoteHaves.get(segmentId);
      if (claimed !== undefined) votes.set(claimed, (votes.get(claimed) ?? 0) + 1);
    }
    let size: number | undefined;
    let best = 0;
    for (const [sz, n] of votes) {
      if (n > best || (n === best && size !== undefined && sz < size)) {
        size = sz;
        best = n;
      }
    }
    return { sessions: all.filter((s) => s.remoteHaves.get(segmentId) === size), size };
  }

  /** One peer transfer, watched for stalls, falling behind, the deadline, abort and destroy. */
  private transfer(
    session: PeerSession,
    segmentId: string,
    giveUpAt: number,
    signal: AbortSignal,
  ): Promise<TransferResult> {
    const { clock } = this.deps;
    return new Promise<TransferResult>((resolve, reject) => {
      let settled = false;
      let retry = true;
      let abortReason: unknown;
      let aborted = false;
      let stallTimer: unknown;
      /** Why we cancelled: the peer's fault (stalled, slow) or ours (cancelled). */
      let outcome: TransferOutcome | undefined;
      const armStall = (): void => {
        if (stallTimer !== undefined) clock.clearTimeout(stallTimer);
        stallTimer = clock.setTimeout(() => {
          stallTimer = undefined;
          outcome ??= "stalled";
          req.cancel();
        }, PEER_STALL_MS);
      };
      const req = session.request(segmentId, (received, total, startedAt) => {
        armStall();
        const now = clock.now();
        if (isFallingBehind({ now, giveUpAt, startedAt, received, total })) {
          // A trickle: other peers are tried before HTTP while there is time (the plan decides).
          retry = now < giveUpAt;
          outcome ??= now < giveUpAt ? "slow" : "cancelled";
          req.cancel();
        }
      });
      const deadline = clock.setTimeout(
        () => {
          retry = false;
          outcome ??= "cancelled";
          req.cancel();
        },
        Math.max(0, giveUpAt - clock.now()),
      );
      const onAbort = (): void => {
        aborted = true;
        abortReason = signal.reason;
        retry = false;
        req.cancel();
      };
      const onDestroy = (): void => {
        retry = false;
        req.cancel();
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.lifetime.signal.addEventListener("abort", onDestroy, { once: true });
      armStall();
      void req.done.then((o) => {
        if (settled) return;
        settled = true;
        clock.clearTimeout(deadline);
        if (stallTimer !== undefined) clock.clearTimeout(stallTimer);
        signal.removeEventListener("abort", onAbort);
        this.lifetime.signal.removeEventListener("abort", onDestroy);
        if (aborted) reject(abortReason);
        else if (o.ok) resolve(o);
        else {
          if (o.reason === "gone") {
            const id = displayPeerId(session.peerId);
            this.warn("peer-gone", `peer ${id} went away during a transfer of ${segmentId}`, {
              peerId: id,
              segmentId,
              detail: o.detail,
            });
          }
          resolve({
            ok: false,
            outcome: o.reason === "cancelled" ? outcome : undefined,
            retry,
            busy:
              o.reason === "rejected" && (o.detail === "busy" || o.detail === LOCAL_BUSY_DETAIL),
            gone: o.reason === "gone",
            partial: o.partial,
          });
        }
      });
    });
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
      const p = this.fetch(swarm, key, {
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
    this.ice.destroy();
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
 * `transport`, `WebSocket`, `navigator`, `peerId` and `onWarning` deps are for tests, the
 * simulator and Node.
 */
export function createPeerSegmentSource(deps: PeerSegmentSourceDeps): P2PSegmentSource {
  return new P2PSegmentSource(deps);
}
