import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { performance } from "node:perf_hooks";
import type { RawData, WebSocket } from "ws";
import { clientIp, isPrivateIp, normalizeIp } from "./address.js";
import type { SignalingConfig } from "./config.js";
import { CloseCodes, Conn, OutputQueue, rawToString, type ConnHost } from "./connection.js";
import type { Logger } from "./logger.js";
import type { RejectLabel, SignalingMetrics } from "./metrics.js";
import {
  EXTENSIONS,
  parseClientMessage,
  type AnnounceMessage,
  type AnswerMessage,
  type ParseLimits,
  type RejectReason,
  type ScrapeMessage,
} from "./protocol.js";
import { PendingOffers } from "./pending.js";
import {
  announceReplyHead,
  announceReplyText,
  answerText,
  failureText,
  offerText,
  scrapeText,
} from "./replies.js";
import { Swarm, type SwarmPeer } from "./swarm.js";

/**
 * The tracker: connections' messages in (rate limit, parse), announces, answers and scrapes,
 * swarm membership, offer relays and their pending answers, and the periodic sweep.
 */

/** Counts of what the server holds right now. */
export interface SignalingStats {
  /** Open WebSocket connections. */
  connections: number;
  /** Swarms with at least one peer. */
  swarms: number;
  /** Peers over all swarms. */
  peers: number;
  /** Offers waiting for an answer, over all connections. */
  pendingOffers: number;
  /** Offers relayed since start. */
  offersRelayed: number;
  /** Answers relayed since start. */
  answersRelayed: number;
  /** Messages refused or dropped since start. */
  rejected: number;
}

export class Tracker implements ConnHost {
  readonly maxBufferedBytes: number;
  /** Open connections. */
  readonly conns = new Set<Conn>();
  private readonly limits: ParseLimits;
  private readonly swarms = new Map<string, Swarm<Conn>>();
  /** peer id → the connection that first announced it (anti-spoofing). */
  private readonly owners = new Map<string, Conn>();
  /** Reused buffer for random peer picks (no allocation per announce). */
  private readonly picks: Array<SwarmPeer<Conn> | undefined> = [];
  private readonly replyHead: string;
  private readonly trustedProxies: ReadonlySet<string>;
  private readonly output = new OutputQueue();
  private readonly lookup = (infoHash: string): Swarm<Conn> | undefined =>
    this.swarms.get(infoHash);
  private peerCount = 0;
  private pendingCount = 0;
  private offersRelayed = 0;
  private answersRelayed = 0;
  private rejectedCount = 0;

  constructor(
    private readonly config: Readonly<SignalingConfig>,
    private readonly log: Logger,
    private readonly metricsRegistry: SignalingMetrics,
    private readonly random: () => number,
  ) {
    this.maxBufferedBytes = config.maxBufferedBytes;
    this.limits = {
      maxOffers: config.maxOffers,
      maxSdpBytes: config.maxSdpBytes,
      maxScrapeHashes: config.maxSwarmsPerConnection,
    };
    this.replyHead = announceReplyHead(config.announceIntervalS, EXTENSIONS);
    this.trustedProxies = new Set(config.trustedProxies.map((p) => normalizeIp(p)));
  }

  /** Swarms with at least one peer. */
  get swarmCount(): number {
    return this.swarms.size;
  }

  /** Peers over all swarms. */
  get peers(): number {
    return this.peerCount;
  }

  stats(): SignalingStats {
    return {
      connections: this.conns.size,
      swarms: this.swarms.size,
      peers: this.peerCount,
      pendingOffers: this.pendingCount,
      offersRelayed: this.offersRelayed,
      answersRelayed: this.answersRelayed,
      rejected: this.rejectedCount,
    };
  }

  countRejected(reason: RejectLabel): void {
    this.rejectedCount++;
    this.metricsRegistry.rejected(reason);
  }

  flushLater(conn: Conn): void {
    this.output.add(conn);
  }

  /** Takes an upgraded WebSocket (of upgrade request `req`) into the tracker. */
  accept(ws: WebSocket, socket: Duplex, req?: IncomingMessage): void {
    const cfg = this.config;
    const ip = clientIp(
      req?.socket.remoteAddress ?? (socket as { remoteAddress?: string }).remoteAddress,
      req?.headers["x-forwarded-for"],
      this.trustedProxies,
    );
    const ipLimited =
      cfg.maxPeersPerIp > 0 && ip !== "" && (cfg.ipRuleScope === "all" || !isPrivateIp(ip));
    const conn = new Conn(ws, socket, this, Date.now(), cfg.messageBurst, ip, ipLimited);
    this.conns.add(conn);
    ws.on("message", (data: RawData, isBinary: boolean) => this.onMessage(conn, data, isBinary));
    ws.on("pong", () => {
      conn.alive = true;
    });
    ws.on("error", (err: Error & { code?: string }) => {
      this.countRejected(
        err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH" ? "too_large" : "bad_frame",
      );
      this.log.debug("socket error", { err: err.message, code: err.code });
    });
    ws.on("close", () => this.onClose(conn));
  }

  /** Forgets `conn`: its swarm memberships, peer ids and pending offers. Idempotent. */
  onClose(conn: Conn): void {
    if (conn.closed) return;
    conn.closed = true;
    this.conns.delete(conn);
    const memberships = conn.memberships;
    if (memberships !== null) {
      for (let i = memberships.length - 1; i >= 0; i--) {
        const peer = memberships[i];
        if (peer !== undefined) this.removePeer(peer);
      }
      conn.memberships = null;
    }
    if (conn.owned !== null) {
      for (const id of conn.owned) if (this.owners.get(id) === conn) this.owners.delete(id);
      conn.owned = null;
    }
    if (conn.pending !== null) {
      this.pendingCount -= conn.pending.size;
      conn.pending = null;
    }
  }

  /** Abuse handling: close with a policy-violation code. */
  private kick(conn: Conn, why: string): void {
    this.log.warn("closing abusive connection", { why });
    conn.flush();
    conn.ws.close(CloseCodes.policyViolation, why);
    this.onClose(conn);
  }

  private onMessage(conn: Conn, data: RawData, isBinary: boolean): void {
    if (conn.closed) return;
    const t0 = performance.now();
    const now = Date.now();
    conn.lastSeen = now;
    conn.alive = true;

    const cfg = this.config;
    if (!conn.takeToken(now, cfg.messageRatePerSecond, cfg.messageBurst)) {
      this.countRejected("rate_limited");
      if (++conn.limited > cfg.maxRateLimitedMessages) this.kick(conn, "message rate limit");
      return;
    }

    if (isBinary) {
      this.metricsRegistry.in("invalid");
      this.invalid(conn, "binary_frame", "binary frames are not accepted", "announce", null);
      return;
    }
    const msg = parseClientMessage(rawToString(data), this.limits);
    switch (msg.kind) {
      case "invalid":
        this.metricsRegistry.in("invalid");
        this.invalid(conn, msg.reason, msg.message, msg.action, msg.infoHash);
        return;
      case "announce":
        this.metricsRegistry.in("announce");
        this.onAnnounce(conn, msg, t0);
        return;
      case "answer":
        this.metricsRegistry.in("answer");
        this.onAnswer(conn, msg, t0);
        return;
      case "scrape":
        this.metricsRegistry.in("scrape");
        this.onScrape(conn, msg);
        return;
    }
  }

  /** Replies with a wire-compatible `failure reason` and counts the offence. */
  private invalid(
    conn: Conn,
    reason: RejectReason,
    text: string,
    action: "announce" | "scrape",
    infoHash: string | null,
  ): void {
    this.countRejected(reason);
    if (++conn.invalid > this.config.maxInvalidMessages) {
      this.kick(conn, "too many invalid messages");
      return;
    }
    this.failure(conn, reason, text, action, infoHash);
  }

  /** A refusal that is not the client's protocol fault (e.g. swarm full): reply, no strike. */
  private failure(
    conn: Conn,
    reason: RejectReason,
    text: string,
    action: "announce" | "scrape",
    infoHash: string | null,
  ): void {
    if (reason !== "bad_json" && this.log.enabled("debug"))
      this.log.debug("message refused", { reason });
    if (conn.send(failureText(action, text, infoHash))) {
      this.metricsRegistry.out("failure");
    }
  }

  private onAnnounce(conn: Conn, msg: AnnounceMessage, t0: number): void {
    const cfg = this.config;
    const owner = this.owners.get(msg.peerId);
    if (owner !== undefined && owner !== conn) {
      this.invalid(
        conn,
        "peer_id_taken",
        "peer_id is in use by another connection",
        "announce",
        msg.infoHash,
      );
      return;
    }
    let swarm = this.swarms.get(msg.infoHash);
    let peer = swarm?.get(msg.peerId);

    if (msg.event === "stopped") {
      if (peer !== undefined) this.removePeer(peer);
      this.reply(conn, swarm, msg.infoHash);
      return;
    }

    if (peer === undefined) {
      if (owner === undefined && (conn.owned?.length ?? 0) >= cfg.maxSwarmsPerConnection) {
        this.failure(
          conn,
          "too_many_peer_ids",
          "too many peer_ids on one connection",
          "announce",
          msg.infoHash,
        );
        this.countRejected("too_many_peer_ids");
        return;
      }
      if ((conn.memberships?.length ?? 0) >= cfg.maxSwarmsPerConnection) {
        this.failure(
          conn,
          "too_many_swarms",
          "too many swarms on one connection",
          "announce",
          msg.infoHash,
        );
        this.countRejected("too_many_swarms");
        return;
      }
      if (swarm === undefined) {
        if (this.swarms.size >= cfg.maxSwarms) {
          this.failure(conn, "server_swarms_full", "tracker is full", "announce", msg.infoHash);
          this.countRejected("server_swarms_full");
          return;
        }
        swarm = new Swarm<Conn>(msg.infoHash);
        this.swarms.set(msg.infoHash, swarm);
      } else if (swarm.size >= cfg.maxPeersPerSwarm) {
        this.failure(conn, "swarm_full", "swarm is full", "announce", msg.infoHash);
        this.countRejected("swarm_full");
        return;
      } else if (conn.ipLimited && swarm.peersAt(conn.ip) >= cfg.maxPeersPerIp) {
        // Not a strike: a crowded NAT is no protocol fault. The viewer plays over HTTP.
        this.failure(
          conn,
          "too_many_peers_per_ip",
          "too many peers from your address in this swarm",
          "announce",
          msg.infoHash,
        );
        this.countRejected("too_many_peers_per_ip");
        return;
      }
      if (owner === undefined) {
        this.owners.set(msg.peerId, conn);
        (conn.owned ??= []).push(msg.peerId);
      }
      peer = swarm.add(msg.peerId, conn, msg.seeding);
      (conn.memberships ??= []).push(peer);
      this.peerCount++;
    } else if (msg.seeding && swarm !== undefined) {
      swarm.setSeeding(peer, true);
    }
    if (swarm === undefined) return; // unreachable: a peer always has a swarm

    this.reply(conn, swarm, msg.infoHash);

    const offers = msg.offers;
    if (offers.length === 0) return;
    const picks = this.picks;
    const k = swarm.pickRandom(offers.length, peer, this.random, picks, msg.skipPeerIds);
    const now = Date.now();
    let sent = 0;
    for (let i = 0; i < k; i++) {
      const target = picks[i];
      const offer = offers[i];
      picks[i] = undefined;
      if (target === undefined || offer === undefined) continue;
      const text = offerText(swarm.infoHashJson, peer.peerIdJson, offer.offerId, offer.sdp);
      if (!target.conn.send(text)) continue;
      const pending = (target.conn.pending ??= new PendingOffers(cfg.maxPendingOffers));
      this.pendingCount += 1 - pending.add(offer.offerId, peer, target, now);
      sent++;
    }
    if (sent > 0) {
      this.offersRelayed += sent;
      this.metricsRegistry.out("offer_relay", sent);
      this.metricsRegistry.relayLatency.observe((performance.now() - t0) / 1000);
    }
  }

  private onAnswer(conn: Conn, msg: AnswerMessage, t0: number): void {
    const owner = this.owners.get(msg.peerId);
    if (owner !== conn) {
      this.invalid(conn, "peer_id_taken", "peer_id is not yours", "announce", msg.infoHash);
      return;
    }
    // The offer this answers: sent to this peer, by the peer it names, in the swarm it names.
    const pending = conn.pending?.take(
      msg.offerId,
      (from, to) =>
        to.peerId === msg.peerId &&
        from.peerId === msg.toPeerId &&
        from.swarm.infoHash === msg.infoHash,
    );
    if (pending === undefined) {
      // Never relayed without a matching offer; not a strike (offers can be legitimately evicted).
      this.countRejected("no_matching_offer");
      return;
    }
    this.pendingCount--;
    if (Date.now() - pending.at > this.config.offerTtlMs) {
      this.countRejected("offer_expired");
      return;
    }
    const from = pending.from;
    if (from.conn.closed || this.owners.get(from.peerId) !== from.conn) {
      this.countRejected("target_gone");
      return;
    }
    const text = answerText(msg.sdp, msg.offerId, pending.to.peerIdJson, from.swarm.infoHashJson);
    if (from.conn.send(text)) {
      this.answersRelayed++;
      this.metricsRegistry.out("answer_relay");
      this.metricsRegistry.relayLatency.observe((performance.now() - t0) / 1000);
    }
  }

  private onScrape(conn: Conn, msg: ScrapeMessage): void {
    const text = scrapeText(msg.infoHashes, this.lookup, this.config.announceIntervalS);
    if (conn.send(text)) this.metricsRegistry.out("reply");
  }

  private reply(conn: Conn, swarm: Swarm<Conn> | undefined, infoHash: string): void {
    const text = announceReplyText(this.replyHead, swarm, infoHash);
    if (conn.send(text)) this.metricsRegistry.out("reply");
  }

  private removePeer(peer: SwarmPeer<Conn>): void {
    const swarm = peer.swarm;
    if (peer.index < 0) return;
    swarm.remove(peer);
    this.peerCount--;
    const list = peer.conn.memberships;
    if (list !== null) {
      const at = list.indexOf(peer);
      if (at >= 0) {
        const last = list.pop();
        if (last !== undefined && at < list.length) list[at] = last;
      }
    }
    if (swarm.size === 0 && this.swarms.get(swarm.infoHash) === swarm)
      this.swarms.delete(swarm.infoHash);
  }

  /** Every `pingIntervalMs`: reap half-open and idle sockets, ping the rest, expire offers. */
  sweep(): void {
    const now = Date.now();
    const { idleTimeoutMs, offerTtlMs } = this.config;
    for (const conn of this.conns) {
      if (!conn.alive) {
        this.log.debug("terminating unresponsive socket");
        conn.ws.terminate();
        this.onClose(conn);
        continue;
      }
      if (now - conn.lastSeen > idleTimeoutMs) {
        conn.flush();
        conn.ws.close(CloseCodes.idleTimeout, "idle timeout");
        this.onClose(conn);
        continue;
      }
      conn.alive = false;
      conn.ws.ping();
      const pending = conn.pending;
      if (pending !== null) {
        this.pendingCount -= pending.expire(now - offerTtlMs);
        if (pending.size === 0) conn.pending = null;
      }
    }
  }
}
