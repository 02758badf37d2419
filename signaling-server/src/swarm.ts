/**
 * One swarm (info hash): its peers in a dense array (for random picks without copying) plus a
 * map from peer id to slot (O(1) lookup and O(1) swap-remove), and the same peers grouped by
 * client address (offers are spread over addresses, and the per-address limit counts them).
 */

/** A connection as the swarm sees it; implemented by the server's connection state. */
export interface SwarmConnection {
  /** Sends a pre-serialised message; returns false when the message was dropped. */
  send(message: string): boolean;
  /** The client's address (normalised; "" when unknown): offers are spread over addresses. */
  readonly ip: string;
}

/** The peers of one swarm at one client address. */
interface AddressGroup<C extends SwarmConnection> {
  readonly ip: string;
  readonly peers: SwarmPeer<C>[];
  /** Slot in the swarm's group array. */
  slot: number;
}

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
  /** Slot among the peers of its address; maintained by the swarm. */
  ipIndex: number;
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
  /** Peers grouped by address: a dense array (random picks) and a map (lookup). */
  private readonly groups: AddressGroup<C>[] = [];
  private readonly byIp = new Map<string, AddressGroup<C>>();
  /** Reused by {@link pickRandom}: peers already given an offer, or skipped. */
  private readonly pickedPeers = new Set<SwarmPeer<C>>();

  constructor(readonly infoHash: string) {
    this.infoHashJson = JSON.stringify(infoHash);
  }

  /** Number of peers. */
  get size(): number {
    return this.peers.length;
  }

  /** Number of distinct client addresses. */
  get addresses(): number {
    return this.groups.length;
  }

  /** Peers whose connection has address `ip`. */
  peersAt(ip: string): number {
    return this.byIp.get(ip)?.peers.length ?? 0;
  }

  /** The peer with this id, if any. */
  get(peerId: string): SwarmPeer<C> | undefined {
    return this.byId.get(peerId);
  }

  /** Adds a peer (caller checked it is absent and the swarm has room). */
  add(peerId: string, conn: C, seeding: boolean): SwarmPeer<C> {
    let group = this.byIp.get(conn.ip);
    if (group === undefined) {
      group = { ip: conn.ip, peers: [], slot: this.groups.length };
      this.groups.push(group);
      this.byIp.set(conn.ip, group);
    }
    const peer: SwarmPeer<C> = {
      peerId,
      peerIdJson: JSON.stringify(peerId),
      conn,
      swarm: this,
      seeding,
      index: this.peers.length,
      ipIndex: group.peers.length,
    };
    this.peers.push(peer);
    group.peers.push(peer);
    this.byId.set(peerId, peer);
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

  /** Removes a peer in O(1) (the last peer moves into its slot, in both arrays). */
  remove(peer: SwarmPeer<C>): void {
    if (this.byId.get(peer.peerId) !== peer) return;
    this.byId.delete(peer.peerId);
    const last = this.peers.pop();
    if (last !== undefined && last !== peer) {
      this.peers[peer.index] = last;
      last.index = peer.index;
    }
    peer.index = -1;
    const group = this.byIp.get(peer.conn.ip);
    if (group !== undefined) {
      const lastAt = group.peers.pop();
      if (lastAt !== undefined && lastAt !== peer) {
        group.peers[peer.ipIndex] = lastAt;
        lastAt.ipIndex = peer.ipIndex;
      }
      if (group.peers.length === 0) {
        this.byIp.delete(group.ip);
        const lastGroup = this.groups.pop();
        if (lastGroup !== undefined && lastGroup !== group) {
          this.groups[group.slot] = lastGroup;
          lastGroup.slot = group.slot;
        }
      }
    }
    peer.ipIndex = -1;
    if (peer.seeding) this.complete--;
    else this.incomplete--;
  }

  /**
   * Writes up to `count` distinct random peers other than `self` and those named in `skip`
   * into `out[0..k)` and returns k, spread over client addresses: every other address is one
   * candidate (then a random peer of it not skipped), whatever number of peer ids it holds, so
   * one address with many ids (sybils) gets no more offers than an honest viewer's. Peers at
   * `self`'s own address are candidates one by one (viewers on one LAN or machine still meet
   * each other; with one shared address the pick is uniform over peers). Only when fewer
   * candidates than `count` exist are further peers of already picked addresses added.
   * Sampling without replacement by partial Fisher–Yates shuffles done in place (the arrays'
   * order carries no meaning): O(count + skip.length), no allocation. The caller clears `out`.
   */
  pickRandom(
    count: number,
    self: SwarmPeer<C> | null,
    random: () => number,
    out: Array<SwarmPeer<C> | undefined>,
    skip: readonly string[] = [],
  ): number {
    const selfIn = self !== null && self.index >= 0 && this.byId.get(self.peerId) === self;
    // Skipped peers are marked as if already picked; `want` then counts only those left, so
    // the fill below stops as soon as it has them instead of scanning the whole swarm.
    const taken = this.pickedPeers;
    for (const id of skip) {
      const p = this.byId.get(id);
      if (p !== undefined && p !== self) taken.add(p);
    }
    const skipped = taken.size;
    const want = Math.min(count, this.peers.length - (selfIn ? 1 : 0) - skipped);
    const groups = this.groups;
    const own = self === null ? undefined : this.byIp.get(self.conn.ip);
    // Our own address's group goes last among the groups, and self last among its peers: the
    // shuffles below then run over the others only.
    if (own !== undefined) this.swapGroups(own.slot, groups.length - 1);
    if (own !== undefined && selfIn && self !== null)
      this.swapAt(own, self.ipIndex, own.peers.length - 1);
    let ownLeft = own === undefined ? 0 : own.peers.length - (selfIn ? 1 : 0);
    let groupsLeft = groups.length - (own === undefined ? 0 : 1);
    let ownAt = 0;
    let groupAt = 0;
    let picked = 0;
    while (picked < want && ownLeft + groupsLeft > 0) {
      let p: SwarmPeer<C> | undefined;
      if (own !== undefined && random() * (ownLeft + groupsLeft) < ownLeft) {
        this.swapAt(own, ownAt, ownAt + Math.floor(random() * ownLeft));
        p = own.peers[ownAt++];
        ownLeft--;
      } else {
        this.swapGroups(groupAt, groupAt + Math.floor(random() * groupsLeft));
        const g = groups[groupAt++];
        groupsLeft--;
        if (g !== undefined) p = this.unskippedPeerOf(g, skipped, random);
      }
      if (p === undefined || p === self || taken.has(p)) continue;
      taken.add(p);
      out[picked++] = p;
    }
    if (picked < want) picked = this.fill(want, picked, self, random, out);
    taken.clear();
    return picked;
  }

  /**
   * A random peer of `group` not yet taken: from a random start, the first of the next
   * `skipped + 1` peers that is free (at most `skipped` of them are taken by the skip list, so
   * in a large group one is found within that many steps); undefined when none is.
   */
  private unskippedPeerOf(
    group: AddressGroup<C>,
    skipped: number,
    random: () => number,
  ): SwarmPeer<C> | undefined {
    const n = group.peers.length;
    const start = Math.floor(random() * n);
    const steps = Math.min(n, skipped + 1);
    for (let i = 0; i < steps; i++) {
      const p = group.peers[(start + i) % n];
      if (p !== undefined && !this.pickedPeers.has(p)) return p;
    }
    return undefined;
  }

  /** Swaps two peers of an address group, keeping their `ipIndex` right. */
  private swapAt(group: AddressGroup<C>, i: number, j: number): void {
    if (i === j) return;
    const a = group.peers[i];
    const b = group.peers[j];
    if (a === undefined || b === undefined) return;
    group.peers[i] = b;
    b.ipIndex = i;
    group.peers[j] = a;
    a.ipIndex = j;
  }

  /** Swaps two address groups, keeping their `slot` right. */
  private swapGroups(i: number, j: number): void {
    if (i === j) return;
    const a = this.groups[i];
    const b = this.groups[j];
    if (a === undefined || b === undefined) return;
    this.groups[i] = b;
    b.slot = i;
    this.groups[j] = a;
    a.slot = j;
  }

  /**
   * Adds random peers not picked yet until `want`: a partial Fisher–Yates shuffle done in place
   * on the peer array (its order carries no meaning).
   */
  private fill(
    want: number,
    picked: number,
    self: SwarmPeer<C> | null,
    random: () => number,
    out: Array<SwarmPeer<C> | undefined>,
  ): number {
    const peers = this.peers;
    const n = peers.length;
    for (let i = 0; i < n && picked < want; i++) {
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
      if (b === self || this.pickedPeers.has(b)) continue;
      this.pickedPeers.add(b);
      out[picked++] = b;
    }
    return picked;
  }
}
