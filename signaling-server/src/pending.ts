/**
 * Offers relayed to one connection that it may still answer, oldest first: a ring of at most
 * `capacity` entries kept in parallel arrays. Relaying an offer — the hot path, several per
 * announce — costs a few array stores: no object, no hashing, no iterator. Answering looks back
 * through the entries, newest first; that scan is bounded by `capacity` and is rarer than relays
 * (a peer answers at most the offers it was sent).
 *
 * An answered entry leaves a hole (its id cleared) that is skipped and reclaimed as the ring
 * moves on. The same offer id may be present twice (the same offer relayed twice): each relay
 * can be answered once.
 */
export class PendingOffers<P> {
  private readonly ids: string[] = [];
  private readonly froms: Array<P | undefined> = [];
  private readonly tos: Array<P | undefined> = [];
  private readonly ats: number[] = [];
  /** Slot of the oldest entry (or hole). */
  private start = 0;
  /** Slots in use from `start`, holes included. */
  private used = 0;
  /** Entries that can still be answered. */
  size = 0;

  constructor(private readonly capacity: number) {}

  /**
   * Records that `to` was sent offer `offerId` (non-empty: the empty string marks a hole) from
   * `from` at time `at`; when full, the oldest entry makes room. Returns how many entries that
   * removed (0 or 1).
   */
  add(offerId: string, from: P, to: P, at: number): number {
    let evicted = 0;
    if (this.used === this.capacity) {
      if (this.ids[this.start] !== "") evicted = 1;
      this.clear(this.start);
      this.start = this.next(this.start);
      this.used--;
    }
    let slot = this.start + this.used;
    if (slot >= this.capacity) slot -= this.capacity;
    if (slot === this.ids.length) {
      // Grow lazily: a connection that was sent three offers holds three slots.
      this.ids.push(offerId);
      this.froms.push(from);
      this.tos.push(to);
      this.ats.push(at);
    } else {
      this.ids[slot] = offerId;
      this.froms[slot] = from;
      this.tos[slot] = to;
      this.ats[slot] = at;
    }
    this.used++;
    this.size += 1 - evicted;
    return evicted;
  }

  /**
   * Removes and returns the newest entry with this offer id for which `matches(from, to)` holds,
   * with the time it was relayed; undefined when there is none (nothing is removed then).
   */
  take(
    offerId: string,
    matches: (from: P, to: P) => boolean,
  ): { from: P; to: P; at: number } | undefined {
    for (let k = this.used - 1; k >= 0; k--) {
      let slot = this.start + k;
      if (slot >= this.capacity) slot -= this.capacity;
      if (this.ids[slot] !== offerId) continue;
      const from = this.froms[slot];
      const to = this.tos[slot];
      if (from === undefined || to === undefined || !matches(from, to)) continue;
      const at = this.ats[slot] ?? 0;
      this.clear(slot);
      this.size--;
      return { from, to, at };
    }
    return undefined;
  }

  /** Drops entries relayed before `cutoff` (oldest first); returns how many. */
  expire(cutoff: number): number {
    let dropped = 0;
    while (this.used > 0) {
      const slot = this.start;
      if (this.ids[slot] !== "") {
        if ((this.ats[slot] ?? 0) >= cutoff) break;
        dropped++;
      }
      this.clear(slot);
      this.start = this.next(slot);
      this.used--;
    }
    this.size -= dropped;
    return dropped;
  }

  private next(slot: number): number {
    return slot + 1 === this.capacity ? 0 : slot + 1;
  }

  /** Empties a slot, letting go of the peers it referenced. */
  private clear(slot: number): void {
    this.ids[slot] = "";
    this.froms[slot] = undefined;
    this.tos[slot] = undefined;
  }
}
