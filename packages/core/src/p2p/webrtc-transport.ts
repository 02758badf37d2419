/**
 * {@link PeerTransport} on the standard `RTCPeerConnection` API: one ordered, reliable data
 * channel per peer, non-trickle (one offer and one answer with every ICE candidate travel
 * through the tracker, as the WebTorrent tracker protocol carries them).
 *
 * The default transport. It is what simple-peer does for a data-only, non-trickle connection,
 * without simple-peer's stream layer, which would more than double the SDK's size (see
 * bench/README.md, size). `SimplePeerTransport` (`@hivecast/core/simple-peer`) is the
 * drop-in alternative. In Node, pass node-datachannel's `RTCPeerConnection`
 * (`node-datachannel/polyfill`).
 */
import type { Clock } from "../clock.js";
import { systemClock } from "../clock.js";
import { DEFAULT_CONFIG } from "../config.js";
import { TypedEmitter } from "../events.js";
import {
  PeerLinkError,
  pairType,
  type CandidateType,
  type CreatePeerOptions,
  type LinkInfo,
  type PeerConnection,
  type PeerConnectionEvents,
  type PeerTransport,
  type SignalData,
} from "./peer-transport.js";

/** Options of a {@link WebRtcTransport}. */
export interface WebRtcTransportOptions {
  /**
   * Send the local description after this long even if ICE gathering has not finished, with
   * the candidates found so far, ms. @default `DEFAULT_CONFIG.p2p.iceGatherTimeoutMs` (5000)
   */
  iceGatherTimeoutMs?: number;
  /** The `RTCPeerConnection` class. @default globalThis.RTCPeerConnection */
  RTCPeerConnection?: RTCPeerConnectionConstructor;
  /** Timers for the gather timeout. @default the system clock */
  clock?: Clock;
}

/** The constructor this transport needs (the standard one, or a polyfill's). */
export type RTCPeerConnectionConstructor = new (config?: RTCConfiguration) => RTCPeerConnection;

/** Label of the data channel (informational; both sides use the first channel). */
const CHANNEL_LABEL = "hivecast";

/** Longest wait for `getStats()` (the selected candidate pair) before `connect` is emitted, ms. */
export const LINK_STATS_TIMEOUT_MS = 1000;

const CANDIDATE_TYPES: readonly CandidateType[] = ["host", "srflx", "prflx", "relay"];

function str(o: object, k: string): string | undefined {
  const v: unknown = Reflect.get(o, k);
  return typeof v === "string" ? v : undefined;
}

function candidateType(o: object | undefined): CandidateType | undefined {
  const t = o ? str(o, "candidateType") : undefined;
  return CANDIDATE_TYPES.find((c) => c === t);
}

/**
 * The selected candidate pair in a `getStats()` report (its values, untrusted shapes): the
 * transport's `selectedCandidatePairId`, else a pair marked `selected` (Firefox), else a
 * nominated, succeeded one. Undefined when none is found.
 */
export function linkFromStats(values: readonly unknown[]): LinkInfo | undefined {
  const byId = new Map<string, object>();
  const objs: object[] = [];
  for (const v of values) {
    if (typeof v !== "object" || v === null) continue;
    objs.push(v);
    const id = str(v, "id");
    if (id !== undefined) byId.set(id, v);
  }
  let pair: object | undefined;
  for (const o of objs) {
    const sel = str(o, "type") === "transport" ? str(o, "selectedCandidatePairId") : undefined;
    if (sel !== undefined) pair = byId.get(sel);
    if (pair) break;
  }
  pair ??= objs.find(
    (o) => str(o, "type") === "candidate-pair" && Reflect.get(o, "selected") === true,
  );
  pair ??= objs.find(
    (o) =>
      str(o, "type") === "candidate-pair" &&
      Reflect.get(o, "nominated") === true &&
      str(o, "state") === "succeeded",
  );
  if (!pair) return undefined;
  const localId = str(pair, "localCandidateId");
  const remoteId = str(pair, "remoteCandidateId");
  const local = localId === undefined ? undefined : byId.get(localId);
  const remote = remoteId === undefined ? undefined : byId.get(remoteId);
  const localType = candidateType(local);
  const remoteType = candidateType(remote);
  if (localType === undefined && remoteType === undefined) return undefined;
  const info: LinkInfo = { type: pairType(localType, remoteType) };
  if (localType) info.localType = localType;
  if (remoteType) info.remoteType = remoteType;
  if (remote) {
    const addr = str(remote, "address") ?? str(remote, "ip");
    const port: unknown = Reflect.get(remote, "port");
    if (addr !== undefined)
      info.remoteAddress = typeof port === "number" ? `${addr}:${port}` : addr;
  }
  const protocol = local ? (str(local, "relayProtocol") ?? str(local, "protocol")) : undefined;
  if (protocol !== undefined) info.protocol = protocol;
  return info;
}

/**
 * The selected candidate pair from `RTCIceTransport.getSelectedCandidatePair()` (Chromium,
 * Safari), in the shape of a `getStats()` report for {@link linkFromStats}: a synchronous read,
 * where a stats report costs the main thread several ms per link. Undefined where the API is
 * missing (Firefox) or there is no pair yet.
 */
export function selectedPairStats(pc: RTCPeerConnection): unknown[] | undefined {
  try {
    const ice: unknown = pc.sctp?.transport.iceTransport;
    if (typeof ice !== "object" || ice === null) return undefined;
    const get: unknown = Reflect.get(ice, "getSelectedCandidatePair");
    if (typeof get !== "function") return undefined;
    const pair: unknown = Reflect.apply(get, ice, []);
    if (typeof pair !== "object" || pair === null) return undefined;
    const candidate = (c: unknown, id: string): object | undefined =>
      typeof c === "object" && c !== null
        ? {
            id,
            candidateType: Reflect.get(c, "type"),
            address: Reflect.get(c, "address"),
            port: Reflect.get(c, "port"),
            protocol: Reflect.get(c, "protocol"),
            relayProtocol: Reflect.get(c, "relayProtocol"),
          }
        : undefined;
    const local = candidate(Reflect.get(pair, "local"), "local");
    const remote = candidate(Reflect.get(pair, "remote"), "remote");
    if (!local && !remote) return undefined;
    return [
      {
        type: "candidate-pair",
        selected: true,
        localCandidateId: "local",
        remoteCandidateId: "remote",
      },
      ...(local ? [local] : []),
      ...(remote ? [remote] : []),
    ];
  } catch {
    return undefined;
  }
}

class WebRtcConnection extends TypedEmitter<PeerConnectionEvents> implements PeerConnection {
  readonly initiator: boolean;
  private readonly pc: RTCPeerConnection;
  private channel: RTCDataChannel | undefined;
  private closed = false;
  private opened = false;
  /** Whether a remote description was applied (a second one is a protocol error). */
  private remoteSet = false;
  private gatherTimer: unknown;
  private gatherDone: (() => void) | undefined;
  /** A relay candidate was gathered: the description can connect wherever TURN can. */
  private relaySeen = false;
  private relayTimer: unknown;
  private statsTimer: unknown;
  /** The selected candidate pair, read when the channel opened. */
  link: LinkInfo | undefined;

  /** The remote IP of the selected candidate pair (without port), once known. */
  get remoteAddress(): string | undefined {
    return addressOnly(this.link?.remoteAddress);
  }

  get maxMessageBytes(): number | undefined {
    const max = this.pc.sctp?.maxMessageSize;
    return typeof max === "number" && max > 0 ? max : undefined;
  }

  constructor(
    opts: CreatePeerOptions,
    PC: RTCPeerConnectionConstructor,
    private readonly clock: Clock,
    private readonly gatherTimeoutMs: number,
  ) {
    super();
    this.initiator = opts.initiator;
    this.pc = new PC(opts.rtcConfig);
    const pc = this.pc;
    pc.onicecandidate = (e) => {
      if (e.candidate === null) this.gatherDone?.();
      else if (!this.relaySeen && isRelayCandidate(e.candidate)) {
        this.relaySeen = true;
        this.endGatherSoon();
      }
    };
    pc.onicegatheringstatechange = () => {
      if (pc.iceGatheringState === "complete") this.gatherDone?.();
    };
    pc.oniceconnectionstatechange = () => {
      const s = pc.iceConnectionState;
      if (s === "failed") this.fail(new PeerLinkError("ice-failed", "ICE connection failed"));
      else if (s === "closed") this.fail(new Error(`ICE connection ${s}`));
    };
    pc.onconnectionstatechange = () => {
      const s = pc.connectionState;
      if (s === "failed") this.fail(new PeerLinkError("ice-failed", "peer connection failed"));
      else if (s === "closed") this.fail(new Error(`peer connection ${s}`));
    };
    if (opts.initiator) {
      this.useChannel(pc.createDataChannel(CHANNEL_LABEL, { ordered: true }));
      this.run(async () => {
        await pc.setLocalDescription(await pc.createOffer());
        await this.sendDescription("offer");
      });
    } else {
      pc.ondatachannel = (e) => {
        if (this.channel === undefined) this.useChannel(e.channel);
        else e.channel.close(); // one channel per peer; extra ones are refused
      };
    }
  }

  get bufferedAmount(): number {
    return this.channel?.bufferedAmount ?? 0;
  }

  signal(data: SignalData): void {
    if (this.closed) return;
    const expected = this.initiator ? "answer" : "offer";
    if (data.type !== expected || this.remoteSet) {
      this.fail(new Error(`unexpected ${data.type}: expected one ${expected}`));
      return;
    }
    this.remoteSet = true;
    this.run(async () => {
      await this.pc.setRemoteDescription({ type: data.type, sdp: data.sdp });
      if (this.initiator) return;
      await this.pc.setLocalDescription(await this.pc.createAnswer());
      await this.sendDescription("answer");
    });
  }

  send(data: Uint8Array): void {
    const ch = this.channel;
    if (this.closed || ch?.readyState !== "open")
      throw new Error("cannot send: data channel not open");
    // Our frames are views of larger buffers at times; send exactly the view's bytes.
    ch.send(
      data.byteOffset === 0 && data.byteLength === data.buffer.byteLength
        ? (data as Uint8Array<ArrayBuffer>)
        : data.slice(),
    );
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.removeAllListeners();
    this.release();
  }

  /**
   * With a relay candidate in hand, gathering need not run to its end: on a network that blocks
   * UDP, a UDP TURN allocation would hold the (non-trickle) description until the gather
   * timeout on both ends, past the connect timeout. The description goes {@link RELAY_SETTLE_MS}
   * after the first relay candidate, with everything gathered by then.
   */
  private endGatherSoon(): void {
    if (!this.gatherDone || this.relayTimer !== undefined) return;
    this.relayTimer = this.clock.setTimeout(() => {
      this.relayTimer = undefined;
      this.gatherDone?.();
    }, RELAY_SETTLE_MS);
  }

  /** Waits for ICE gathering (or its timeout), then emits the complete local description. */
  private async sendDescription(type: SignalData["type"]): Promise<void> {
    if (this.closed) return;
    if (this.pc.iceGatheringState !== "complete") {
      await new Promise<void>((resolve) => {
        this.gatherDone = resolve;
        this.gatherTimer = this.clock.setTimeout(resolve, this.gatherTimeoutMs);
        if (this.relaySeen) this.endGatherSoon();
      });
      this.clearGather();
    }
    const sdp = this.pc.localDescription?.sdp;
    if (this.closed) return;
    if (typeof sdp !== "string" || sdp.length === 0) throw new Error(`no local ${type}`);
    // Non-trickle: a description without a candidate can never connect.
    if (!/(^|\s)a=candidate:/.test(sdp))
      throw new PeerLinkError("no-candidates", `ICE gathering found no candidate for the ${type}`);
    this.emit("signal", { type, sdp });
  }

  private useChannel(ch: RTCDataChannel): void {
    this.channel = ch;
    ch.binaryType = "arraybuffer";
    ch.onopen = () => {
      if (this.closed || this.opened) return;
      this.opened = true;
      this.readLink();
    };
    ch.onmessage = (e: MessageEvent<unknown>) => {
      if (this.closed) return;
      const d = e.data;
      // Binary frames are protocol; anything else (a text message) is only counted: the
      // session charges it to the peer's budget, so a text flood ends in a ban.
      if (d instanceof ArrayBuffer) this.emit("data", new Uint8Array(d));
      else if (ArrayBuffer.isView(d))
        this.emit("data", new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
      else this.emit("text", typeof d === "string" ? d.length : 0);
    };
    // "closing" is enough: the remote end closed and nothing more will arrive.
    ch.onclosing = () => this.fail(undefined);
    ch.onclose = () => this.fail(undefined);
    ch.onerror = (e) => this.fail(new Error(`data channel error: ${errorText(e)}`));
  }

  /**
   * Reads the selected candidate pair — at once where the ICE transport gives it, else from
   * `getStats()` (bounded by {@link LINK_STATS_TIMEOUT_MS}) — then emits `connect`. Data that
   * arrives meanwhile is delivered (the session handles data first).
   */
  private readLink(): void {
    let done = false;
    const finish = (link: LinkInfo | undefined): void => {
      if (done || this.closed) return;
      done = true;
      if (this.statsTimer !== undefined) this.clock.clearTimeout(this.statsTimer);
      this.statsTimer = undefined;
      if (link) this.link = link;
      this.emit("connect");
    };
    const direct = selectedPairStats(this.pc);
    const directLink = direct && linkFromStats(direct);
    if (directLink) {
      finish(directLink);
      return;
    }
    this.statsTimer = this.clock.setTimeout(() => finish(undefined), LINK_STATS_TIMEOUT_MS);
    let stats: Promise<RTCStatsReport>;
    try {
      stats = this.pc.getStats();
    } catch {
      finish(undefined);
      return;
    }
    stats.then(
      (report) => {
        const values: unknown[] = [];
        report.forEach((v: unknown) => values.push(v));
        finish(linkFromStats(values));
      },
      () => finish(undefined),
    );
  }

  /** Runs an async step; a rejection ends the connection with that error. */
  private run(step: () => Promise<void>): void {
    step().catch((e: unknown) => this.fail(e instanceof Error ? e : new Error(String(e))));
  }

  /** Ends the connection from our side or the network's: `error` (if any), then `close`. */
  private fail(err: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.release();
    if (err) this.emit("error", err);
    this.emit("close");
    this.removeAllListeners();
  }

  private clearGather(): void {
    if (this.gatherTimer !== undefined) this.clock.clearTimeout(this.gatherTimer);
    this.gatherTimer = undefined;
    if (this.relayTimer !== undefined) this.clock.clearTimeout(this.relayTimer);
    this.relayTimer = undefined;
    this.gatherDone = undefined;
  }

  /** Detaches every handler and closes the channel and the connection. */
  private release(): void {
    // A pending gather wait resolves now; sendDescription then sees `closed` and stops.
    const done = this.gatherDone;
    this.clearGather();
    done?.();
    if (this.statsTimer !== undefined) this.clock.clearTimeout(this.statsTimer);
    this.statsTimer = undefined;
    const ch = this.channel;
    if (ch) {
      ch.onopen = ch.onmessage = ch.onclosing = ch.onclose = ch.onerror = null;
      try {
        ch.close();
      } catch {
        // already closed
      }
    }
    const pc = this.pc;
    pc.onicecandidate = pc.onicegatheringstatechange = null;
    pc.oniceconnectionstatechange = pc.onconnectionstatechange = pc.ondatachannel = null;
    try {
      pc.close();
    } catch {
      // already closed
    }
  }
}

function errorText(e: Event): string {
  const err: unknown = Reflect.get(e, "error");
  return err instanceof Error ? err.message : e.type;
}

/**
 * WebRTC peer connections on the platform's `RTCPeerConnection`. Construction never touches
 * WebRTC; the first `createPeer` does (after P2P consent).
 */
export class WebRtcTransport implements PeerTransport {
  private readonly gatherTimeoutMs: number;
  private readonly clock: Clock;
  private readonly PC: RTCPeerConnectionConstructor | undefined;

  constructor(opts: WebRtcTransportOptions = {}) {
    this.gatherTimeoutMs = opts.iceGatherTimeoutMs ?? DEFAULT_CONFIG.p2p.iceGatherTimeoutMs;
    this.clock = opts.clock ?? systemClock;
    this.PC = opts.RTCPeerConnection;
  }

  createPeer(opts: CreatePeerOptions): PeerConnection {
    const PC =
      this.PC ??
      (globalThis as { RTCPeerConnection?: RTCPeerConnectionConstructor }).RTCPeerConnection;
    if (typeof PC !== "function") throw new Error("WebRTC is not available (no RTCPeerConnection)");
    return new WebRtcConnection(opts, PC, this.clock, this.gatherTimeoutMs);
  }
}

/** How long after the first relay candidate a description is sent anyway, ms. */
export const RELAY_SETTLE_MS = 300;

/** Whether an ICE candidate is a relay (TURN) candidate. */
function isRelayCandidate(c: RTCIceCandidate | { type?: unknown; candidate?: unknown }): boolean {
  if (c.type === "relay") return true;
  return typeof c.candidate === "string" && / typ relay( |$)/.test(c.candidate);
}

/** `1.2.3.4:5678` → `1.2.3.4`, `[::1]:5678` or `::1` → `::1` (ports are not identity). */
export function addressOnly(a: string | undefined): string | undefined {
  if (a === undefined) return undefined;
  if (a.startsWith("[")) return a.slice(1, a.indexOf("]") > 0 ? a.indexOf("]") : undefined);
  const colons = a.split(":").length - 1;
  return colons === 1 ? a.slice(0, a.indexOf(":")) : a;
}
