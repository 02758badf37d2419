/**
 * One swarm (info hash): its peers in a dense array (for random picks without copying) plus a
 * map from peer id to slot (O(1) lookup and O(1) swap-remove).
 */

/** A connection as the swarm sees it; implemented by the server's connection state. */
export interface SwarmConnection {
  /** Sends a pre-serialised message; returns false when the message was dropped. */
  send(message: string): boolean;
  /** The client's address (normalised; "" when unknown): offers are spread over addresses. */
  readonly ip: string;
}

/** Most candidates {@link Swarm.pickRandom} looks at per offer it places. */
export const PICK_SCAN_PER_OFFER = 16;

/** A peer: one peer id of one connection in one swarm. */
export interface SwarmPeer<C extends SwarmConnection = SwarmConnection> {
  readonly peerId: string;
  /** `JSON.stringify(peerId)`, computed once for relays. */
  readonly peerIdJson: string;
  readonly conn: C;
  readonly swarm: Swarm<C>;
  seeding: boolean;
  /** Slot in `swarm.peers`; maintained by the swarm. */
  index: number;
}

/** Peers of one info hash. */
export class Swarm<C extends SwarmConnection = SwarmConnection> {
  /** `JSON.stringify(infoHash)`, computed once for replies and relays. */
  readonly infoHashJson: string;
  /** Seeders (`left === 0` or `completed`). */
  complete = 0;
  /** Leechers. */
  incomplete = 0;
  private readonly peers: SwarmPeer<C>[] = [];
  private readonly byId = new Map<string, SwarmPeer<C>>();
  /** Peers per client address. */
  private readonly byIp = new Map<string, number>();
  /** Reused by {@link pickRandom}: addresses already given an offer, candidates put aside. */
  private readonly pickedIps = new Set<string>();
  private readonly spill: Array<SwarmPeer<C> | undefined> = [];

  constructor(readonly infoHash: string) {
    this.infoHashJson = JSON.stringify(infoHash);
  }

  /** Number of peers. */
  get size(): number {
    return this.peers.length;
  }

  /** Peers whose connection has address `ip`. */
  peersAt(ip: string): number {
    return this.byIp.get(ip) ?? 0;
  }

  /** The peer with this id, if any. */
  get(peerId: string): SwarmPeer<C> | undefined {
    return this.byId.get(peerId);
  }

  /** Adds a peer (caller checked it is absent and the swarm has room). */
  add(peerId: string, conn: C, seeding: boolean): SwarmPeer<C> {
    const peer: SwarmPeer<C> = {
      peerId,
      peerIdJson: JSON.stringify(peerId),
      conn,
      swarm: this,
      seeding,
      index: this.peers.length,
    };
    this.peers.push(peer);
    this.byId.set(peerId, peer);
    this.byIp.set(conn.ip, (this.byIp.get(conn.ip) ?? 0) + 1);
    if (seeding) this.complete++;
    else this.incomplete++;
    return peer;
  }

  /** Marks a peer as seeding or not, keeping the counts right. */
  setSeeding(peer: SwarmPeer<C>, seeding: boolean): void {
    if (peer.seeding === seeding) return;
    peer.seeding = seeding;
    if (seeding) {
      this.complete++;
      this.incomplete--;
    } else {
      this.complete--;
      this.incomplete++;
    }
  }

  /** Removes a peer in O(1) (the last peer moves into its slot). */
  remove(peer: SwarmPeer<C>): void {
    if (this.byId.get(peer.peerId) !== peer) return;
    this.byId.delete(peer.peerId);
    const last = this.peers.pop();
    if (last !== undefined && last !== peer) {
      this.peers[peer.index] = last;
      last.index = peer.index;
    }
    peer.index = -1;
    const atIp = (this.byIp.get(peer.conn.ip) ?? 1) - 1;
    if (atIp > 0) this.byIp.set(peer.conn.ip, atIp);
    else this.byIp.delete(peer.conn.ip);
    if (peer.seeding) this.complete--;
    else this.incomplete--;
  }

  /**
   * Writes up to `count` distinct random peers other than `self` into `out[0..k)` and returns k:
   * a partial Fisher–Yates shuffle done in place on the peer array (its order carries no
   * meaning), spread over client addresses — a peer whose address already got an offer of this
   * announce is put aside and used only if too few other addresses turn up, so one address with
   * many peer ids (sybils) cannot take every offer. Peers at `self`'s own address are not put
   * aside (viewers on one LAN or machine should still meet each other). Looks at no more than
   * `PICK_SCAN_PER_OFFER × count` candidates, without allocating. The caller clears `out`.
   */
  pickRandom(
    count: number,
    self: SwarmPeer<C> | null,
    random: () => number,
    out: Array<SwarmPeer<C> | undefined>,
  ): number {
    const peers = this.peers;
    const n = peers.length;
    const scan = Math.min(n, count * PICK_SCAN_PER_OFFER);
    const ownIp = self?.conn.ip;
    const pickedIps = this.pickedIps;
    const spill = this.spill;
    let spilled = 0;
    let picked = 0;
    for (let i = 0; i < scan && picked < count; i++) {
      const j = i + Math.floor(random() * (n - i));
      const a = peers[i];
      const b = peers[j];
      if (a === undefined || b === undefined) break;
      if (i !== j) {
        peers[i] = b;
        b.index = i;
        peers[j] = a;
        a.index = j;
      }
      if (b === self) continue;
      const ip = b.conn.ip;
      if (ip !== ownIp && pickedIps.has(ip)) {
        if (spilled < count) spill[spilled++] = b;
        continue;
      }
      if (ip !== ownIp) pickedIps.add(ip);
      out[picked++] = b;
    }
    for (let i = 0; i < spilled; i++) {
      if (picked < count) out[picked++] = spill[i];
      spill[i] = undefined;
    }
    pickedIps.clear();
    return picked;
  }
}
