/**
 * The peers of one swarm (one stream variant): announces to the trackers with offers, answers
 * offers, keeps one session per remote peer, routes have/lost announcements and serves uploads.
 */
import { backoffDelay } from "../backoff.js";
import type { Clock } from "../clock.js";
import type { P2PConfig } from "../config.js";
import type { HivecastWarning, WarningKind } from "../events.js";
import { PROTOCOL_VERSION, type RejectReason } from "./peer-protocol.js";
import { PeerSession, type UploadGate } from "./peer-session.js";
import type { PeerLinkType } from "../types.js";
import {
  PeerLinkError,
  type LinkFailureCause,
  type PeerConnection,
  type PeerTransport,
  type SignalData,
} from "./peer-transport.js";
import { sha1 } from "./sha1.js";
import type { TrackerAnnounce, TrackerClient, TrackerSubscriber } from "./tracker-client.js";

/** Most offers sent with one announce (bittorrent-tracker's limit too). */
export const MAX_OFFERS_PER_ANNOUNCE = 5;
/** Most peer ids sent in one announce's `skip_peer_ids` (the signaling server reads 256). */
export const MAX_SKIP_PEER_IDS = 200;
/** Longest wait for local offers (ICE gathering) before announcing with those ready, ms. */
export const OFFER_GATHER_TIMEOUT_MS = 5000;
/** Longest re-announce interval a tracker may ask for, ms. */
export const MAX_ANNOUNCE_INTERVAL_MS = 10 * 60 * 1000;
/**
 * After losing a connected peer, announce again (for new offers) after this long, jittered
 * ×0.5–1.5, instead of waiting for the tracker's interval (bittorrent-tracker: 120 s), ms.
 */
export const REFILL_DELAY_MS = 2000;
/** Refill announces keep at least this far from the previous announce, ms. */
export const MIN_REFILL_GAP_MS = 15_000;
/**
 * After a link fails to come up, the swarm looks for other peers at once (after the
 * `p2p.connectRetry` backoff) while fewer than this many links (and fewer than the swarm's
 * other viewers) are up.
 */
export const MIN_LINKS = 3;

/** What a {@link Swarm} needs from its source. */
export interface SwarmContext {
  clock: Clock;
  random: () => number;
  config: P2PConfig;
  ewmaAlpha: number;
  transport: PeerTransport;
  selfId: string;
  downloadOnly: boolean;
  gate: UploadGate;
  isBanned(peerId: string): boolean;
  /** Verified bytes of a segment of this swarm, if stored. */
  getVerified(segmentId: string): Uint8Array | undefined;
  onSessionReady(swarm: Swarm, s: PeerSession): void;
  /** A ready session closed; `violation` is set when the peer broke the protocol. */
  onSessionClosed(
    swarm: Swarm,
    s: PeerSession,
    reason: string,
    violation: string | undefined,
  ): void;
  /** A ready peer announced segments (also on becoming ready with announcements). */
  onHave(swarm: Swarm): void;
  onUploaded(peerId: string, bytes: number): void;
  onWarning(kind: WarningKind, message: string, details?: HivecastWarning["details"]): void;
  /** The configuration of a new peer connection (ICE servers as currently known). */
  rtcConfig(): RTCConfiguration;
  /** A peer link did not come up (`peerId` undefined for an unanswered offer). */
  onLinkFailed(cause: LinkFailureCause, peerId: string | undefined, message: string): void;
}

/** What the swarm knows of one session's connection. */
interface LinkRecord {
  conn: PeerConnection;
  createdAt: number;
  /** When the transport emitted `connect` (NaN before). */
  openedAt: number;
  /** The cause of a transport error, if one came, and its message. */
  failure: LinkFailureCause | undefined;
  message: string | undefined;
}

interface PendingOffer {
  conn: PeerConnection;
  tracker: TrackerClient;
  createdAt: number;
}

/** What the swarm last heard from one tracker. */
interface TrackerView {
  /** The tracker honours `skip_peer_ids`. */
  skipsPeers: boolean;
  /** Peers in the swarm, us included, by its last reply (0: not known). */
  peers: number;
  /** Offers our last announce to it carried. */
  lastOffers: number;
  /** Viewers that sent us an offer or answer through it since its last reply. */
  seen: Set<string>;
}

interface Waiter {
  segmentId: string;
  wake: () => void;
}

/** Derives the 20-byte tracker info hash (as a latin1 string) of a swarm id. */
export function infoHashOf(swarmId: string): string {
  const digest = sha1(new TextEncoder().encode(`hivecast:v${PROTOCOL_VERSION}:${swarmId}`));
  return String.fromCharCode(...digest.subarray(0, 20));
}

/** Random 20-character string of latin1 code points 0–255 (tracker offer ids). */
export function randomBinaryId(random: () => number): string {
  let s = "";
  for (let i = 0; i < 20; i++) s += String.fromCharCode(Math.floor(random() * 256) & 0xff);
  return s;
}

/** The peers of one swarm. */
export class Swarm implements TrackerSubscriber {
  readonly swarmId: string;
  /** 20-character binary info hash sent to trackers. */
  readonly infoHash: string;
  private readonly ctx: SwarmContext;
  private readonly trackers: readonly TrackerClient[];
  private readonly sessions = new Map<string, PeerSession>();
  private readonly offers = new Map<string, PendingOffer>();
  private readonly localHaves = new Map<string, number>();
  private readonly waiters = new Set<Waiter>();
  private readonly timers = new Set<unknown>();
  private readonly links = new WeakMap<PeerSession, LinkRecord>();
  /** Peers whose link was relayed while `allowRelay` is false: not tried again. */
  private readonly relayRefused = new Set<string>();
  /** Banned peers seen in this swarm (raw ids, the most recent {@link MAX_SKIP_PEER_IDS}). */
  private readonly bannedSeen = new Set<string>();
  /** Links that failed to come up since the last one that did (retry backoff). */
  private setupFailures = 0;
  private announceTimer: unknown;
  private refillTimer: unknown;
  /** When the pending refill announce is due (engine clock). */
  private refillAt = Number.POSITIVE_INFINITY;
  private lastAnnounceAt = Number.NEGATIVE_INFINITY;
  private joinedAt = Number.NaN;
  private peersReported = 0;
  private readonly trackerViews = new Map<TrackerClient, TrackerView>();
  private intervalMs: number;
  private started = false;
  private destroyed = false;

  constructor(swarmId: string, ctx: SwarmContext, trackers: readonly TrackerClient[]) {
    this.swarmId = swarmId;
    this.ctx = ctx;
    this.trackers = trackers;
    this.intervalMs = ctx.config.announceIntervalMs;
    this.infoHash = infoHashOf(swarmId);
  }

  /** When {@link start} ran (engine clock; NaN before). */
  get startedAt(): number {
    return this.joinedAt;
  }

  /** Most peers a tracker reported in this swarm (us included); 0 before any reply (unknown). */
  get trackerPeers(): number {
    return this.peersReported;
  }

  /** Joins the trackers. */
  start(): void {
    if (this.started || this.destroyed) return;
    this.started = true;
    this.joinedAt = this.ctx.clock.now();
    for (const t of this.trackers) t.subscribe(this);
    this.scheduleAnnounce();
  }

  private setTimer(fn: () => void, ms: number): unknown {
    const h = this.ctx.clock.setTimeout(() => {
      this.timers.delete(h);
      if (!this.destroyed) fn();
    }, ms);
    this.timers.add(h);
    return h;
  }

  private clearTimer(h: unknown): void {
    if (h === undefined) return;
    this.ctx.clock.clearTimeout(h);
    this.timers.delete(h);
  }

  private scheduleAnnounce(): void {
    this.clearTimer(this.announceTimer);
    this.announceTimer = this.setTimer(() => {
      for (const t of this.trackers) if (t.connected) this.announce(t, "update");
      this.scheduleAnnounce();
    }, this.intervalMs);
  }

  // ---- tracker side ----

  /** @internal TrackerSubscriber */
  onTrackerOpen(tracker: TrackerClient): void {
    if (this.destroyed) return;
    // A reconnect may reach another server: what it supports is learnt again.
    this.trackerViews.delete(tracker);
    this.announce(tracker, "started");
  }

  /** @internal TrackerSubscriber */
  onTrackerMessage(tracker: TrackerClient, msg: TrackerAnnounce): void {
    if (this.destroyed) return;
    if (msg.warning)
      this.ctx.onWarning("tracker-refused", `tracker ${tracker.url}: ${msg.warning}`, {
        tracker: tracker.url,
      });
    if (msg.swarmPeers !== undefined && msg.swarmPeers > this.peersReported) {
      this.peersReported = msg.swarmPeers;
      this.wakeAll(); // a viewer waiting to learn whether it is alone may go on
    }
    if (msg.swarmPeers !== undefined && msg.offer === undefined && msg.answer === undefined) {
      const view = this.trackerViews.get(tracker);
      const lastOffers = view?.lastOffers ?? Number.NaN;
      this.trackerViews.set(tracker, {
        skipsPeers: msg.skipsPeers === true,
        peers: msg.swarmPeers,
        lastOffers,
        seen: new Set(),
      });
      // Our announce carried no offers, counting every viewer linked, but the swarm has grown:
      // announce again at once with offers for the viewers we do not know (the fresh count
      // makes this one carry offers, so it does not repeat).
      if (
        msg.skipsPeers === true &&
        lastOffers === 0 &&
        this.wantedPeers() - this.offers.size > 0 &&
        this.unlinkedAt(tracker) > 0
      )
        this.announce(tracker, "update");
    }
    if (msg.intervalSec !== undefined) {
      const ms = Math.min(MAX_ANNOUNCE_INTERVAL_MS, msg.intervalSec * 1000);
      const next = Math.max(this.ctx.config.announceIntervalMs, ms);
      if (next !== this.intervalMs) {
        this.intervalMs = next;
        this.scheduleAnnounce();
      }
    }
    if (msg.peerId === undefined || msg.offerId === undefined) return;
    this.trackerViews.get(tracker)?.seen.add(msg.peerId);
    if (msg.offer) this.acceptOffer(tracker, msg.peerId, msg.offerId, msg.offer);
    else if (msg.answer) this.acceptAnswer(msg.peerId, msg.offerId, msg.answer);
  }

  private wantedPeers(): number {
    return Math.max(0, this.ctx.config.maxPeers - this.sessions.size);
  }

  /**
   * Peers our offers must not go to: those we hold a session with (ready or connecting), then
   * those we will not link with (relayed while relays are off, banned or cooling down).
   */
  private linkedOrRefused(): Set<string> {
    const ids = new Set<string>();
    for (const s of this.sessions.values()) ids.add(s.peerId);
    for (const id of this.relayRefused) ids.add(id);
    for (const id of this.bannedSeen) {
      if (this.ctx.isBanned(id)) ids.add(id);
      else this.bannedSeen.delete(id);
    }
    return ids;
  }

  /** Remembers a banned peer of this swarm, so that our offers skip it. */
  private noteBanned(peerId: string): void {
    this.bannedSeen.delete(peerId);
    if (this.bannedSeen.size >= MAX_SKIP_PEER_IDS) {
      const oldest = this.bannedSeen.values().next().value;
      if (oldest !== undefined) this.bannedSeen.delete(oldest);
    }
    this.bannedSeen.add(peerId);
  }

  /**
   * For a tracker that honours `skip_peer_ids`: how many viewers we hold no session with (and
   * do not refuse), an estimate — the swarm's size is the larger of the tracker's last reply
   * and the viewers that offered or answered since (a failed link proves a viewer the reply
   * may not have counted). Infinity when the tracker does not skip or has not replied.
   */
  private unlinkedAt(tracker: TrackerClient): number {
    const view = this.trackerViews.get(tracker);
    if (view === undefined || !view.skipsPeers || view.peers === 0) return Number.POSITIVE_INFINITY;
    const known = this.linkedOrRefused();
    const seen = new Set<string>(known);
    for (const id of view.seen) seen.add(id);
    return Math.max(0, Math.max(view.peers, 1 + seen.size) - 1 - known.size);
  }

  /**
   * Replaces a lost peer soon: one jittered early announce, spaced from the previous one by
   * `minGapMs` (and at least `minDelayMs` away: the retry backoff after failed links). A
   * pending refill due later than this one asks is brought forward. Returns whether a refill
   * was scheduled or brought forward.
   */
  private scheduleRefill(minDelayMs = 0, minGapMs = MIN_REFILL_GAP_MS): boolean {
    if (this.wantedPeers() <= 0) return false;
    const now = this.ctx.clock.now();
    const gap = Math.max(0, this.lastAnnounceAt + minGapMs - now, minDelayMs);
    if (this.refillTimer !== undefined) {
      if (this.refillAt <= now + gap + REFILL_DELAY_MS * 1.5) return false;
      this.clearTimer(this.refillTimer);
    }
    const delay = gap + REFILL_DELAY_MS * (0.5 + this.ctx.random());
    this.refillAt = now + delay;
    this.refillTimer = this.setTimer(() => {
      this.refillTimer = undefined;
      if (this.wantedPeers() <= 0) return;
      for (const t of this.trackers) if (t.connected) this.announce(t, "update");
    }, delay);
    return true;
  }

  private announce(tracker: TrackerClient, event: "started" | "update"): void {
    const now = this.ctx.clock.now();
    this.lastAnnounceAt = now;
    // Unanswered offers from an earlier announce to this tracker are stale by now.
    for (const [id, o] of this.offers) {
      if (o.tracker === tracker && now - o.createdAt >= this.ctx.config.connectTimeoutMs) {
        o.conn.destroy();
        this.offers.delete(id);
        this.ctx.onLinkFailed("offer-unanswered", undefined, "an offer got no answer");
      }
    }
    const base: Record<string, unknown> = {
      action: "announce",
      info_hash: this.infoHash,
      peer_id: this.ctx.selfId,
      event,
      uploaded: 0,
      downloaded: 0,
    };
    // A tracker that skips the peers we list relays each offer to a viewer we are not linked
    // with: as many offers as there are such viewers are enough. Any other tracker picks at
    // random, linked viewers included (they refuse), so it gets the full count.
    const count = Math.min(
      MAX_OFFERS_PER_ANNOUNCE,
      this.wantedPeers() - this.offers.size,
      this.unlinkedAt(tracker),
    );
    const view = this.trackerViews.get(tracker);
    if (view !== undefined) view.lastOffers = Math.max(0, count);
    if (count <= 0) {
      tracker.send({ ...base, numwant: 0, offers: [] });
      return;
    }
    base["skip_peer_ids"] = [...this.linkedOrRefused()].slice(0, MAX_SKIP_PEER_IDS);
    const ready: Array<{ offer: SignalData; offer_id: string }> = [];
    let pending = count;
    let sent = false;
    const send = (): void => {
      if (sent || this.destroyed) return;
      sent = true;
      this.clearTimer(gatherTimer);
      tracker.send({ ...base, numwant: ready.length, offers: ready });
    };
    const gatherTimer = this.setTimer(send, OFFER_GATHER_TIMEOUT_MS);
    for (let i = 0; i < count; i++) {
      const offerId = randomBinaryId(this.ctx.random);
      let conn: PeerConnection;
      try {
        conn = this.ctx.transport.createPeer({ initiator: true, rtcConfig: this.ctx.rtcConfig() });
      } catch (e) {
        this.ctx.onWarning(
          "peer-connection-failed",
          `cannot create a peer connection: ${String(e)}`,
        );
        pending--;
        continue;
      }
      this.offers.set(offerId, { conn, tracker, createdAt: now });
      let signaled = false;
      const onSignal = (s: SignalData): void => {
        conn.off("signal", onSignal);
        signaled = true;
        if (s.type !== "offer" || !this.offers.has(offerId)) return;
        ready.push({ offer: s, offer_id: offerId });
        if (ready.length === pending) send();
      };
      const onClose = (): void => {
        conn.off("close", onClose);
        if (this.offers.get(offerId)?.conn === conn) this.offers.delete(offerId);
        // An offer that failed before it was ready no longer holds back the others.
        if (!signaled && !sent) {
          pending--;
          if (ready.length === pending) send();
        }
      };
      conn.on("signal", onSignal);
      conn.on("close", onClose);
      conn.on("error", () => undefined);
    }
    if (pending <= 0) send();
  }

  private readySession(peerId: string): PeerSession | undefined {
    for (const s of this.sessions.values())
      if (s.peerId === peerId && s.state === "ready") return s;
    return undefined;
  }

  private acceptOffer(
    tracker: TrackerClient,
    peerId: string,
    offerId: string,
    offer: SignalData,
  ): void {
    if (peerId === this.ctx.selfId) return;
    if (this.ctx.isBanned(peerId)) {
      this.noteBanned(peerId);
      return;
    }
    if (this.wantedPeers() <= 0 || this.readySession(peerId)) return;
    if (this.relayRefused.has(peerId)) return;
    const key = `${peerId}/${offerId}`;
    if (this.sessions.has(key)) return;
    let conn: PeerConnection;
    try {
      conn = this.ctx.transport.createPeer({ initiator: false, rtcConfig: this.ctx.rtcConfig() });
    } catch (e) {
      this.ctx.onWarning("peer-connection-failed", `cannot create a peer connection: ${String(e)}`);
      return;
    }
    const onSignal = (answer: SignalData): void => {
      conn.off("signal", onSignal);
      if (answer.type !== "answer" || this.destroyed) return;
      tracker.send({
        action: "announce",
        info_hash: this.infoHash,
        peer_id: this.ctx.selfId,
        to_peer_id: peerId,
        answer,
        offer_id: offerId,
      });
    };
    conn.on("signal", onSignal);
    this.addSession(conn, peerId, key, this.ctx.clock.now());
    try {
      conn.signal(offer);
    } catch {
      this.sessions.get(key)?.close("bad offer");
    }
  }

  private acceptAnswer(peerId: string, offerId: string, answer: SignalData): void {
    const pending = this.offers.get(offerId);
    if (!pending) return;
    this.offers.delete(offerId);
    if (peerId !== this.ctx.selfId && this.ctx.isBanned(peerId)) this.noteBanned(peerId);
    if (
      peerId === this.ctx.selfId ||
      this.ctx.isBanned(peerId) ||
      this.readySession(peerId) ||
      this.relayRefused.has(peerId) ||
      this.wantedPeers() <= 0
    ) {
      pending.conn.destroy();
      return;
    }
    const key = `${this.ctx.selfId}/${offerId}`;
    this.addSession(pending.conn, peerId, key, pending.createdAt);
    try {
      pending.conn.signal(answer);
    } catch {
      this.sessions.get(key)?.close("bad answer");
    }
  }

  private addSession(conn: PeerConnection, peerId: string, key: string, createdAt: number): void {
    // Registered before the session's own listeners: seen first.
    const rec: LinkRecord = {
      conn,
      createdAt,
      openedAt: Number.NaN,
      failure: undefined,
      message: undefined,
    };
    conn.on("connect", () => {
      if (Number.isNaN(rec.openedAt)) rec.openedAt = this.ctx.clock.now();
    });
    conn.on("error", (e) => {
      if (rec.failure !== undefined) return;
      rec.failure = e instanceof PeerLinkError ? e.failure : "other";
      rec.message = e.message;
    });
    const s = new PeerSession(conn, {
      peerId,
      connectionKey: key,
      clock: this.ctx.clock,
      connectTimeoutMs: this.ctx.config.connectTimeoutMs,
      downloadOnly: this.ctx.downloadOnly,
      localHaves: () => [...this.localHaves].map(([segmentId, size]) => ({ segmentId, size })),
      gate: this.ctx.gate,
      ewmaAlpha: this.ctx.ewmaAlpha,
      budget: this.ctx.config.defense,
      hooks: {
        onReady: (x) => this.sessionReady(x),
        onClose: (x, reason, err) => this.sessionClosed(x, reason, err?.reason),
        onHave: (_x, segmentId) => {
          this.wake(segmentId);
          this.ctx.onHave(this);
        },
        serve: (segmentId) => this.serve(segmentId),
        onUploaded: (x, bytes) => this.ctx.onUploaded(x.peerId, bytes),
      },
    });
    this.sessions.set(key, s);
    this.links.set(s, rec);
  }

  /** How a session's link reaches the peer and how long it took to open. */
  linkInfo(s: PeerSession): { linkType?: PeerLinkType; setupMs?: number } {
    const rec = this.links.get(s);
    if (!rec) return {};
    const out: { linkType?: PeerLinkType; setupMs?: number } = {};
    const type = rec.conn.link?.type;
    if (type !== undefined) out.linkType = type;
    if (!Number.isNaN(rec.openedAt)) out.setupMs = Math.max(0, rec.openedAt - rec.createdAt);
    return out;
  }

  /**
   * How many links this swarm wants up before it stops looking early after a failure. A failed
   * link proves one other viewer at least, whatever the tracker reported when we joined.
   */
  private wantedLinks(): number {
    const others = this.peersReported > 0 ? Math.max(1, this.peersReported - 1) : MIN_LINKS;
    return Math.min(MIN_LINKS, others, this.ctx.config.maxPeers);
  }

  /** A link failed to come up: report it, and look for other peers soon if too few are up. */
  private linkFailed(cause: LinkFailureCause, peerId: string, message: string): void {
    this.ctx.onLinkFailed(cause, peerId, message);
    const retry = this.ctx.config.connectRetry;
    if (this.readySessions().length >= this.wantedLinks()) return;
    if (this.setupFailures >= retry.maxNumRetry) return;
    const attempt = this.setupFailures++;
    this.scheduleRefill(backoffDelay(retry, attempt, this.ctx.random));
  }

  /** Of two connections to the same peer, both ends keep the same one. */
  private preferred(a: PeerSession, b: PeerSession): PeerSession {
    const low = this.ctx.selfId < a.peerId ? this.ctx.selfId : a.peerId;
    const aGood = a.connectionKey.startsWith(`${low}/`);
    const bGood = b.connectionKey.startsWith(`${low}/`);
    if (aGood !== bGood) return aGood ? a : b;
    return a.connectionKey < b.connectionKey ? a : b;
  }

  private sessionReady(s: PeerSession): void {
    if (this.destroyed) return;
    if (!this.ctx.config.allowRelay && this.links.get(s)?.conn.link?.type === "relay") {
      // Relayed anyway (the peer's TURN): close it, and do not try this peer again.
      this.relayRefused.add(s.peerId);
      s.close("relay not allowed", undefined, true);
      this.sessions.delete(s.connectionKey);
      this.linkFailed(
        "relay-refused",
        s.peerId,
        "link relayed by TURN while p2p.allowRelay is off",
      );
      return;
    }
    this.setupFailures = 0;
    if (this.ctx.isBanned(s.peerId)) {
      this.noteBanned(s.peerId);
      s.close("banned", undefined, true);
      this.sessions.delete(s.connectionKey);
      return;
    }
    for (const other of this.sessions.values()) {
      if (other === s || other.peerId !== s.peerId || other.state !== "ready") continue;
      const keep = this.preferred(s, other);
      const drop = keep === s ? other : s;
      if (drop === s) {
        s.close("duplicate connection", undefined, true);
        this.sessions.delete(s.connectionKey);
        return;
      }
      // Count the new session before the old one goes: the peer never looks disconnected.
      this.ctx.onSessionReady(this, s);
      other.close("duplicate connection");
      this.afterReady(s);
      return;
    }
    this.ctx.onSessionReady(this, s);
    this.afterReady(s);
  }

  /** Waiters may now ask the new peer, and what it announced while connecting may prefetch. */
  private afterReady(s: PeerSession): void {
    this.wakeAll();
    if (s.remoteHaves.size > 0) this.ctx.onHave(this);
  }

  private sessionClosed(s: PeerSession, reason: string, violation: string | undefined): void {
    if (this.sessions.get(s.connectionKey) === s) this.sessions.delete(s.connectionKey);
    if (this.destroyed) return;
    this.ctx.onSessionClosed(this, s, reason, violation);
    this.wakeAll();
    if (!s.wasReady && violation === undefined && reason !== "duplicate connection") {
      const rec = this.links.get(s);
      const cause = reason === "connect timeout" ? "connect-timeout" : (rec?.failure ?? "other");
      this.linkFailed(cause, s.peerId, rec?.message ?? reason);
      return;
    }
    // Losing a peer that was ready is worth an early announce; a duplicate's loss is not.
    if (s.wasReady && reason !== "duplicate connection") this.scheduleRefill();
  }

  private serve(segmentId: string): Uint8Array | RejectReason {
    if (this.ctx.downloadOnly || this.ctx.config.maxUploads === 0) return "not-serving";
    const bytes = this.ctx.getVerified(segmentId);
    return bytes && bytes.byteLength > 0 ? bytes : "not-found";
  }

  // ---- queries and actions for the source ----

  /** Ready sessions. */
  readySessions(): PeerSession[] {
    return [...this.sessions.values()].filter((s) => s.state === "ready");
  }

  /** Ready sessions that announced `segmentId`, minus `exclude`d peer ids. */
  candidates(segmentId: string, exclude: ReadonlySet<string>): PeerSession[] {
    return this.readySessions().filter(
      (s) => s.remoteHaves.has(segmentId) && !exclude.has(s.peerId) && !s.remoteDownloadOnly,
    );
  }

  /** The ready session with `peerId`. */
  session(peerId: string): PeerSession | undefined {
    return this.readySession(peerId);
  }

  /** Announces a verified segment to every peer. */
  announceHave(segmentId: string, size: number): void {
    if (this.localHaves.get(segmentId) === size) return;
    this.localHaves.set(segmentId, size);
    for (const s of this.readySessions()) s.sendHave([{ segmentId, size }]);
  }

  /**
   * Asks the trackers for fresh peers soon (a refill announce at least `minGapMs` after the
   * previous announce), when a slot is free — unless links keep failing to come up and
   * `p2p.connectRetry` is spent: then fresh offers would only fail the same way, and the next
   * regular announce is soon enough (while links fail, the gap is `MIN_REFILL_GAP_MS`). Returns whether a new refill was scheduled (false: one is
   * pending already, no slot is free, or retries are spent).
   */
  requestPeers(minGapMs = MIN_REFILL_GAP_MS): boolean {
    if (this.setupFailures >= this.ctx.config.connectRetry.maxNumRetry) return false;
    // While links fail to come up, the connectRetry backoff paces announces, not a short gap.
    return this.scheduleRefill(0, this.setupFailures > 0 ? MIN_REFILL_GAP_MS : minGapMs);
  }

  /** The regular announce interval now in force (config, or longer when a tracker asks), ms. */
  get announceIntervalMs(): number {
    return this.intervalMs;
  }

  /** Tells every peer a segment is gone. */
  announceLost(segmentId: string): void {
    if (!this.localHaves.delete(segmentId)) return;
    for (const s of this.readySessions()) s.sendLost([segmentId]);
  }

  /** Closes every connection with `peerId` (silently: the caller reports). */
  closePeer(peerId: string, reason: string): void {
    let lost = false;
    for (const s of [...this.sessions.values()]) {
      if (s.peerId !== peerId) continue;
      this.sessions.delete(s.connectionKey);
      lost ||= s.wasReady;
      s.close(reason, undefined, true);
    }
    if (this.ctx.isBanned(peerId)) this.noteBanned(peerId);
    this.wakeAll();
    if (lost) this.scheduleRefill();
  }

  /**
   * Resolves when `segmentId` is announced by a peer, the set of peers changes, `until`
   * passes, or the swarm is destroyed; rejects with the signal's reason when aborted.
   */
  waitForChange(segmentId: string, until: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      if (this.destroyed) {
        resolve();
        return;
      }
      const done = (): void => {
        this.waiters.delete(w);
        this.clearTimer(timer);
        signal.removeEventListener("abort", onAbort);
      };
      const w: Waiter = {
        segmentId,
        wake: () => {
          done();
          resolve();
        },
      };
      const onAbort = (): void => {
        done();
        reject(signal.reason);
      };
      const timer = this.setTimer(w.wake, Math.max(0, until - this.ctx.clock.now()));
      this.waiters.add(w);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  private wake(segmentId: string): void {
    for (const w of [...this.waiters]) if (w.segmentId === segmentId) w.wake();
  }

  private wakeAll(): void {
    for (const w of [...this.waiters]) w.wake();
  }

  /** Leaves the trackers, closes every peer and timer. Emits nothing. Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const t of this.trackers) {
      if (this.infoHash && t.connected) {
        t.send({
          action: "announce",
          info_hash: this.infoHash,
          peer_id: this.ctx.selfId,
          event: "stopped",
          numwant: 0,
          uploaded: 0,
          downloaded: 0,
        });
      }
      t.unsubscribe(this);
    }
    for (const h of this.timers) this.ctx.clock.clearTimeout(h);
    this.timers.clear();
    this.announceTimer = undefined;
    for (const o of this.offers.values()) o.conn.destroy();
    this.offers.clear();
    for (const s of this.sessions.values()) s.close("destroyed", undefined, true);
    this.sessions.clear();
    for (const w of [...this.waiters]) w.wake();
  }
}
