/**
 * WebSocket client for the WebTorrent tracker protocol (our signaling server, bittorrent-tracker
 * and compatible servers). One client per tracker URL, shared by every swarm of a source; it
 * reconnects with jittered backoff and hands validated announce messages to the swarm whose
 * `info_hash` they carry.
 */
import type { Clock } from "../clock.js";
import type { RetryConfig } from "../config.js";
import type { WarningKind } from "../events.js";
import { backoffDelay } from "../backoff.js";
import { parseSignal, type SignalData } from "./peer-transport.js";

type Handler<E> = { bivarianceHack(ev: E): void }["bivarianceHack"];

/** The part of the WebSocket API the tracker client uses (DOM `WebSocket` and `ws` both fit). */
export interface TrackerSocket {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ data: unknown }> | null;
  onclose: Handler<unknown> | null;
  onerror: Handler<unknown> | null;
}

/** A WebSocket constructor: `globalThis.WebSocket` in browsers, `ws` in Node. */
export type WebSocketConstructor = new (url: string) => TrackerSocket;

/**
 * The tracker protocol extension (Hivecast's signaling server): an announce may list, in
 * `skip_peer_ids`, peers its offers must not be relayed to; the tracker names it in the
 * `extensions` of its replies. Trackers without it ignore the field.
 */
export const SKIP_PEER_IDS = "skip_peer_ids";

/** Largest tracker message accepted, characters. */
export const MAX_TRACKER_MESSAGE_CHARS = 64 * 1024;

/** A validated `announce` message from the tracker. */
export interface TrackerAnnounce {
  /** 20-character binary string. */
  infoHash: string;
  /** Sender's 20-character peer id (with offer/answer). */
  peerId?: string;
  offer?: SignalData;
  answer?: SignalData;
  /** 20-character binary string (with offer/answer). */
  offerId?: string;
  /** Re-announce interval the tracker asks for, seconds. */
  intervalSec?: number;
  /** Peers in the swarm as the tracker counts them (`complete` + `incomplete`), us included. */
  swarmPeers?: number;
  /**
   * The tracker honours `skip_peer_ids` (it names the `skip_peer_ids` extension in its reply):
   * an announce's offers go only to peers it does not list.
   */
  skipsPeers?: true;
  /** The tracker refused the announce. */
  failure?: string;
  warning?: string;
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 1e9;
}

/** A 20-character binary string: every character a latin1 code point (0–255), as on the wire. */
function str20(v: unknown): string | undefined {
  if (typeof v !== "string" || v.length !== 20) return undefined;
  for (let i = 0; i < 20; i++) if (v.charCodeAt(i) > 0xff) return undefined;
  return v;
}

/**
 * Parses and validates one tracker message; undefined for anything that is not a well-formed
 * announce (unknown fields ignored, never cast).
 */
export function parseTrackerMessage(data: unknown): TrackerAnnounce | undefined {
  let text: string;
  if (typeof data === "string") text = data;
  else if (data instanceof ArrayBuffer || data instanceof Uint8Array) {
    if (data.byteLength > MAX_TRACKER_MESSAGE_CHARS * 4) return undefined;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(data);
    } catch {
      return undefined;
    }
  } else return undefined;
  if (text.length > MAX_TRACKER_MESSAGE_CHARS) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const get = (k: string): unknown => Reflect.get(v, k);
  if (get("action") !== "announce") return undefined;
  const infoHash = str20(get("info_hash"));
  if (!infoHash) return undefined;
  const out: TrackerAnnounce = { infoHash };
  const failure = get("failure reason");
  if (typeof failure === "string") out.failure = failure.slice(0, 200);
  const warning = get("warning message");
  if (typeof warning === "string") out.warning = warning.slice(0, 200);
  const interval = get("interval");
  if (typeof interval === "number" && Number.isFinite(interval) && interval > 0)
    out.intervalSec = interval;
  const complete = get("complete");
  const incomplete = get("incomplete");
  if (isCount(complete) && isCount(incomplete)) out.swarmPeers = complete + incomplete;
  const extensions = get("extensions");
  if (Array.isArray(extensions) && extensions.includes(SKIP_PEER_IDS)) out.skipsPeers = true;
  const peerId = str20(get("peer_id"));
  const offerId = str20(get("offer_id"));
  if (peerId && offerId) {
    const offer = parseSignal(get("offer"), "offer");
    const answer = parseSignal(get("answer"), "answer");
    if (offer) out.offer = offer;
    else if (answer) out.answer = answer;
    if (offer || answer) {
      out.peerId = peerId;
      out.offerId = offerId;
    }
  }
  return out;
}

/** What a swarm registers with a {@link TrackerClient}. */
export interface TrackerSubscriber {
  /** 20-character binary info hash. */
  readonly infoHash: string;
  /** The socket (re)opened: announce now. */
  onTrackerOpen(tracker: TrackerClient): void;
  /** A validated announce for this swarm. */
  onTrackerMessage(tracker: TrackerClient, msg: TrackerAnnounce): void;
}

/** Options of a {@link TrackerClient}. */
export interface TrackerClientOptions {
  url: string;
  clock: Clock;
  random: () => number;
  retry: RetryConfig;
  /** Abandon a connection attempt after this, ms. */
  connectTimeoutMs: number;
  WebSocket: WebSocketConstructor;
  /** Non-fatal problems (for the app's `warning` event). */
  onWarning?: (kind: WarningKind, message: string, details: { tracker: string }) => void;
}

/** One tracker connection with reconnect. */
export class TrackerClient {
  readonly url: string;
  /** Failed connection attempts since the last good message (drives the backoff). */
  retries = 0;
  /** Sockets created so far (tests, stats). */
  socketsOpened = 0;
  private socket: TrackerSocket | undefined;
  private open = false;
  private reconnectTimer: unknown;
  private connectTimer: unknown;
  private destroyed = false;
  private readonly subscribers = new Map<string, TrackerSubscriber>();

  constructor(private readonly opts: TrackerClientOptions) {
    this.url = opts.url;
  }

  /** Whether the socket is open. */
  get connected(): boolean {
    return this.open;
  }

  /** Registers a swarm; opens the socket on first use. */
  subscribe(s: TrackerSubscriber): void {
    if (this.destroyed) return;
    this.subscribers.set(s.infoHash, s);
    if (!this.socket && this.reconnectTimer === undefined) this.connect();
    else if (this.open) s.onTrackerOpen(this);
  }

  /** Unregisters a swarm. */
  unsubscribe(s: TrackerSubscriber): void {
    if (this.subscribers.get(s.infoHash) === s) this.subscribers.delete(s.infoHash);
  }

  /** Sends a message if the socket is open; returns whether it was sent. */
  send(msg: Record<string, unknown>): boolean {
    if (!this.socket || !this.open || this.destroyed) return false;
    try {
      this.socket.send(JSON.stringify(msg));
      return true;
    } catch {
      return false;
    }
  }

  private warn(kind: WarningKind, why: string): void {
    this.opts.onWarning?.(kind, `tracker ${this.url}: ${why}`, { tracker: this.url });
  }

  private connect(): void {
    if (this.destroyed) return;
    let ws: TrackerSocket;
    try {
      ws = new this.opts.WebSocket(this.url);
    } catch (e) {
      this.warn("tracker-unavailable", String(e));
      this.scheduleReconnect();
      return;
    }
    this.socketsOpened++;
    this.socket = ws;
    this.connectTimer = this.opts.clock.setTimeout(() => {
      this.connectTimer = undefined;
      if (this.socket === ws && !this.open) this.drop(ws, "connect timeout");
    }, this.opts.connectTimeoutMs);
    ws.onopen = () => {
      if (this.socket !== ws || this.destroyed) return;
      this.clearConnectTimer();
      this.open = true;
      for (const s of [...this.subscribers.values()]) s.onTrackerOpen(this);
    };
    ws.onmessage = (ev) => {
      if (this.socket !== ws || this.destroyed) return;
      const msg = parseTrackerMessage(ev.data);
      if (!msg) {
        this.warn("tracker-protocol", "ignored a malformed message");
        return;
      }
      this.retries = 0;
      if (msg.failure) this.warn("tracker-refused", msg.failure);
      this.subscribers.get(msg.infoHash)?.onTrackerMessage(this, msg);
    };
    ws.onclose = () => {
      if (this.socket === ws) this.drop(ws, "closed");
    };
    ws.onerror = () => {
      if (this.socket === ws) this.drop(ws, "error");
    };
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== undefined) this.opts.clock.clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
  }

  private detach(ws: TrackerSocket): void {
    ws.onopen = null;
    ws.onmessage = null;
    ws.onclose = null;
    ws.onerror = null;
    try {
      ws.close();
    } catch {
      // already closed
    }
  }

  private drop(ws: TrackerSocket, why: string): void {
    this.clearConnectTimer();
    this.detach(ws);
    this.socket = undefined;
    this.open = false;
    if (this.destroyed) return;
    this.warn("tracker-unavailable", why);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.destroyed || this.reconnectTimer !== undefined) return;
    if (this.retries >= this.opts.retry.maxNumRetry) {
      this.warn("tracker-unavailable", `giving up after ${this.retries} retries`);
      return;
    }
    const delay = backoffDelay(this.opts.retry, this.retries, this.opts.random);
    this.retries++;
    this.reconnectTimer = this.opts.clock.setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect();
    }, delay);
  }

  /** Closes the socket and cancels reconnects. Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.subscribers.clear();
    this.clearConnectTimer();
    if (this.reconnectTimer !== undefined) this.opts.clock.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    if (this.socket) this.detach(this.socket);
    this.socket = undefined;
    this.open = false;
  }
}
