/**
 * {@link PeerTransport} over WebRTC with `@thaunknown/simple-peer` (non-trickle: one offer and
 * one answer travel through the tracker). In Node, simple-peer finds WebRTC through
 * `webrtc-polyfill` (node-datachannel).
 */
// The ambient module declaration must be visible to every program compiling core (hlsjs, demo).
// eslint-disable-next-line @typescript-eslint/triple-slash-reference
/// <reference path="./simple-peer.d.ts" />
import Peer from "@thaunknown/simple-peer/lite.js";
import { DEFAULT_CONFIG } from "../config.js";
import { TypedEmitter } from "../events.js";
import type {
  CreatePeerOptions,
  PeerConnection,
  PeerConnectionEvents,
  PeerTransport,
  SignalData,
} from "./peer-transport.js";

/** Options of a {@link SimplePeerTransport}. */
export interface SimplePeerTransportOptions {
  /**
   * Send the description after this long even if ICE gathering has not finished, ms
   * (simple-peer's `iceCompleteTimeout`). @default `DEFAULT_CONFIG.p2p.iceGatherTimeoutMs` (5000)
   */
  iceCompleteTimeoutMs?: number;
}

class SimplePeerConnection extends TypedEmitter<PeerConnectionEvents> implements PeerConnection {
  readonly initiator: boolean;
  private readonly peer: Peer;
  private closed = false;

  constructor(opts: CreatePeerOptions, iceCompleteTimeout: number) {
    super();
    this.initiator = opts.initiator;
    this.peer = new Peer({
      initiator: opts.initiator,
      trickle: false,
      config: opts.rtcConfig,
      iceCompleteTimeout,
    });
    this.peer.on("signal", (s) => {
      if (this.closed) return;
      if ((s.type === "offer" || s.type === "answer") && typeof s.sdp === "string")
        this.emit("signal", { type: s.type, sdp: s.sdp });
    });
    this.peer.on("connect", () => {
      if (!this.closed) this.emit("connect");
    });
    this.peer.on("data", (d) => {
      if (this.closed) return;
      if (d instanceof Uint8Array) this.emit("data", d);
      // Text is not our protocol: counted (the session's budget), never read.
      else this.emit("text", typeof d === "string" ? d.length : 0);
    });
    this.peer.on("error", (e) => {
      if (!this.closed) this.emit("error", e);
    });
    this.peer.on("close", () => {
      if (this.closed) return;
      this.closed = true;
      this.emit("close");
      this.removeAllListeners();
    });
  }

  get bufferedAmount(): number {
    return this.peer.bufferSize;
  }

  signal(data: SignalData): void {
    if (!this.closed) this.peer.signal({ type: data.type, sdp: data.sdp });
  }

  send(data: Uint8Array): void {
    if (this.closed || !this.peer.connected) throw new Error("cannot send: data channel not open");
    this.peer.send(data);
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.removeAllListeners();
    // simple-peer emits close/error after destroy; swallow them.
    this.peer.on("error", () => undefined);
    this.peer.destroy();
  }
}

/** WebRTC peer connections via `@thaunknown/simple-peer`. */
export class SimplePeerTransport implements PeerTransport {
  private readonly iceCompleteTimeout: number;

  constructor(opts: SimplePeerTransportOptions = {}) {
    this.iceCompleteTimeout = opts.iceCompleteTimeoutMs ?? DEFAULT_CONFIG.p2p.iceGatherTimeoutMs;
  }

  createPeer(opts: CreatePeerOptions): PeerConnection {
    return new SimplePeerConnection(opts, this.iceCompleteTimeout);
  }
}
