/**
 * An in-memory, clock-driven {@link PeerTransport} for unit tests and the simulator: offers
 * and answers are opaque tokens, messages are copied and delivered after a latency, and an
 * optional link rate makes `bufferedAmount` behave like a real data channel's.
 */
import type { Clock } from "../clock.js";
import { TypedEmitter } from "../events.js";
import type {
  CandidateType,
  CreatePeerOptions,
  LinkInfo,
  PeerConnection,
  PeerConnectionEvents,
  PeerTransport,
  SignalData,
} from "../p2p/peer-transport.js";
import { PeerLinkError, pairType } from "../p2p/peer-transport.js";

/** Options of a {@link MemoryNetwork}. */
export interface MemoryNetworkOptions {
  /** Drives every delivery. */
  clock: Clock;
  /** One-way delay of signals and messages, ms. @default 5 */
  latencyMs?: number;
  /** How long a link of a viewer with `iceFails` takes to fail after the answer, ms. @default 3000 */
  iceFailMs?: number;
  /** Link rate per direction, bytes/second (0 = unlimited). @default 0 */
  bytesPerSec?: number;
}

/** Per-viewer properties of the connections a {@link MemoryTransport} creates. */
interface LinkOptions {
  /** Upload rate, bytes/second (0 = unlimited). */
  bytesPerSec: number;
  /**
   * Delay of this end's `connect` after the link opened, ms. Models simple-peer, which emits
   * `connect` only after a candidate-pair lookup while the remote can already send.
   */
  connectDelayMs: number;
  /** This viewer's IP address as its peers see it. */
  address: string;
  /**
   * The candidate type this viewer offers (its network position): a link's type is the
   * "farthest" of both ends' (relay, then srflx, prflx, host), as WebRTC reports it.
   */
  candidateType: CandidateType;
  /** When true, links of this viewer never open: ICE fails (`PeerLinkError` "ice-failed"). */
  iceFails: boolean;
}

interface InFlight {
  bytes: number;
  /** When the last byte has left the sender (bufferedAmount drops then). */
  sentAt: number;
}

/** One end of an in-memory connection. */
export class MemoryPeerConnection
  extends TypedEmitter<PeerConnectionEvents>
  implements PeerConnection
{
  /** Unique id on the network (also the opaque SDP). */
  readonly id: number;
  /** The transport (viewer) that created this end. */
  readonly owner: MemoryTransport | undefined;
  readonly initiator: boolean;
  /** The remote end once linked. */
  remote: MemoryPeerConnection | undefined;
  /** Open (connect emitted, not closed). */
  connected = false;
  /** Destroyed locally or closed by the remote. */
  closed = false;
  /** Messages sent by this end. */
  sentMessages = 0;
  /** When true, messages from this end are silently dropped and no close is delivered. */
  severed = false;
  /** The link's selected pair, once open. */
  link: LinkInfo | undefined;

  private readonly timers = new Set<unknown>();
  private readonly inFlight: InFlight[] = [];
  private linkFreeAt = 0;

  /** This end's address (the viewer's). */
  readonly localAddress: string;

  /** Send rate of this end, bytes/second (0 = unlimited). */
  private readonly bytesPerSec: number;
  /** How much later than the link this end emits `connect`; data may arrive before. */
  private readonly connectDelayMs: number;
  private readonly linkOpts: LinkOptions;

  constructor(
    private readonly net: MemoryNetwork,
    id: number,
    opts: CreatePeerOptions,
    link: LinkOptions,
    owner: MemoryTransport | undefined,
  ) {
    super();
    this.id = id;
    this.owner = owner;
    this.bytesPerSec = link.bytesPerSec;
    this.connectDelayMs = link.connectDelayMs;
    this.localAddress = link.address;
    this.linkOpts = link;
    this.initiator = opts.initiator;
    if (opts.initiator) this.later(() => this.emit("signal", { type: "offer", sdp: this.sdp() }));
  }

  private sdp(): string {
    return `memory:${this.id}`;
  }

  /** Runs `fn` after the network latency unless this end is destroyed first. */
  private later(fn: () => void, delay = this.net.latencyMs): void {
    const h = this.net.clock.setTimeout(() => {
      this.timers.delete(h);
      if (!this.closed) fn();
    }, delay);
    this.timers.add(h);
  }

  /** The remote viewer's address once linked. */
  get remoteAddress(): string | undefined {
    return this.remote?.localAddress;
  }

  get bufferedAmount(): number {
    const now = this.net.clock.now();
    while (this.inFlight.length > 0 && (this.inFlight[0]?.sentAt ?? 0) <= now)
      this.inFlight.shift();
    let n = 0;
    for (const f of this.inFlight) n += f.bytes;
    return n;
  }

  signal(data: SignalData): void {
    if (this.closed) return;
    const m = /^memory:(\d+)$/.exec(data.sdp);
    const other = m ? this.net.byId(Number(m[1])) : undefined;
    if (data.type === "offer" && !this.initiator) {
      if (!other || other.closed || other.remote) {
        this.later(() => this.fail(new Error("offer from an unknown or busy peer")));
        return;
      }
      this.remote = other;
      this.later(() => this.emit("signal", { type: "answer", sdp: this.sdp() }));
    } else if (data.type === "answer" && this.initiator) {
      if (!other || other.closed || other.remote !== this || this.remote) {
        this.later(() => this.fail(new Error("answer from an unknown peer")));
        return;
      }
      this.remote = other;
      if (this.linkOpts.iceFails || other.linkOpts.iceFails) {
        // ICE checks fail after a while on both ends, like WebRTC's.
        const fail = (c: MemoryPeerConnection): void =>
          c.later(() => {
            c.emit("error", new PeerLinkError("ice-failed", "ICE connection failed"));
            c.closeFromRemote();
          }, this.net.iceFailMs);
        fail(this);
        fail(other);
        return;
      }
      this.later(() => this.open(), this.net.latencyMs + this.connectDelayMs);
      other.later(() => other.open(), this.net.latencyMs + other.connectDelayMs);
    } else {
      this.later(() => this.fail(new Error(`unexpected ${data.type}`)));
    }
  }

  private open(): void {
    if (this.connected || this.closed) return;
    const local = this.linkOpts.candidateType;
    const remote = this.remote?.linkOpts.candidateType ?? "host";
    this.link = { type: pairType(local, remote), localType: local, remoteType: remote };
    this.connected = true;
    this.net.opened++;
    this.emit("connect");
  }

  private fail(err: Error): void {
    this.emit("error", err);
    this.closeFromRemote();
  }

  send(data: Uint8Array): void {
    if (this.closed) throw new Error("cannot send: connection closed");
    if (!this.connected || !this.remote) throw new Error("cannot send: not connected");
    this.sentMessages++;
    const copy = data.slice();
    const now = this.net.clock.now();
    this.net.bytesSent += copy.byteLength;
    const serializeMs = this.bytesPerSec > 0 ? (copy.byteLength / this.bytesPerSec) * 1000 : 0;
    const sentAt = Math.max(now, this.linkFreeAt) + serializeMs;
    this.linkFreeAt = sentAt;
    if (serializeMs > 0) this.inFlight.push({ bytes: copy.byteLength, sentAt });
    if (this.severed) return;
    const remote = this.remote;
    remote.later(() => remote.emit("data", copy), sentAt - now + this.net.latencyMs);
  }

  /**
   * Sends a text message (our protocol never does: this is what a misbehaving peer can do over
   * a real data channel). The remote end reports only its length (`text` event).
   */
  sendText(text: string): void {
    if (this.closed) throw new Error("cannot send: connection closed");
    if (!this.connected || !this.remote) throw new Error("cannot send: not connected");
    this.sentMessages++;
    if (this.severed) return;
    const remote = this.remote;
    const at = Math.max(this.net.clock.now(), this.linkFreeAt);
    remote.later(
      () => remote.emit("text", text.length),
      at - this.net.clock.now() + this.net.latencyMs,
    );
  }

  /** Closes this end because the other end went away. */
  closeFromRemote(): void {
    if (this.closed) return;
    this.closed = true;
    this.connected = false;
    this.clearTimers();
    this.net.forget(this);
    this.emit("close");
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.connected = false;
    this.clearTimers();
    this.net.forget(this);
    const remote = this.remote;
    if (remote && !remote.closed && !this.severed) remote.later(() => remote.closeFromRemote());
  }

  private clearTimers(): void {
    for (const h of this.timers) this.net.clock.clearTimeout(h);
    this.timers.clear();
  }
}

/** A {@link PeerTransport} bound to one {@link MemoryNetwork}; counts what it created. */
export class MemoryTransport implements PeerTransport {
  /** Connections created through this transport. */
  created = 0;

  constructor(
    private readonly net: MemoryNetwork,
    /** Properties of this viewer's connections. */
    private readonly link: LinkOptions,
  ) {}

  createPeer(opts: CreatePeerOptions): PeerConnection {
    this.created++;
    return this.net.create(opts, this.link, this);
  }
}

/** The in-memory "internet" connecting every {@link MemoryTransport} made from it. */
export class MemoryNetwork {
  readonly clock: Clock;
  readonly latencyMs: number;
  readonly bytesPerSec: number;
  readonly iceFailMs: number;
  /** Connection ends that ever opened (each link counts twice). */
  opened = 0;
  /** Bytes sent over all connections. */
  bytesSent = 0;
  private nextId = 1;
  private nextAddress = 1;
  private readonly live = new Map<number, MemoryPeerConnection>();

  constructor(opts: MemoryNetworkOptions) {
    this.clock = opts.clock;
    this.latencyMs = opts.latencyMs ?? 5;
    this.iceFailMs = opts.iceFailMs ?? 3000;
    this.bytesPerSec = opts.bytesPerSec ?? 0;
  }

  /**
   * A new transport (one per simulated viewer); `bytesPerSec` overrides the network's link
   * rate for what this viewer sends (its upload capacity per connection); `connectDelayMs`
   * makes this viewer's ends see `connect` that much after the remote end can send (default 0);
   * `address` is the viewer's IP as its peers see it (default: a fresh one in 10.77.0.0/16, a
   * private range, so address-keyed rules leave it alone unless a test says otherwise).
   */
  transport(
    opts: {
      bytesPerSec?: number;
      connectDelayMs?: number;
      address?: string;
      candidateType?: CandidateType;
      iceFails?: boolean;
    } = {},
  ): MemoryTransport {
    const n = this.nextAddress++;
    return new MemoryTransport(this, {
      bytesPerSec: opts.bytesPerSec ?? this.bytesPerSec,
      connectDelayMs: opts.connectDelayMs ?? 0,
      address: opts.address ?? `10.77.${(n >> 8) & 255}.${n & 255}`,
      candidateType: opts.candidateType ?? "host",
      iceFails: opts.iceFails ?? false,
    });
  }

  /** @internal */
  create(
    opts: CreatePeerOptions,
    link: LinkOptions = {
      bytesPerSec: this.bytesPerSec,
      connectDelayMs: 0,
      address: "10.77.255.255",
      candidateType: "host",
      iceFails: false,
    },
    owner?: MemoryTransport,
  ): MemoryPeerConnection {
    const c = new MemoryPeerConnection(this, this.nextId++, opts, link, owner);
    this.live.set(c.id, c);
    return c;
  }

  /** @internal */
  byId(id: number): MemoryPeerConnection | undefined {
    return this.live.get(id);
  }

  /** @internal */
  forget(c: MemoryPeerConnection): void {
    this.live.delete(c.id);
  }

  /** Connections not yet closed. */
  connections(): MemoryPeerConnection[] {
    return [...this.live.values()];
  }
}
