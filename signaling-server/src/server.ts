import {
  createServer,
  STATUS_CODES,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { performance } from "node:perf_hooks";
import { WebSocketServer, WebSocket, type RawData } from "ws";
import { resolveConfig, type SignalingConfig } from "./config.js";
import { SignalingError } from "./errors.js";
import { encodeTextFrame, encodeTextFrames } from "./frames.js";
import { Logger, type LogSink } from "./logger.js";
import { SignalingMetrics, type RejectLabel } from "./metrics.js";
import {
  parseClientMessage,
  type AnnounceMessage,
  type AnswerMessage,
  type ParseLimits,
  type RejectReason,
  type ScrapeMessage,
} from "./protocol.js";
import { PendingOffers } from "./pending.js";
import { Swarm, type SwarmConnection, type SwarmPeer } from "./swarm.js";
import { admit } from "./admission.js";
import { buildIceResponse, parseIceServerUrl, type IceServerUrl } from "./ice.js";

/** Close codes the server uses. */
export const CloseCodes = Object.freeze({
  /** Server shutting down. */
  goingAway: 1001,
  /** Abuse: too many invalid or rate-limited messages. */
  policyViolation: 1008,
  /** No message within `idleTimeoutMs`. */
  idleTimeout: 4000,
} as const);

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

/** A running signaling server. */
export interface SignalingServer {
  /** Tracker URL for clients, e.g. `ws://127.0.0.1:8090` (IPv6 hosts in brackets). */
  readonly url: string;
  /** Base HTTP URL (`/healthz`, `/metrics`, `/ice`). */
  readonly httpUrl: string;
  /** The bound port (useful with `port: 0`). */
  readonly port: number;
  /** The resolved, frozen config. */
  readonly config: Readonly<SignalingConfig>;
  /** Prometheus metrics text, as served on `/metrics`. */
  metrics(): Promise<string>;
  /** Current counts. */
  stats(): SignalingStats;
  /**
   * Graceful shutdown: stop accepting, close every socket with 1001, terminate those still open
   * after `shutdownTimeoutMs`, then resolve. Idempotent.
   */
  close(): Promise<void>;
}

/** Injectable dependencies (tests). */
export interface SignalingDeps {
  /** Where JSON log lines go (default: stderr). */
  logSink?: LogSink;
  /** Random source for peer selection (default: `Math.random`). */
  random?: () => number;
}

/** Per-connection state. Collections are created lazily so an idle socket costs little. */
class Conn implements SwarmConnection {
  tokens: number;
  lastRefill: number;
  lastSeen: number;
  alive = true;
  closed = false;
  invalid = 0;
  limited = 0;
  owned: string[] | null = null;
  memberships: SwarmPeer<Conn>[] | null = null;
  /** Offers relayed to this connection that it may still answer (created at the first). */
  pending: PendingOffers<SwarmPeer<Conn>> | null = null;
  /** Messages queued this event-loop turn (one, or several in order); written at `flush`. */
  private out: string | string[] | null = null;
  /** UTF-16 length of `out`, counted against `maxBufferedBytes` with the socket's own buffer. */
  private outLength = 0;

  constructor(
    readonly ws: WebSocket,
    /** The upgraded TCP socket under `ws`: queued frames are written to it directly. */
    readonly socket: Duplex,
    private readonly server: SignalingServerImpl,
    now: number,
    burst: number,
  ) {
    this.tokens = burst;
    this.lastRefill = now;
    this.lastSeen = now;
  }

  /** Queues `message` for this turn's write; false if the socket is closing or too far behind. */
  send(message: string): boolean {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN) return false;
    if (this.socket.writableLength + this.outLength > this.server.config.maxBufferedBytes) {
      this.server.countRejected("slow_consumer");
      return false;
    }
    const out = this.out;
    if (out === null) {
      this.out = message;
      this.server.flushLater(this);
    } else if (typeof out === "string") {
      this.out = [out, message];
    } else {
      out.push(message);
    }
    this.outLength += message.length;
    return true;
  }

  /**
   * Writes what this turn queued as one buffer of frames: one system call per socket and turn,
   * however many replies, offers and answers it got. Dropped if the WebSocket began closing
   * meanwhile (no data frame may follow a close frame).
   */
  flush(): void {
    const out = this.out;
    if (out === null) return;
    this.out = null;
    this.outLength = 0;
    if (this.ws.readyState !== WebSocket.OPEN || this.socket.destroyed) return;
    this.socket.write(typeof out === "string" ? encodeTextFrame(out) : encodeTextFrames(out));
  }
}

const noop = (): void => {};

function rawToString(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString("utf8");
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  return Buffer.from(data).toString("utf8");
}

class SignalingServerImpl implements SignalingServer {
  url = "";
  httpUrl = "";
  port = 0;
  readonly metricsRegistry: SignalingMetrics;
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly log: Logger;
  private readonly random: () => number;
  private readonly limits: ParseLimits;
  private readonly conns = new Set<Conn>();
  private readonly swarms = new Map<string, Swarm<Conn>>();
  /** peer id → the connection that first announced it (anti-spoofing). */
  private readonly owners = new Map<string, Conn>();
  /** Reused buffer for random peer picks (no allocation per announce). */
  private readonly picks: Array<SwarmPeer<Conn> | undefined> = [];
  private readonly replyHead: string;
  /** `config.iceServers`, parsed (validated by `resolveConfig`). */
  private readonly iceUrls: IceServerUrl[];
  private peerCount = 0;
  private pendingCount = 0;
  private offersRelayed = 0;
  private answersRelayed = 0;
  private rejectedCount = 0;
  private sweepTimer: NodeJS.Timeout | null = null;
  private closing: Promise<void> | null = null;
  /**
   * Connections with messages queued this event-loop turn. Every frame for a socket in one turn
   * (replies, relayed offers and answers from all the messages read in that turn) leaves in one
   * write at `setImmediate`, instead of one system call per frame: socket writes were the
   * largest cost of a relay (bench/signaling).
   */
  private readonly queuedConns: Conn[] = [];
  private flushScheduled = false;
  private readonly flushAll = (): void => {
    this.flushScheduled = false;
    const list = this.queuedConns;
    for (let i = 0; i < list.length; i++) list[i]?.flush();
    list.length = 0;
  };

  constructor(
    readonly config: Readonly<SignalingConfig>,
    deps: SignalingDeps,
  ) {
    this.log = new Logger(config.logLevel, deps.logSink);
    this.random = deps.random ?? Math.random;
    this.limits = {
      maxOffers: config.maxOffers,
      maxSdpBytes: config.maxSdpBytes,
      maxScrapeHashes: config.maxSwarmsPerConnection,
    };
    this.iceUrls = config.iceServers.flatMap((raw) => {
      const u = parseIceServerUrl(raw);
      return typeof u === "string" ? [] : [u];
    });
    this.replyHead = `{"action":"announce","interval":${config.announceIntervalS},"info_hash":`;
    this.metricsRegistry = new SignalingMetrics({
      connections: () => this.conns.size,
      swarms: () => this.swarms.size,
      peers: () => this.peerCount,
    });
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: config.maxPayload,
      perMessageDeflate: false,
    });
    this.http = createServer((req, res) => this.onHttp(req, res));
    this.http.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.onUpgrade(req, socket, head),
    );
    this.http.on("clientError", (_err, socket) => socket.destroy());
  }

  async listen(): Promise<void> {
    const { port, host } = this.config;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void =>
        reject(
          new SignalingError("listen_failed", `cannot listen on ${host}:${port}: ${err.message}`, {
            cause: err,
          }),
        );
      this.http.once("error", onError);
      this.http.listen(port, host, () => {
        this.http.off("error", onError);
        resolve();
      });
    });
    this.http.on("error", (err) => this.log.error("http server error", { err: err.message }));
    const addr = this.http.address() as AddressInfo;
    this.port = addr.port;
    const h = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
    this.url = `ws://${h}:${addr.port}`;
    this.httpUrl = `http://${h}:${addr.port}`;
    this.sweepTimer = setInterval(() => this.sweep(), this.config.pingIntervalMs);
    this.sweepTimer.unref();
    this.log.info("signaling server listening", {
      url: this.url,
      maxPayload: this.config.maxPayload,
    });
  }

  metrics(): Promise<string> {
    return this.metricsRegistry.registry.metrics();
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

  // ---- HTTP -------------------------------------------------------------------------------

  private onHttp(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "/").split("?", 1)[0];
    if (path === "/ice" && (req.method === "GET" || req.method === "OPTIONS")) {
      this.onIce(req, res);
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/healthz") {
      const ok = this.closing === null;
      res.writeHead(ok ? 200 : 503, {
        "content-type": "application/json",
        "cache-control": "no-store",
      });
      res.end(JSON.stringify({ status: ok ? "ok" : "shutting_down", ...this.stats() }));
      return;
    }
    if (path === "/metrics") {
      this.metrics().then(
        (text) => {
          res.writeHead(200, { "content-type": this.metricsRegistry.registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          this.log.error("metrics failed", { err: String(err) });
          res.writeHead(500).end();
        },
      );
      return;
    }
    res.writeHead(path === "/" || path === "/announce" ? 426 : 404, {
      "content-type": "text/plain",
    });
    res.end(
      path === "/" || path === "/announce"
        ? "WebSocket tracker: connect with ws://\n"
        : "not found\n",
    );
  }

  /**
   * `GET /ice`: the ICE servers, TURN entries with fresh credentials. Same Origin and token
   * checks as the upgrade; a refused request gets its status and no credentials. CORS: the
   * allowed Origin is echoed (`*` without an allowlist); `OPTIONS` answers a preflight.
   */
  private onIce(req: IncomingMessage, res: ServerResponse): void {
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "cache-control": "no-store",
    };
    const preflight = req.method === "OPTIONS";
    const admission = preflight
      ? admit({ ...this.config, tokenSecret: null }, req, Date.now())
      : admit(this.config, req, Date.now());
    if (!admission.ok) {
      this.metricsRegistry.iceRequests.labels(admission.reason).inc();
      this.log.debug("ice request refused", { status: admission.status, reason: admission.reason });
      res.writeHead(admission.status, headers).end(JSON.stringify({ error: admission.reason }));
      return;
    }
    const origin = req.headers.origin;
    if (this.config.allowedOrigins.length === 0) {
      headers["access-control-allow-origin"] = "*";
    } else if (typeof origin === "string") {
      headers["access-control-allow-origin"] = origin;
      headers.vary = "Origin";
    }
    if (preflight) {
      headers["access-control-allow-methods"] = "GET";
      headers["access-control-max-age"] = "600";
      res.writeHead(204, headers).end();
      return;
    }
    if (this.iceUrls.length === 0) {
      this.metricsRegistry.iceRequests.labels("not_configured").inc();
      res.writeHead(404, headers).end(JSON.stringify({ error: "ice_not_configured" }));
      return;
    }
    const body = buildIceResponse(
      this.iceUrls,
      this.config.turnSecret,
      this.config.turnTtlS,
      Date.now(),
      admission.claims?.sub,
    );
    this.metricsRegistry.iceRequests.labels("ok").inc();
    res.writeHead(200, headers).end(JSON.stringify(body));
  }

  private refuse(socket: Duplex, status: number, reason: string): void {
    this.metricsRegistry.refusedUpgrades.labels(reason).inc();
    this.log.debug("upgrade refused", { status, reason });
    socket.on("error", noop);
    if (socket.writable) {
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${reason.length}\r\n\r\n${reason}`,
      );
    }
    socket.destroy();
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.closing !== null) return this.refuse(socket, 503, "shutting_down");
    if (this.conns.size >= this.config.maxConnections)
      return this.refuse(socket, 503, "server_full");
    const admission = admit(this.config, req, Date.now());
    if (!admission.ok) return this.refuse(socket, admission.status, admission.reason);
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, socket));
  }

  // ---- WebSocket --------------------------------------------------------------------------

  /** Writes `conn`'s queued frames at the end of this event-loop turn. */
  flushLater(conn: Conn): void {
    this.queuedConns.push(conn);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.flushAll);
  }

  private onConnection(ws: WebSocket, socket: Duplex): void {
    if (this.closing !== null) {
      ws.close(CloseCodes.goingAway, "server shutting down");
      return;
    }
    const conn = new Conn(ws, socket, this, Date.now(), this.config.messageBurst);
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

  private onClose(conn: Conn): void {
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

    // Token bucket, refilled lazily: no timer per connection.
    const cfg = this.config;
    const refill = ((now - conn.lastRefill) / 1000) * cfg.messageRatePerSecond;
    conn.tokens = Math.min(cfg.messageBurst, conn.tokens + refill);
    conn.lastRefill = now;
    if (conn.tokens < 1) {
      this.countRejected("rate_limited");
      if (++conn.limited > cfg.maxRateLimitedMessages) this.kick(conn, "message rate limit");
      return;
    }
    conn.tokens -= 1;

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
    const hash = infoHash === null ? "" : `,"info_hash":${JSON.stringify(infoHash)}`;
    if (conn.send(`{"action":"${action}","failure reason":${JSON.stringify(text)}${hash}}`)) {
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
    const k = swarm.pickRandom(offers.length, peer, this.random, picks);
    const now = Date.now();
    let sent = 0;
    for (let i = 0; i < k; i++) {
      const target = picks[i];
      const offer = offers[i];
      picks[i] = undefined;
      if (target === undefined || offer === undefined) continue;
      const text =
        `{"action":"announce","info_hash":${swarm.infoHashJson},"peer_id":${peer.peerIdJson},` +
        `"offer_id":${JSON.stringify(offer.offerId)},"offer":{"type":"offer","sdp":${JSON.stringify(offer.sdp)}}}`;
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
    const text =
      `{"action":"announce","answer":{"type":"answer","sdp":${JSON.stringify(msg.sdp)}},` +
      `"offer_id":${JSON.stringify(msg.offerId)},"peer_id":${pending.to.peerIdJson},"info_hash":${from.swarm.infoHashJson}}`;
    if (from.conn.send(text)) {
      this.answersRelayed++;
      this.metricsRegistry.out("answer_relay");
      this.metricsRegistry.relayLatency.observe((performance.now() - t0) / 1000);
    }
  }

  private onScrape(conn: Conn, msg: ScrapeMessage): void {
    let files = "";
    for (const hash of msg.infoHashes) {
      const swarm = this.swarms.get(hash);
      const c = swarm?.complete ?? 0;
      const i = swarm?.incomplete ?? 0;
      if (files.length > 0) files += ",";
      files += `${swarm?.infoHashJson ?? JSON.stringify(hash)}:{"complete":${c},"incomplete":${i},"downloaded":${c}}`;
    }
    const text = `{"action":"scrape","files":{${files}},"flags":{"min_request_interval":${this.config.announceIntervalS}}}`;
    if (conn.send(text)) this.metricsRegistry.out("reply");
  }

  private reply(conn: Conn, swarm: Swarm<Conn> | undefined, infoHash: string): void {
    const head = swarm?.infoHashJson ?? JSON.stringify(infoHash);
    const text = `${this.replyHead}${head},"complete":${swarm?.complete ?? 0},"incomplete":${swarm?.incomplete ?? 0}}`;
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
  private sweep(): void {
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

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.log.info("signaling server shutting down", { connections: this.conns.size });
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    const httpClosed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeIdleConnections();
    const sockets = [...this.conns];
    const closed = sockets.map(
      (conn) =>
        new Promise<void>((resolve) => {
          if (conn.ws.readyState === WebSocket.CLOSED) return resolve();
          conn.ws.once("close", () => resolve());
          conn.flush();
          conn.ws.close(CloseCodes.goingAway, "server shutting down");
        }),
    );
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.config.shutdownTimeoutMs);
    });
    await Promise.race([Promise.all(closed), timedOut]);
    clearTimeout(timer);
    for (const conn of sockets) {
      if (conn.ws.readyState !== WebSocket.CLOSED) conn.ws.terminate();
      this.onClose(conn);
    }
    this.http.closeAllConnections();
    await httpClosed;
    this.wss.close();
    this.log.info("signaling server closed");
  }
}

/**
 * Starts a signaling server (WebTorrent tracker protocol over WebSocket) and resolves once it
 * listens. Config is `Partial<SignalingConfig>` merged over `DEFAULT_CONFIG`.
 * @throws SignalingError `config_invalid` or `listen_failed`.
 */
export async function startSignalingServer(
  opts: Partial<SignalingConfig> = {},
  deps: SignalingDeps = {},
): Promise<SignalingServer> {
  const server = new SignalingServerImpl(resolveConfig(opts), deps);
  await server.listen();
  return server;
}
