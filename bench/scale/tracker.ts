/**
 * The scale simulation's tracker: the WebTorrent announce/offer/answer relay over in-memory
 * sockets on the virtual clock, sending each offer to a *random* other peer of the swarm, as
 * bittorrent-tracker and our signaling server do — and, like our server, never to a peer the
 * announce lists in `skip_peer_ids`. (The core's MemoryTracker, built for deterministic unit
 * tests, rotates through peers in join order, which at scale sends most offers to the first,
 * already full, viewers.) Sampling is O(1) per offer, so 10,000 peers stay cheap.
 */
import type { Clock } from "../../packages/core/src/clock.js";
import type {
  TrackerSocket,
  WebSocketConstructor,
} from "../../packages/core/src/p2p/tracker-client.js";
import {
  announceReply,
  parseTrackerMessage,
  readAnnounce,
  relayedAnswer,
  relayedOffer,
  SKIP_EXTENSIONS,
} from "../../packages/core/src/testing/tracker-relay.js";

type Handler<E> = { bivarianceHack(ev: E): void }["bivarianceHack"];

/** Peers of one info hash: an array for O(1) random picks plus an index for O(1) removal. */
class SwarmPeers {
  private readonly ids: string[] = [];
  private readonly sockets = new Map<string, { socket: SimTrackerSocket; index: number }>();

  get size(): number {
    return this.ids.length;
  }

  get(id: string): SimTrackerSocket | undefined {
    return this.sockets.get(id)?.socket;
  }

  set(id: string, socket: SimTrackerSocket): void {
    const e = this.sockets.get(id);
    if (e) {
      e.socket = socket;
      return;
    }
    this.sockets.set(id, { socket, index: this.ids.length });
    this.ids.push(id);
  }

  delete(id: string): void {
    const e = this.sockets.get(id);
    if (!e) return;
    const last = this.ids.pop()!;
    if (last !== id) {
      this.ids[e.index] = last;
      this.sockets.get(last)!.index = e.index;
    }
    this.sockets.delete(id);
  }

  /** Up to `n` distinct random peers other than `self` and those in `skip`. */
  sample(
    n: number,
    self: string,
    skip: readonly string[],
    random: () => number,
  ): Array<[string, SimTrackerSocket]> {
    const out: Array<[string, SimTrackerSocket]> = [];
    const seen = new Set<string>([self, ...skip]);
    let present = 0;
    for (const id of seen) if (this.sockets.has(id)) present++;
    const max = Math.min(n, this.ids.length - present);
    if (max <= 0) return out;
    if (this.ids.length <= 8 * max) {
      // A small swarm, or most of it skipped: shuffle the candidates instead of guessing.
      const free = this.ids.filter((id) => !seen.has(id));
      for (let i = 0; i < max; i++) {
        const j = i + Math.floor(random() * (free.length - i));
        const id = free[j]!;
        free[j] = free[i]!;
        out.push([id, this.sockets.get(id)!.socket]);
      }
      return out;
    }
    for (let tries = 0; out.length < max && tries < 8 * max + 16; tries++) {
      const id = this.ids[Math.floor(random() * this.ids.length)]!;
      if (seen.has(id)) continue;
      seen.add(id);
      out.push([id, this.sockets.get(id)!.socket]);
    }
    return out;
  }
}

/** A client socket of a {@link SimTracker}. */
export class SimTrackerSocket implements TrackerSocket {
  readyState = 0;
  onopen: Handler<unknown> | null = null;
  onmessage: Handler<{ data: unknown }> | null = null;
  onclose: Handler<unknown> | null = null;
  onerror: Handler<unknown> | null = null;
  /** Peer id announced per info hash. */
  readonly peerIds = new Map<string, string>();

  constructor(private readonly tracker: SimTracker) {
    tracker.later(() => {
      if (this.readyState !== 0) return;
      this.readyState = 1;
      this.onopen?.({});
    });
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error("socket not open");
    this.tracker.receive(this, data);
  }

  close(): void {
    if (this.readyState >= 2) return;
    this.readyState = 3;
    this.tracker.detach(this);
  }

  /** @internal */
  deliver(text: string): void {
    this.tracker.later(() => {
      if (this.readyState === 1) this.onmessage?.({ data: text });
    });
  }
}

/** In-memory WebTorrent tracker on a virtual clock with random offer targets. */
export class SimTracker {
  private readonly swarms = new Map<string, SwarmPeers>();
  /** A WebSocket constructor bound to this tracker. */
  readonly WebSocket: WebSocketConstructor;
  /** Announces received. */
  announces = 0;

  constructor(
    private readonly clock: Clock,
    private readonly latencyMs: number,
    private readonly random: () => number,
  ) {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const tracker = this;
    this.WebSocket = class extends SimTrackerSocket {
      constructor(_url: string) {
        super(tracker);
      }
    };
  }

  /** Sockets know no address here: every participant gets the same constructor. */
  WebSocketAt(_address: string | undefined): WebSocketConstructor {
    return this.WebSocket;
  }

  /** @internal */
  later(fn: () => void): void {
    this.clock.setTimeout(fn, this.latencyMs);
  }

  /** @internal */
  detach(s: SimTrackerSocket): void {
    for (const [hash, id] of s.peerIds) {
      const sw = this.swarms.get(hash);
      if (sw?.get(id) === s) sw.delete(id);
    }
  }

  /** @internal */
  receive(from: SimTrackerSocket, data: string): void {
    const msg = parseTrackerMessage(data);
    const a = msg && readAnnounce(msg);
    if (!a) return;
    this.announces++;
    let swarm = this.swarms.get(a.infoHash);
    if (!swarm) {
      swarm = new SwarmPeers();
      this.swarms.set(a.infoHash, swarm);
    }
    if (a.stopped) {
      if (swarm.get(a.peerId) === from) swarm.delete(a.peerId);
      return;
    }
    swarm.set(a.peerId, from);
    from.peerIds.set(a.infoHash, a.peerId);
    if (a.answer !== undefined) {
      swarm.get(a.toPeerId)?.deliver(relayedAnswer(a));
      return;
    }
    from.deliver(announceReply(a.infoHash, swarm.size, { extensions: SKIP_EXTENSIONS }));
    const targets = swarm.sample(a.offers.length, a.peerId, a.skipPeerIds, this.random);
    targets.forEach(([, socket], i) => {
      const offer = relayedOffer(a, a.offers[i]);
      if (offer !== null) socket.deliver(offer);
    });
  }
}
