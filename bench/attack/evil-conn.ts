/**
 * A peer connection that misbehaves on the way out: the attacker's side of the attack benches
 * (`run.ts` in the simulator, `browser.ts` against Chromium). Everything the attacker's real P2P
 * layer sends passes through {@link EvilConn.send}, which drops, cuts, corrupts or paces the
 * transfer frames as its behaviour says; everything else is forwarded unchanged. Also the mode
 * list both benches share.
 */
import type {
  PeerConnection,
  PeerConnectionEvents,
  SignalData,
} from "../../packages/core/src/p2p/peer-transport.js";

/** The simulator's attack modes (`run.ts`); the Chromium run (`browser.ts`) adds its own. */
export const MODES = [
  "control",
  "honest-extra",
  "size-liar",
  "slowloris",
  "trickle",
  "half",
  "have-flood",
  "text-flood",
  "leech",
  "sybil-idle",
] as const;
export type Mode = (typeof MODES)[number];

const RESPONSE = 0x07;
const CHUNK = 0x08;
const CANCEL = 0x05;

/** How the connection misbehaves. */
export interface EvilBehaviour {
  /** Never answer a request (RESPONSE and CHUNK dropped): a staller. */
  silent?: boolean;
  /** Send each transfer's first half only, then stop. */
  half?: boolean;
  /** Flip every payload byte of every chunk: bytes that fail verification. */
  corrupt?: boolean;
  /**
   * Serve at this many bytes per second (chunks re-cut into pieces sent on a timer); the
   * simulator paces with its network instead.
   */
  trickleBytesPerSec?: number;
}

/** Timers for trickling (real or virtual). */
export interface EvilTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export class EvilConn implements PeerConnection {
  /** Transfer sizes by request id, from the RESPONSE frames sent. */
  private readonly sizes = new Map<number, number>();
  /** Trickle: pieces waiting, in order. */
  private queue: Array<{ requestId: number; frame: Uint8Array }> = [];
  private timer: unknown;

  constructor(
    readonly inner: PeerConnection,
    private readonly behaviour: EvilBehaviour,
    private readonly timers?: EvilTimers,
  ) {
    // A cancelled transfer's queued pieces are dropped (an honest sender stops too).
    inner.on("data", (d) => {
      if (d[0] !== CANCEL || d.byteLength < 5) return;
      const id = new DataView(d.buffer, d.byteOffset).getUint32(1);
      this.queue = this.queue.filter((p) => p.requestId !== id);
    });
    inner.on("close", () => {
      if (this.timer !== undefined) this.timers?.clearTimeout(this.timer);
      this.timer = undefined;
      this.queue = [];
    });
  }
  get initiator(): boolean {
    return this.inner.initiator;
  }
  get bufferedAmount(): number {
    return this.inner.bufferedAmount;
  }
  get remoteAddress(): string | undefined {
    return this.inner.remoteAddress;
  }
  signal(d: SignalData): void {
    this.inner.signal(d);
  }
  send(data: Uint8Array): void {
    const type = data[0];
    if (type !== RESPONSE && type !== CHUNK) return this.inner.send(data);
    const b = this.behaviour;
    if (b.silent) return;
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const requestId = view.getUint32(1);
    if (type === RESPONSE) {
      this.sizes.set(requestId, view.getUint32(5));
      return this.inner.send(data);
    }
    const offset = view.getUint32(5);
    if (b.half && offset >= (this.sizes.get(requestId) ?? 0) / 2) return;
    let frame = data;
    if (b.corrupt) {
      frame = data.slice();
      for (let i = 9; i < frame.length; i++) frame[i] = (frame[i] ?? 0) ^ 0xff;
    }
    const rate = b.trickleBytesPerSec;
    if (rate === undefined || !this.timers) return this.inner.send(frame);
    // Re-cut the chunk into pieces of one second's worth each, sent one per second.
    const payload = frame.subarray(9);
    for (let at = 0; at < payload.length; at += rate) {
      const piece = payload.subarray(at, Math.min(payload.length, at + rate));
      const out = new Uint8Array(9 + piece.length);
      out.set(frame.subarray(0, 5), 0);
      new DataView(out.buffer).setUint32(5, offset + at);
      out.set(piece, 9);
      this.queue.push({ requestId, frame: out });
    }
    this.pump();
  }
  private pump(): void {
    if (this.timer !== undefined || !this.timers) return;
    const next = this.queue.shift();
    if (!next) return;
    try {
      this.inner.send(next.frame);
    } catch {
      this.queue = []; // closed
      return;
    }
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, 1000);
  }
  destroy(): void {
    this.inner.destroy();
  }
  on<K extends keyof PeerConnectionEvents>(event: K, fn: PeerConnectionEvents[K]): unknown {
    return this.inner.on(event, fn);
  }
  off<K extends keyof PeerConnectionEvents>(event: K, fn: PeerConnectionEvents[K]): unknown {
    return this.inner.off(event, fn);
  }
}
