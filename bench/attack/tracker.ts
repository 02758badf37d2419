/**
 * The attack benchmark's tracker: the WebTorrent announce/offer/answer relay of the scale
 * simulator, but with each socket's client address known and the signaling server's own
 * per-address rules — its `Swarm` (offers spread over client addresses) and the
 * `maxPeersPerIp` check (public addresses only, as the server's default `ipRuleScope`). The
 * sockets, timing and message shapes are the simulator's; the peer selection is the server's.
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
import { isPrivateIp, normalizeIp } from "../../signaling-server/src/address.js";
import { Swarm, type SwarmPeer } from "../../signaling-server/src/swarm.js";
import type { SimTrackerLike } from "../scale/sim.js";

type Handler<E> = { bivarianceHack(ev: E): void }["bivarianceHack"];

/** A client socket of an {@link AddressTracker}: one connection, at one address. */
class AddressSocket implements TrackerSocket {
  readyState = 0;
  onopen: Handler<unknown> | null = null;
  onmessage: Handler<{ data: unknown }> | null = null;
  onclose: Handler<unknown> | null = null;
  onerror: Handler<unknown> | null = null;
  /** Its peers, per info hash. */
  readonly peers = new Map<string, SwarmPeer<AddressSocket>>();

  constructor(
    private readonly tracker: AddressTracker,
    readonly ip: string,
  ) {
    tracker.later(() => {
      if (this.readyState !== 0) return;
      this.readyState = 1;
      this.onopen?.({});
    });
  }

  send(data: string): boolean {
    if (this.readyState !== 1) return false;
    this.tracker.later(() => {
      if (this.readyState === 1) this.onmessage?.({ data });
    });
    return true;
  }

  /** From the client side. */
  close(): void {
    if (this.readyState >= 2) return;
    this.readyState = 3;
    this.tracker.detach(this);
  }

  /** Client → tracker. */
  sendToTracker(data: string): void {
    if (this.readyState !== 1) throw new Error("socket not open");
    this.tracker.receive(this, data);
  }
}

/** In-memory tracker on a virtual clock with the signaling server's per-address rules. */
export class AddressTracker implements SimTrackerLike {
  private readonly swarms = new Map<string, Swarm<AddressSocket>>();
  private readonly picks: Array<SwarmPeer<AddressSocket> | undefined> = [];
  /** Announces refused by `maxPeersPerIp`. */
  refused = 0;

  constructor(
    private readonly clock: Clock,
    private readonly latencyMs: number,
    private readonly random: () => number,
    /** The server's `maxPeersPerIp` (0 = no limit), applied to public addresses. */
    private readonly maxPeersPerIp: number,
  ) {}

  WebSocketAt(address: string | undefined): WebSocketConstructor {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const tracker = this;
    const ip = normalizeIp(address ?? "");
    return class implements TrackerSocket {
      private readonly s: AddressSocket;
      constructor(_url: string) {
        this.s = new AddressSocket(tracker, ip);
      }
      get readyState(): number {
        return this.s.readyState;
      }
      set onopen(f: Handler<unknown> | null) {
        this.s.onopen = f;
      }
      get onopen(): Handler<unknown> | null {
        return this.s.onopen;
      }
      set onmessage(f: Handler<{ data: unknown }> | null) {
        this.s.onmessage = f;
      }
      get onmessage(): Handler<{ data: unknown }> | null {
        return this.s.onmessage;
      }
      set onclose(f: Handler<unknown> | null) {
        this.s.onclose = f;
      }
      get onclose(): Handler<unknown> | null {
        return this.s.onclose;
      }
      set onerror(f: Handler<unknown> | null) {
        this.s.onerror = f;
      }
      get onerror(): Handler<unknown> | null {
        return this.s.onerror;
      }
      send(data: string): void {
        this.s.sendToTracker(data);
      }
      close(): void {
        this.s.close();
      }
    };
  }

  /** @internal */
  later(fn: () => void): void {
    this.clock.setTimeout(fn, this.latencyMs);
  }

  /** @internal */
  detach(s: AddressSocket): void {
    for (const peer of s.peers.values()) this.removePeer(peer);
    s.peers.clear();
  }

  private removePeer(peer: SwarmPeer<AddressSocket>): void {
    const swarm = peer.swarm;
    swarm.remove(peer);
    peer.conn.peers.delete(swarm.infoHash);
    if (swarm.size === 0) this.swarms.delete(swarm.infoHash);
  }

  /** @internal */
  receive(from: AddressSocket, data: string): void {
    const msg = parseTrackerMessage(data);
    const a = msg && readAnnounce(msg);
    if (!a) return;
    let swarm = this.swarms.get(a.infoHash);
    let peer = from.peers.get(a.infoHash);
    if (a.stopped) {
      if (peer) this.removePeer(peer);
      return;
    }
    if (a.answer !== undefined) {
      swarm?.get(a.toPeerId)?.conn.send(relayedAnswer(a));
      return;
    }
    if (!peer) {
      swarm ??= new Swarm<AddressSocket>(a.infoHash);
      this.swarms.set(a.infoHash, swarm);
      const limited = this.maxPeersPerIp > 0 && from.ip !== "" && !isPrivateIp(from.ip);
      if (limited && swarm.peersAt(from.ip) >= this.maxPeersPerIp) {
        this.refused++;
        from.send(
          JSON.stringify({
            action: "announce",
            "failure reason": "too many peers from your address in this swarm",
            info_hash: a.infoHash,
          }),
        );
        return;
      }
      peer = swarm.add(a.peerId, from, false);
      from.peers.set(a.infoHash, peer);
    }
    if (!swarm) return;
    from.send(announceReply(a.infoHash, swarm.size, { extensions: SKIP_EXTENSIONS }));
    const k = swarm.pickRandom(a.offers.length, peer, this.random, this.picks, a.skipPeerIds);
    for (let i = 0; i < k; i++) {
      const target = this.picks[i];
      this.picks[i] = undefined;
      const offer = relayedOffer(a, a.offers[i]);
      if (target && offer !== null) target.conn.send(offer);
    }
  }
}
