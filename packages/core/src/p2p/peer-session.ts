/**
 * One peer conversation over a {@link PeerConnection}: handshake, have/lost bookkeeping,
 * outgoing requests with in-order chunk assembly, and uploads with back-pressure and a rate cap.
 * Any protocol violation closes the session with a {@link PeerProtocolError}.
 */
import { sleep, type Clock } from "../clock.js";
import {
  MAX_CHUNK_PAYLOAD,
  MAX_FRAME_BYTES,
  PeerProtocolError,
  decodeFrame,
  encodeCancel,
  encodeChunk,
  encodeHandshake,
  encodeHave,
  encodeLost,
  encodeReject,
  encodeRequest,
  encodeResponse,
  type HaveEntry,
  type PeerMessage,
  type RejectReason,
} from "./peer-protocol.js";
import { PeerBudget, type PeerBudgetLimits } from "./peer-budget.js";
import type { PeerConnection } from "./peer-transport.js";
import { MIN_RATE_SAMPLE_MS, ewma } from "./scheduler.js";

/** First capacity of a download's buffer; it then doubles with the bytes that arrive. */
const INITIAL_DOWNLOAD_BUFFER = 64 * 1024;
const EMPTY = new Uint8Array(0);

/** Most segments one peer may announce to us at once. */
export const MAX_REMOTE_HAVES = 8192;
/** Most of our own requests in flight to one peer. */
export const MAX_OUTGOING_PER_PEER = 4;
/** Most uploads to one peer at once; more requests are rejected as busy. */
export const MAX_UPLOADS_PER_PEER = 2;
/** Pause sending while the data channel holds more than this. */
export const SEND_HIGH_WATER_BYTES = 256 * 1024;
/** How often a paused upload looks at `bufferedAmount` again, ms. */
export const BACKPRESSURE_POLL_MS = 20;
const RECENT_CANCELS = 32;
/** `detail` of a request refused locally because too many are in flight to the peer. */
export const LOCAL_BUSY_DETAIL = "too many requests to this peer";
/** Close reason (prefix) when our own code failed on a peer's frame: not the peer's fault. */
export const INTERNAL_ERROR = "internal error";
/** Smallest throughput sample, bytes/second: 0 means "never measured" to the scheduler. */
export const MIN_THROUGHPUT_SAMPLE_BPS = 1;

/** Who an upload is for, as an {@link UploadGate} sees it. */
export interface UploadPeer {
  readonly peerId: string;
  /** Bytes this peer gave us (peers that give back are favoured). */
  readonly bytesIn: number;
}

/** Shared upload admission: concurrent slots and a byte-rate cap (optionally per peer). */
export interface UploadGate {
  /** Takes an upload slot for `segmentId` to `peer`; false when refused (all slots in use…). */
  tryAcquire(peer?: UploadPeer, segmentId?: string): boolean;
  /** Returns a slot. */
  release(): void;
  /** Reserves `bytes` of upload budget; returns how long to wait before sending them, ms. */
  reserve(bytes: number, peer?: UploadPeer): number;
}

/** How a request ended. */
export type RequestOutcome =
  | { ok: true; data: Uint8Array; firstByteAt: number }
  | {
      ok: false;
      reason: "rejected" | "gone" | "cancelled";
      detail: string;
      /** What arrived before a cancel or disconnect: the first bytes, in order (unverified). */
      partial?: { data: Uint8Array; size: number; firstByteAt: number };
    };

/** A request in flight. */
export interface ActiveRequest {
  readonly done: Promise<RequestOutcome>;
  /** Cancels the transfer (tells the peer); `done` resolves `cancelled`. */
  cancel(): void;
}

/** Callbacks from a session to its swarm. */
export interface SessionHooks {
  /** Both handshakes went through; `remoteHaves` holds what the peer announced so far. */
  onReady(s: PeerSession): void;
  /** The session closed; `error` is set for protocol violations. Not called on `close(…, silent)`. */
  onClose(s: PeerSession, reason: string, error: PeerProtocolError | undefined): void;
  onHave(s: PeerSession, segmentId: string): void;
  /** Verified bytes to upload, or why not. */
  serve(segmentId: string): Uint8Array | RejectReason;
  onUploaded(s: PeerSession, bytes: number): void;
  /** Bytes of a download arrived from the peer (for scoring and give-back accounting). */
  onBytes?(s: PeerSession, bytes: number): void;
}

/** Options of a {@link PeerSession}. */
export interface PeerSessionOptions {
  peerId: string;
  /** Identity of the underlying connection: `${initiatorPeerId}/${offerId}`. */
  connectionKey: string;
  clock: Clock;
  connectTimeoutMs: number;
  downloadOnly: boolean;
  /** What we have, sent after the handshake. */
  localHaves: () => HaveEntry[];
  gate: UploadGate;
  ewmaAlpha: number;
  hooks: SessionHooks;
  /** Message budgets of this peer (HAVE/LOST, REQUEST/CANCEL); none when undefined. */
  budget?: PeerBudgetLimits | undefined;
}

interface Download {
  segmentId: string;
  expectedSize: number | undefined;
  /** The size the RESPONSE claimed; undefined before it. */
  size: number | undefined;
  /**
   * Received bytes so far. Grows with what actually arrived (at most doubling), never from the
   * claimed size alone: a RESPONSE frame of 9 bytes allocates nothing.
   */
  buffer: Uint8Array;
  received: number;
  firstByteAt: number;
  onProgress: ((received: number, total: number, startedAt: number) => void) | undefined;
  resolve: (o: RequestOutcome) => void;
}

/** One peer conversation. */
export class PeerSession {
  readonly peerId: string;
  readonly connectionKey: string;
  /**
   * `connecting` until both handshakes — ours sent on our own `connect`, the peer's received —
   * then `ready`, finally `closed`. The peer's handshake can arrive first: WebRTC delivers data
   * on an open channel before simple-peer emits `connect` on this end.
   */
  state: "connecting" | "ready" | "closed" = "connecting";
  /** The peer never uploads. */
  remoteDownloadOnly = false;
  /** When the session became ready (clock ms; NaN before). */
  readyAt = Number.NaN;
  /** Whether the session ever became ready (it may be closed since). */
  get wasReady(): boolean {
    return !Number.isNaN(this.readyAt);
  }
  /** Segments the peer announced, with sizes. */
  readonly remoteHaves = new Map<string, number>();
  /** Measured download throughput from this peer, bytes/second (0 = unknown). */
  throughputBps = 0;
  /** Bytes received from / sent to this peer. */
  bytesIn = 0;
  bytesOut = 0;

  private readonly conn: PeerConnection;
  private readonly opts: PeerSessionOptions;
  private readonly downloads = new Map<number, Download>();
  private readonly uploads = new Map<number, AbortController>();
  private readonly recentCancels: number[] = [];
  private readonly budget: PeerBudget | undefined;
  private nextRequestId = 1;
  private connectTimer: unknown;
  private handshakeReceived = false;
  private handshakeSent = false;

  private readonly onConnect = (): void => this.handleConnect();
  private readonly onData = (d: Uint8Array): void => this.handleData(d);
  private readonly onText = (): void => this.handleText();
  private readonly onCloseEv = (): void => this.close("connection closed");
  private readonly onError = (): void => this.close("connection error");

  constructor(conn: PeerConnection, opts: PeerSessionOptions) {
    this.conn = conn;
    this.opts = opts;
    this.peerId = opts.peerId;
    this.connectionKey = opts.connectionKey;
    this.budget = opts.budget ? new PeerBudget(opts.budget, opts.clock.now()) : undefined;
    conn.on("connect", this.onConnect);
    conn.on("data", this.onData);
    conn.on("text", this.onText);
    conn.on("close", this.onCloseEv);
    conn.on("error", this.onError);
    this.connectTimer = opts.clock.setTimeout(() => {
      this.connectTimer = undefined;
      this.close("connect timeout");
    }, opts.connectTimeoutMs);
  }

  /** The peer's remote address (selected candidate pair), when the transport knows it. */
  get remoteAddress(): string | undefined {
    // Over the peer's TURN relay, the remote address is the TURN server's: shared by every
    // peer using it, it says nothing about this one (banning it would ban them all).
    if (this.conn.link?.remoteType === "relay") return undefined;
    return this.conn.remoteAddress;
  }

  /** Downloads in flight from this peer. */
  get activeDownloads(): number {
    return this.downloads.size;
  }

  /** Uploads in flight to this peer. */
  get activeUploads(): number {
    return this.uploads.size;
  }

  private handleConnect(): void {
    if (this.state === "closed" || this.handshakeSent) return;
    // Every browser accepts 64 KiB messages; a peer whose SDP asks for less (not a browser we
    // know, or one made to fail our sends) is left, not banned: it broke no rule of ours.
    const max = this.conn.maxMessageBytes;
    if (max !== undefined && max < MAX_FRAME_BYTES) {
      this.close(`peer accepts messages of at most ${max} bytes, frames need ${MAX_FRAME_BYTES}`);
      return;
    }
    if (!this.sendFrame(encodeHandshake(this.opts.downloadOnly))) return;
    this.handshakeSent = true;
    if (!this.opts.downloadOnly) {
      for (const f of encodeHave(this.opts.localHaves())) if (!this.sendFrame(f)) return;
    }
    this.maybeReady();
  }

  /** Ready once both handshakes went through; the peer may then ask us for segments. */
  private maybeReady(): void {
    if (this.state !== "connecting" || !this.handshakeSent || !this.handshakeReceived) return;
    this.state = "ready";
    this.readyAt = this.opts.clock.now();
    if (this.connectTimer !== undefined) this.opts.clock.clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    this.opts.hooks.onReady(this);
  }

  private sendFrame(frame: Uint8Array): boolean {
    if (this.state === "closed") return false;
    try {
      this.conn.send(frame);
      return true;
    } catch {
      this.close("send failed");
      return false;
    }
  }

  private handleData(frame: Uint8Array): void {
    if (this.state === "closed") return;
    try {
      this.handleMessage(decodeFrame(frame));
    } catch (e) {
      if (e instanceof PeerProtocolError) this.violated(e);
      // Our own code threw on a frame the peer had every right to send: drop the link, do not
      // punish the peer for our bug (the source reports it as `p2p-internal`).
      else this.close(`${INTERNAL_ERROR}: ${String(e)}`);
    }
  }

  /** Closes the session for a protocol violation; the reason keeps what exactly was broken. */
  private violated(err: PeerProtocolError): void {
    this.close(`protocol violation: ${err.reason} (${err.message})`, err);
  }

  /**
   * A text message (never read: not our protocol) costs the peer its text budget; over budget
   * is a `FLOOD` violation like any other flood.
   */
  private handleText(): void {
    if (this.state === "closed" || !this.budget) return;
    if (this.budget.text(this.opts.clock.now()) === "ok") return;
    this.violated(new PeerProtocolError("FLOOD", "peer exceeded its budget (text-flood)"));
  }

  /** Charges a frame to the peer's budget; over budget is a `FLOOD` violation. */
  private charge(msg: PeerMessage): void {
    if (!this.budget) return;
    const now = this.opts.clock.now();
    let verdict: ReturnType<PeerBudget["request"]> = "ok";
    if (msg.type === "have") verdict = this.budget.announce(msg.entries.length, now);
    else if (msg.type === "lost") verdict = this.budget.announce(msg.segmentIds.length, now);
    else if (msg.type === "request" || msg.type === "cancel") verdict = this.budget.request(now);
    if (verdict !== "ok")
      throw new PeerProtocolError("FLOOD", `peer exceeded its budget (${verdict})`);
  }

  private handleMessage(msg: PeerMessage): void {
    this.charge(msg);
    if (!this.handshakeReceived) {
      if (msg.type !== "handshake")
        throw new PeerProtocolError("UNEXPECTED_MESSAGE", `${msg.type} before handshake`);
      this.handshakeReceived = true;
      this.remoteDownloadOnly = msg.downloadOnly;
      this.maybeReady();
      return;
    }
    // Before our handshake went out the peer cannot be ready, so it may only announce.
    if (!this.handshakeSent && msg.type !== "have" && msg.type !== "lost")
      throw new PeerProtocolError("UNEXPECTED_MESSAGE", `${msg.type} before our handshake`);
    switch (msg.type) {
      case "handshake":
        throw new PeerProtocolError("UNEXPECTED_MESSAGE", "second handshake");
      case "have":
        for (const e of msg.entries) {
          if (!this.remoteHaves.has(e.segmentId) && this.remoteHaves.size >= MAX_REMOTE_HAVES)
            throw new PeerProtocolError("TOO_MANY_HAVES", "peer announced too many segments");
          this.remoteHaves.set(e.segmentId, e.size);
        }
        for (const e of msg.entries) {
          if (this.state !== "ready") return;
          this.opts.hooks.onHave(this, e.segmentId);
        }
        return;
      case "lost":
        for (const id of msg.segmentIds) this.remoteHaves.delete(id);
        return;
      case "request":
        this.handleRequest(msg.requestId, msg.segmentId);
        return;
      case "cancel":
        this.uploads.get(msg.requestId)?.abort();
        return;
      case "reject": {
        const d = this.downloads.get(msg.requestId);
        if (!d) return;
        if (msg.reason === "not-found") this.remoteHaves.delete(d.segmentId);
        this.finish(msg.requestId, { ok: false, reason: "rejected", detail: msg.reason });
        return;
      }
      case "response": {
        const d = this.downloads.get(msg.requestId);
        if (!d || d.size !== undefined) {
          if (!d && this.recentCancels.includes(msg.requestId)) return;
          throw new PeerProtocolError("UNEXPECTED_MESSAGE", "response to no open request");
        }
        if (d.expectedSize !== undefined && d.expectedSize !== msg.size)
          throw new PeerProtocolError("SIZE_MISMATCH", "response size differs from the announced");
        d.size = msg.size;
        d.firstByteAt = this.opts.clock.now();
        return;
      }
      case "chunk": {
        const d = this.downloads.get(msg.requestId);
        if (!d || d.size === undefined) {
          if (!d && this.recentCancels.includes(msg.requestId)) return;
          throw new PeerProtocolError("UNEXPECTED_CHUNK", "chunk for a request never made");
        }
        if (msg.offset !== d.received)
          throw new PeerProtocolError(
            "BAD_OFFSET",
            `chunk at ${msg.offset}, expected ${d.received}`,
          );
        const end = msg.offset + msg.data.byteLength;
        if (end > d.size)
          throw new PeerProtocolError("BAD_OFFSET", "chunk past the announced size");
        if (end > d.buffer.byteLength) {
          const grown = new Uint8Array(
            Math.min(d.size, Math.max(INITIAL_DOWNLOAD_BUFFER, 2 * d.buffer.byteLength, end)),
          );
          grown.set(d.buffer.subarray(0, d.received));
          d.buffer = grown;
        }
        d.buffer.set(msg.data, msg.offset);
        d.received = end;
        this.bytesIn += msg.data.byteLength;
        this.opts.hooks.onBytes?.(this, msg.data.byteLength);
        if (d.received === d.size) {
          const elapsed = Math.max(1, this.opts.clock.now() - d.firstByteAt);
          this.throughputBps = ewma(
            this.throughputBps,
            (d.received / elapsed) * 1000,
            this.opts.ewmaAlpha,
          );
          this.finish(msg.requestId, { ok: true, data: d.buffer, firstByteAt: d.firstByteAt });
        } else {
          d.onProgress?.(d.received, d.size, d.firstByteAt);
        }
        return;
      }
    }
  }

  /**
   * A transfer abandoned before its end still measures the peer: the rate since its first byte
   * goes into {@link throughputBps}, so a peer that trickles or stops half-way ranks by what it
   * really delivers, not by an older fast transfer. Too short a window says nothing and is
   * skipped; so is a request never answered (no RESPONSE: the stall counts in the peer's score,
   * see `peer-score.ts`, and a far peer's round trip is no rate).
   */
  private sampleUnfinished(requestId: number): void {
    const d = this.downloads.get(requestId);
    if (!d || d.size === undefined) return;
    const elapsed = this.opts.clock.now() - d.firstByteAt;
    if (elapsed < MIN_RATE_SAMPLE_MS) return;
    const bps = Math.max(MIN_THROUGHPUT_SAMPLE_BPS, (d.received / elapsed) * 1000);
    this.throughputBps = ewma(this.throughputBps, bps, this.opts.ewmaAlpha);
  }

  /** The bytes a download received so far, if any. */
  private partialOf(
    requestId: number,
  ): { data: Uint8Array; size: number; firstByteAt: number } | undefined {
    const d = this.downloads.get(requestId);
    if (!d || d.size === undefined || d.received === 0) return undefined;
    return {
      data: d.buffer.subarray(0, d.received),
      size: d.size,
      firstByteAt: d.firstByteAt,
    };
  }

  private finish(requestId: number, outcome: RequestOutcome): void {
    const d = this.downloads.get(requestId);
    if (!d) return;
    this.downloads.delete(requestId);
    d.resolve(outcome);
  }

  /** Asks the peer for a segment. */
  request(
    segmentId: string,
    onProgress?: (received: number, total: number, startedAt: number) => void,
  ): ActiveRequest {
    let resolve!: (o: RequestOutcome) => void;
    const done = new Promise<RequestOutcome>((r) => (resolve = r));
    if (this.state !== "ready") {
      resolve({ ok: false, reason: "gone", detail: "not connected" });
      return { done, cancel: () => undefined };
    }
    if (this.downloads.size >= MAX_OUTGOING_PER_PEER) {
      resolve({ ok: false, reason: "rejected", detail: LOCAL_BUSY_DETAIL });
      return { done, cancel: () => undefined };
    }
    const requestId = this.nextRequestId;
    this.nextRequestId = this.nextRequestId >= 0xffffffff ? 1 : this.nextRequestId + 1;
    this.downloads.set(requestId, {
      segmentId,
      expectedSize: this.remoteHaves.get(segmentId),
      size: undefined,
      buffer: EMPTY,
      received: 0,
      firstByteAt: 0,
      onProgress,
      resolve,
    });
    this.sendFrame(encodeRequest(requestId, segmentId));
    return {
      done,
      cancel: () => {
        if (!this.downloads.has(requestId)) return;
        this.recentCancels.push(requestId);
        if (this.recentCancels.length > RECENT_CANCELS) this.recentCancels.shift();
        this.sampleUnfinished(requestId);
        const partial = this.partialOf(requestId);
        this.finish(requestId, { ok: false, reason: "cancelled", detail: "cancelled", partial });
        this.sendFrame(encodeCancel(requestId));
      },
    };
  }

  /** Tells the peer about segments we now have. */
  sendHave(entries: readonly HaveEntry[]): void {
    if (this.state !== "ready" || this.opts.downloadOnly) return;
    for (const f of encodeHave(entries)) if (!this.sendFrame(f)) return;
  }

  /** Tells the peer about segments we no longer have. */
  sendLost(segmentIds: readonly string[]): void {
    if (this.state !== "ready" || this.opts.downloadOnly) return;
    for (const f of encodeLost(segmentIds)) if (!this.sendFrame(f)) return;
  }

  private handleRequest(requestId: number, segmentId: string): void {
    if (this.uploads.has(requestId))
      throw new PeerProtocolError("TOO_MANY_REQUESTS", "request id already in use");
    if (this.uploads.size >= MAX_UPLOADS_PER_PEER) {
      this.sendFrame(encodeReject(requestId, "busy"));
      return;
    }
    const served = this.opts.hooks.serve(segmentId);
    if (typeof served === "string") {
      this.sendFrame(encodeReject(requestId, served));
      return;
    }
    if (!this.opts.gate.tryAcquire(this, segmentId)) {
      this.sendFrame(encodeReject(requestId, "busy"));
      return;
    }
    const ac = new AbortController();
    this.uploads.set(requestId, ac);
    void this.pump(requestId, served, ac.signal).finally(() => {
      this.uploads.delete(requestId);
      this.opts.gate.release();
    });
  }

  private async pump(requestId: number, bytes: Uint8Array, signal: AbortSignal): Promise<void> {
    const { clock } = this.opts;
    try {
      if (!this.sendFrame(encodeResponse(requestId, bytes.byteLength))) return;
      for (let offset = 0; offset < bytes.byteLength;) {
        while (this.conn.bufferedAmount > SEND_HIGH_WATER_BYTES) {
          await sleep(clock, BACKPRESSURE_POLL_MS, signal);
        }
        const len = Math.min(MAX_CHUNK_PAYLOAD, bytes.byteLength - offset);
        const wait = this.opts.gate.reserve(len, this);
        if (wait > 0) await sleep(clock, wait, signal);
        if (signal.aborted || this.state === "closed") return;
        if (!this.sendFrame(encodeChunk(requestId, offset, bytes.subarray(offset, offset + len))))
          return;
        offset += len;
        this.bytesOut += len;
      }
      if (this.state !== "closed") this.opts.hooks.onUploaded(this, bytes.byteLength);
    } catch {
      // Aborted (cancel or close): nothing more to send.
    }
  }

  /**
   * Closes the session: aborts uploads, fails downloads with `gone`, destroys the connection.
   * `silent` skips the swarm's onClose hook (used when the whole source is destroyed).
   */
  close(reason: string, error?: PeerProtocolError, silent = false): void {
    if (this.state === "closed") return;
    this.state = "closed";
    if (this.connectTimer !== undefined) this.opts.clock.clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    this.conn.off("connect", this.onConnect);
    this.conn.off("data", this.onData);
    this.conn.off("text", this.onText);
    this.conn.off("close", this.onCloseEv);
    this.conn.off("error", this.onError);
    this.conn.destroy();
    for (const ac of this.uploads.values()) ac.abort();
    for (const id of [...this.downloads.keys()])
      this.finish(id, { ok: false, reason: "gone", detail: reason, partial: this.partialOf(id) });
    if (!silent) this.opts.hooks.onClose(this, reason, error);
  }
}
