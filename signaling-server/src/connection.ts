import type { Duplex } from "node:stream";
import { WebSocket, type RawData } from "ws";
import { encodeTextFrame, encodeTextFrames } from "./frames.js";
import type { RejectLabel } from "./metrics.js";
import type { PendingOffers } from "./pending.js";
import type { SwarmConnection, SwarmPeer } from "./swarm.js";

/**
 * One WebSocket connection's state and its output: replies, relayed offers and answers queued
 * during an event-loop turn leave in one socket write of raw frames at the end of the turn.
 */

/** Close codes the server uses. */
export const CloseCodes = Object.freeze({
  /** Server shutting down. */
  goingAway: 1001,
  /** Abuse: too many invalid or rate-limited messages. */
  policyViolation: 1008,
  /** No message within `idleTimeoutMs`. */
  idleTimeout: 4000,
} as const);

/** What a connection needs from the server around it. */
export interface ConnHost {
  /** `config.maxBufferedBytes`. */
  readonly maxBufferedBytes: number;
  /** Counts a message refused or dropped. */
  countRejected(reason: RejectLabel): void;
  /** Asks for `conn.flush()` at the end of this event-loop turn. */
  flushLater(conn: Conn): void;
}

/** Per-connection state. Collections are created lazily so an idle socket costs little. */
export class Conn implements SwarmConnection {
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
    private readonly host: ConnHost,
    now: number,
    burst: number,
    /** The client's address (see `address.ts`); "" when unknown. */
    readonly ip = "",
    /** Whether `maxPeersPerIp` applies to this connection (its address is not exempt). */
    readonly ipLimited = false,
  ) {
    this.tokens = burst;
    this.lastRefill = now;
    this.lastSeen = now;
  }

  /**
   * Token bucket of incoming messages, refilled lazily (no timer per connection): takes one
   * token, or returns false when the connection is over its rate.
   */
  takeToken(now: number, ratePerSecond: number, burst: number): boolean {
    const refill = ((now - this.lastRefill) / 1000) * ratePerSecond;
    this.tokens = Math.min(burst, this.tokens + refill);
    this.lastRefill = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Queues `message` for this turn's write; false if the socket is closing or too far behind. */
  send(message: string): boolean {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN) return false;
    if (this.socket.writableLength + this.outLength > this.host.maxBufferedBytes) {
      this.host.countRejected("slow_consumer");
      return false;
    }
    const out = this.out;
    if (out === null) {
      this.out = message;
      this.host.flushLater(this);
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

/**
 * Connections with messages queued this event-loop turn. Every frame for a socket in one turn
 * (replies, relayed offers and answers from all the messages read in that turn) leaves in one
 * write at `setImmediate`, instead of one system call per frame: socket writes were the largest
 * cost of a relay (bench/signaling).
 */
export class OutputQueue {
  private readonly queued: Conn[] = [];
  private scheduled = false;
  private readonly flushAll = (): void => {
    this.scheduled = false;
    const list = this.queued;
    for (let i = 0; i < list.length; i++) list[i]?.flush();
    list.length = 0;
  };

  /** Writes `conn`'s queued frames at the end of this event-loop turn. */
  add(conn: Conn): void {
    this.queued.push(conn);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flushAll);
  }
}

/** A received text message as a string (`ws` hands over a Buffer, a list of them or an ArrayBuffer). */
export function rawToString(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString("utf8");
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  return Buffer.from(data).toString("utf8");
}
