/**
 * An in-memory WebTorrent-protocol tracker with a WebSocket-compatible constructor, driven by a
 * {@link Clock}: for unit tests and the simulator. It relays offers to other peers of the same
 * `info_hash` and answers to the peer that made the offer, like bittorrent-tracker, and can be
 * stopped and restarted to exercise reconnects.
 */
import type { Clock } from "../clock.js";
import type { TrackerSocket, WebSocketConstructor } from "../p2p/tracker-client.js";
import {
  announceReply,
  parseTrackerMessage,
  readAnnounce,
  relayedAnswer,
  relayedOffer,
  SKIP_EXTENSIONS,
} from "./tracker-relay.js";

type Handler<E> = { bivarianceHack(ev: E): void }["bivarianceHack"];

/** A client socket of a {@link MemoryTracker}. */
export class MemoryTrackerSocket implements TrackerSocket {
  readyState = 0;
  onopen: Handler<unknown> | null = null;
  onmessage: Handler<{ data: unknown }> | null = null;
  onclose: Handler<unknown> | null = null;
  onerror: Handler<unknown> | null = null;
  /** Messages this socket sent, parsed. */
  readonly sent: Array<Record<string, unknown>> = [];
  /** Peer ids this socket announced, per info hash. */
  readonly peerIds = new Map<string, string>();
  private readonly timers = new Set<unknown>();

  constructor(
    private readonly tracker: MemoryTracker,
    readonly url: string,
  ) {}

  /** @internal Runs `fn` after the tracker latency unless the socket closes first. */
  later(fn: () => void): void {
    const h = this.tracker.clock.setTimeout(() => {
      this.timers.delete(h);
      fn();
    }, this.tracker.latencyMs);
    this.timers.add(h);
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error("socket not open");
    this.tracker.receive(this, data);
  }

  /** Client-side close. */
  close(): void {
    if (this.readyState >= 2) return;
    this.readyState = 3;
    for (const h of this.timers) this.tracker.clock.clearTimeout(h);
    this.timers.clear();
    this.tracker.detach(this);
  }

  /** @internal Server-side close (tracker stopped). */
  serverClose(): void {
    if (this.readyState >= 2) return;
    this.readyState = 3;
    for (const h of this.timers) this.tracker.clock.clearTimeout(h);
    this.timers.clear();
    this.tracker.detach(this);
    this.later(() => this.onclose?.({ code: 1001 }));
  }
}

/** The in-memory tracker. */
export class MemoryTracker {
  readonly clock: Clock;
  readonly latencyMs: number;
  /** Accepting connections. */
  up = true;
  /** Every socket ever created. */
  readonly sockets: MemoryTrackerSocket[] = [];
  /** info hash → peer id → socket. */
  private readonly swarms = new Map<string, Map<string, MemoryTrackerSocket>>();
  private rotate = 0;
  /** A WebSocket constructor bound to this tracker. */
  readonly WebSocket: WebSocketConstructor;

  /** `interval` sent in announce replies, seconds (omitted when undefined). */
  readonly intervalSec: number | undefined;

  /**
   * Honours `skip_peer_ids` and says so in its replies, like Hivecast's signaling server; false:
   * ignores the field, like bittorrent-tracker.
   */
  readonly skipPeerIds: boolean;

  constructor(opts: {
    clock: Clock;
    latencyMs?: number;
    intervalSec?: number;
    skipPeerIds?: boolean;
  }) {
    this.clock = opts.clock;
    this.latencyMs = opts.latencyMs ?? 5;
    this.intervalSec = opts.intervalSec;
    this.skipPeerIds = opts.skipPeerIds ?? true;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const tracker = this;
    this.WebSocket = class extends MemoryTrackerSocket {
      constructor(url: string) {
        super(tracker, url);
        tracker.connect(this);
      }
    };
  }

  /** @internal */
  connect(s: MemoryTrackerSocket): void {
    this.sockets.push(s);
    if (this.up) {
      s.later(() => {
        if (s.readyState !== 0) return;
        s.readyState = 1;
        s.onopen?.({});
      });
    } else {
      s.later(() => {
        if (s.readyState !== 0) return;
        s.readyState = 3;
        s.onerror?.({});
        s.onclose?.({ code: 1006 });
      });
    }
  }

  /** Sockets currently open. */
  openSockets(): MemoryTrackerSocket[] {
    return this.sockets.filter((s) => s.readyState === 1);
  }

  /** Peer ids in the swarm of `infoHash`. */
  peersIn(infoHash: string): string[] {
    return [...(this.swarms.get(infoHash)?.keys() ?? [])];
  }

  /** Simulates the tracker going down: every socket closes, new ones fail. */
  stop(): void {
    this.up = false;
    for (const s of this.sockets) s.serverClose();
    this.swarms.clear();
  }

  /** Accepts connections again. */
  start(): void {
    this.up = true;
  }

  /** @internal */
  detach(s: MemoryTrackerSocket): void {
    for (const [hash, peers] of this.swarms) {
      const id = s.peerIds.get(hash);
      if (id !== undefined && peers.get(id) === s) peers.delete(id);
    }
  }

  private deliver(to: MemoryTrackerSocket, text: string): void {
    to.later(() => {
      if (to.readyState === 1) to.onmessage?.({ data: text });
    });
  }

  /** @internal */
  receive(from: MemoryTrackerSocket, data: string): void {
    const msg = parseTrackerMessage(data);
    if (!msg) return;
    from.sent.push(msg);
    const a = readAnnounce(msg);
    if (!a) return;
    let swarm = this.swarms.get(a.infoHash);
    if (!swarm) {
      swarm = new Map();
      this.swarms.set(a.infoHash, swarm);
    }
    if (a.stopped) {
      if (swarm.get(a.peerId) === from) swarm.delete(a.peerId);
      return;
    }
    swarm.set(a.peerId, from);
    from.peerIds.set(a.infoHash, a.peerId);
    if (a.answer !== undefined) {
      const to = swarm.get(a.toPeerId);
      if (to) this.deliver(to, relayedAnswer(a));
      return;
    }
    this.deliver(
      from,
      announceReply(a.infoHash, swarm.size, {
        intervalSec: this.intervalSec,
        ...(this.skipPeerIds ? { extensions: SKIP_EXTENSIONS } : {}),
      }),
    );
    const skip = new Set(this.skipPeerIds ? a.skipPeerIds : []);
    const others = [...swarm.entries()].filter(([id]) => id !== a.peerId && !skip.has(id));
    if (others.length === 0) return;
    const n = Math.min(a.offers.length, others.length);
    for (let i = 0; i < n; i++) {
      const target = others[(this.rotate + i) % others.length];
      const offer = relayedOffer(a, a.offers[i]);
      if (target && offer !== null) this.deliver(target[1], offer);
    }
    this.rotate++;
  }
}
