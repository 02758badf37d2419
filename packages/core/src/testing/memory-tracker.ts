/**
 * An in-memory WebTorrent-protocol tracker with a WebSocket-compatible constructor, driven by a
 * {@link Clock}: for unit tests and the simulator. It relays offers to other peers of the same
 * `info_hash` and answers to the peer that made the offer, like bittorrent-tracker, and can be
 * stopped and restarted to exercise reconnects.
 */
import type { Clock } from "../clock.js";
import type { TrackerSocket, WebSocketConstructor } from "../p2p/tracker-client.js";

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

  constructor(opts: { clock: Clock; latencyMs?: number; intervalSec?: number }) {
    this.clock = opts.clock;
    this.latencyMs = opts.latencyMs ?? 5;
    this.intervalSec = opts.intervalSec;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const tracker = this;
    this.WebSocket = class implements TrackerSocket {
      private readonly s: MemoryTrackerSocket;
      constructor(url: string) {
        this.s = tracker.connect(url);
      }
      get readyState(): number {
        return this.s.readyState;
      }
      get onopen(): Handler<unknown> | null {
        return this.s.onopen;
      }
      set onopen(f: Handler<unknown> | null) {
        this.s.onopen = f;
      }
      get onmessage(): Handler<{ data: unknown }> | null {
        return this.s.onmessage;
      }
      set onmessage(f: Handler<{ data: unknown }> | null) {
        this.s.onmessage = f;
      }
      get onclose(): Handler<unknown> | null {
        return this.s.onclose;
      }
      set onclose(f: Handler<unknown> | null) {
        this.s.onclose = f;
      }
      get onerror(): Handler<unknown> | null {
        return this.s.onerror;
      }
      set onerror(f: Handler<unknown> | null) {
        this.s.onerror = f;
      }
      send(data: string): void {
        this.s.send(data);
      }
      close(): void {
        this.s.close();
      }
    };
  }

  /** @internal */
  connect(url: string): MemoryTrackerSocket {
    const s = new MemoryTrackerSocket(this, url);
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
    return s;
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

  private deliver(to: MemoryTrackerSocket, msg: Record<string, unknown>): void {
    const text = JSON.stringify(msg);
    to.later(() => {
      if (to.readyState === 1) to.onmessage?.({ data: text });
    });
  }

  /** @internal */
  receive(from: MemoryTrackerSocket, data: string): void {
    let v: unknown;
    try {
      v = JSON.parse(data);
    } catch {
      return;
    }
    if (typeof v !== "object" || v === null || Array.isArray(v)) return;
    const msg: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) msg[k] = x;
    from.sent.push(msg);
    const hash = msg["info_hash"];
    const peerId = msg["peer_id"];
    if (msg["action"] !== "announce" || typeof hash !== "string" || typeof peerId !== "string")
      return;
    let swarm = this.swarms.get(hash);
    if (!swarm) {
      swarm = new Map();
      this.swarms.set(hash, swarm);
    }
    if (msg["event"] === "stopped") {
      if (swarm.get(peerId) === from) swarm.delete(peerId);
      return;
    }
    swarm.set(peerId, from);
    from.peerIds.set(hash, peerId);
    if (msg["answer"] !== undefined) {
      const to = swarm.get(String(msg["to_peer_id"]));
      if (to)
        this.deliver(to, {
          action: "announce",
          answer: msg["answer"],
          offer_id: msg["offer_id"],
          peer_id: peerId,
          info_hash: hash,
        });
      return;
    }
    this.deliver(from, {
      action: "announce",
      ...(this.intervalSec !== undefined ? { interval: this.intervalSec } : {}),
      info_hash: hash,
      complete: 0,
      incomplete: swarm.size,
    });
    const rawOffers = msg["offers"];
    const offers: unknown[] = Array.isArray(rawOffers) ? rawOffers : [];
    const others = [...swarm.entries()].filter(([id]) => id !== peerId);
    if (others.length === 0) return;
    const n = Math.min(offers.length, others.length);
    for (let i = 0; i < n; i++) {
      const o = offers[i];
      if (typeof o !== "object" || o === null) continue;
      const target = others[(this.rotate + i) % others.length];
      if (!target) continue;
      this.deliver(target[1], {
        action: "announce",
        offer: Reflect.get(o, "offer"),
        offer_id: Reflect.get(o, "offer_id"),
        peer_id: peerId,
        info_hash: hash,
      });
    }
    this.rotate++;
  }
}
