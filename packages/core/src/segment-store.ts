import type { SegmentKey } from "./p2p/contract.js";

/** One stored segment. */
export interface StoredSegment {
  key: SegmentKey;
  data: Uint8Array;
  /** Checked against a trusted hash (unverified entries only serve local playback retries). */
  verified: boolean;
}

/** Map key of a {@link SegmentKey}. */
export function storeId(key: SegmentKey): string {
  return `${key.swarmId}\n${key.segmentId}`;
}

/**
 * Byte-capped LRU of segments. Evictions are reported so the P2P layer can tell peers the
 * segment is gone; a segment larger than the whole cap is not stored at all.
 */
export class SegmentStore {
  private readonly entries = new Map<string, StoredSegment>();
  private used = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly onEvict: (entry: StoredSegment) => void,
  ) {}

  /** Bytes held. */
  get bytes(): number {
    return this.used;
  }

  /** Segments held. */
  get size(): number {
    return this.entries.size;
  }

  /** The entry, marked most recently used. */
  get(key: SegmentKey): StoredSegment | undefined {
    const id = storeId(key);
    const e = this.entries.get(id);
    if (!e) return undefined;
    this.entries.delete(id);
    this.entries.set(id, e);
    return e;
  }

  /** Stores (or replaces) an entry, evicting the least recently used ones over the cap. */
  put(entry: StoredSegment): boolean {
    if (entry.data.length > this.maxBytes) return false;
    const id = storeId(entry.key);
    const old = this.entries.get(id);
    if (old) {
      this.entries.delete(id);
      this.used -= old.data.length;
    }
    this.entries.set(id, entry);
    this.used += entry.data.length;
    while (this.used > this.maxBytes) {
      const [oldestId, oldest] = this.entries.entries().next().value ?? [];
      if (oldestId === undefined || !oldest) break;
      this.entries.delete(oldestId);
      this.used -= oldest.data.length;
      this.onEvict(oldest);
    }
    return true;
  }

  /** Drops everything without eviction callbacks (engine teardown). */
  clear(): void {
    this.entries.clear();
    this.used = 0;
  }
}
