/**
 * Pure decisions of the P2P layer: who fetches a new live segment over HTTP, whether to ask a
 * peer, wait for one, or leave the segment to HTTP, and when a peer transfer has fallen behind.
 * No I/O, no clock: every input is a value, so every branch is unit-tested.
 */
import { ewmaNext } from "../ewma.js";

/** Assumed peer throughput before one was measured, bytes/second. */
export const DEFAULT_PEER_BPS = 1_000_000;
/** Assumed segment size when neither the Engine nor a peer told us, bytes. */
export const DEFAULT_SEGMENT_BYTES = 1_000_000;
/** Shortest wait worth starting; below this the segment goes to HTTP at once. */
export const MIN_WAIT_MS = 50;
/** Fixed cost of asking a peer (request round trip), ms. */
export const PEER_REQUEST_OVERHEAD_MS = 100;

/** 32-bit FNV-1a of a string's UTF-16 code units: cheap, stable across peers. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Rank key of `peerId` for `segmentId`: every peer computes the same order. */
export function fetchRank(peerId: string, segmentId: string): number {
  return fnv1a(`${peerId}\n${segmentId}`);
}

/**
 * How many of `n` viewers fetch a new live segment from HTTP at once: a `share` of them,
 * rounded, at least one. Robustness against a slow or departing fetcher comes from the backup fetcher
 * ({@link fetchRole}), which fetches only when no `have` arrived in time — not from a
 * second copy of every segment, which would cap offload at 1 − 2/n.
 */
export function fetcherCount(n: number, share: number): number {
  if (n <= 0) return 0;
  return Math.min(n, Math.max(1, Math.round(share * n)));
}

/** How many viewers of `pool ∪ {self}` rank before this one for `segmentId`, and the group size. */
function fetchPosition(
  selfId: string,
  pool: readonly string[],
  segmentId: string,
): { better: number; size: number } {
  const mine = fetchRank(selfId, segmentId);
  let better = 0;
  let size = 1;
  for (const p of pool) {
    if (p === selfId) continue;
    size++;
    const r = fetchRank(p, segmentId);
    if (r < mine || (r === mine && p < selfId)) better++;
  }
  return { better, size };
}

/** This viewer's part in fetching a new live segment over HTTP. */
export type FetchRole = "fetcher" | "backup" | "other";

/**
 * This viewer's role for a new live segment, from one ranking. `pool` is the ids of connected
 * peers that serve (not download-only); `selfServes` says whether this viewer does. Viewers
 * rank `pool ∪ {self}` by {@link fetchRank}; the first {@link fetcherCount} are fetchers.
 * The next one, in groups of four or more, is the backup: it waits for a `have` like everyone
 * else, but only until {@link BACKUP_FETCH_DELAY_MS} past one target duration (the fetcher may
 * see the new segment up to one playlist refresh later), then fetches over HTTP, so a slow or
 * departed fetcher does not leave the whole group waiting until its deadline. A download-only
 * viewer fetches only when nobody in its neighbourhood could, and is never the backup.
 */
export function fetchRole(
  selfId: string,
  selfServes: boolean,
  pool: readonly string[],
  segmentId: string,
  share: number,
): FetchRole {
  if (!selfServes) return pool.length === 0 ? "fetcher" : "other";
  const { better, size } = fetchPosition(selfId, pool, segmentId);
  const fetchers = fetcherCount(size, share);
  if (better < fetchers) return "fetcher";
  return size >= 4 && better === fetchers ? "backup" : "other";
}

/** The backup fetcher's wait beyond one target duration, ms. */
export const BACKUP_FETCH_DELAY_MS = 500;

/** Expected transfer time of `bytes` at `bps` plus the request overhead, ms. */
export function estimateTransferMs(bytes: number, bps: number): number {
  const rate = bps > 0 ? bps : DEFAULT_PEER_BPS;
  return PEER_REQUEST_OVERHEAD_MS + (bytes / rate) * 1000;
}

/** A connected peer that announced the segment. */
export interface Candidate {
  peerId: string;
  /** Measured throughput, bytes/second (0 = unknown). */
  throughputBps: number;
  /** Downloads from this peer in progress. */
  activeDownloads: number;
  /** Cost multiplier from the peer's score (stalls, trickles); 1 or absent = none. */
  penalty?: number;
  /** The link goes through a TURN relay (costs the operator bandwidth): direct peers go first. */
  relayed?: boolean;
}

/** Everything {@link planDownload} looks at. */
export interface PlanInput {
  now: number;
  /** The Engine needs an answer by then (HTTP still meets the deadline afterwards). */
  giveUpAt: number;
  /** Segment size if known. */
  size: number | undefined;
  /** Live stream and the segment is one of the newest in the playlist. */
  nearLiveEdge: boolean;
  /** This viewer is a designated HTTP fetcher for the segment ({@link fetchRole}). */
  selfIsFetcher: boolean;
  /** For the backup fetcher ({@link fetchRole}): when it stops waiting and fetches. */
  backupAt?: number | undefined;
  /** Connected peers that announced the segment (already tried ones removed). */
  candidates: readonly Candidate[];
  /** Connected peers that serve uploads. */
  servingPeers: number;
  /**
   * This viewer just joined a swarm that may have other viewers (the tracker reported some, or
   * has not answered yet), and no connection is open yet or one is too new to have announced
   * what it has: until then a segment nobody announced waits (if there is time to spare) for
   * the first peers and their announcements.
   */
  joiningUntil?: number | undefined;
}

/** What to do for a segment right now. */
export type Plan =
  | { kind: "peer"; peerId: string; estimatedMs: number }
  | { kind: "wait"; until: number }
  | { kind: "http"; reason: "no-peers" | "fetcher" | "backup" | "not-announced" | "no-time" };

/** Estimated time to get the segment from `c`, accounting for its current load. */
export function candidateCost(c: Candidate, size: number): number {
  return estimateTransferMs(size * (c.activeDownloads + 1), c.throughputBps) * (c.penalty ?? 1);
}

/**
 * Decides per segment: ask the best peer that has it; else, near the live edge when another
 * viewer is designated to fetch it, wait for a `have` as long as a peer transfer could still
 * finish by `giveUpAt`; else HTTP.
 */
export function planDownload(input: PlanInput): Plan {
  const size = input.size ?? DEFAULT_SEGMENT_BYTES;
  const left = input.giveUpAt - input.now;
  if (input.candidates.length > 0) {
    // A direct peer that can make it wins over any relayed one (TURN bandwidth costs).
    for (const pool of [input.candidates.filter((c) => c.relayed !== true), input.candidates]) {
      let best: Candidate | undefined;
      let bestCost = Number.POSITIVE_INFINITY;
      for (const c of pool) {
        const cost = candidateCost(c, size);
        if (
          cost < bestCost ||
          (cost === bestCost && best !== undefined && c.peerId < best.peerId)
        ) {
          best = c;
          bestCost = cost;
        }
      }
      if (best && bestCost <= left)
        return { kind: "peer", peerId: best.peerId, estimatedMs: bestCost };
    }
    return { kind: "http", reason: "no-time" };
  }
  if (input.joiningUntil !== undefined) {
    const until = Math.min(
      input.joiningUntil,
      input.giveUpAt - estimateTransferMs(size, DEFAULT_PEER_BPS),
    );
    if (until - input.now >= MIN_WAIT_MS) return { kind: "wait", until };
  }
  if (input.servingPeers === 0) return { kind: "http", reason: "no-peers" };
  if (!input.nearLiveEdge) return { kind: "http", reason: "not-announced" };
  if (input.selfIsFetcher) return { kind: "http", reason: "fetcher" };
  if (input.backupAt !== undefined && input.now >= input.backupAt)
    return { kind: "http", reason: "backup" };
  const until = Math.min(
    input.giveUpAt - estimateTransferMs(size, DEFAULT_PEER_BPS),
    input.backupAt ?? Number.POSITIVE_INFINITY,
  );
  if (until - input.now < MIN_WAIT_MS) return { kind: "http", reason: "no-time" };
  return { kind: "wait", until };
}

/** Progress of a running peer transfer. */
export interface TransferProgress {
  now: number;
  giveUpAt: number;
  /** When the transfer's first byte (RESPONSE) arrived. */
  startedAt: number;
  received: number;
  total: number;
}

/** Least time observed before a transfer rate is trusted, ms. */
export const MIN_RATE_SAMPLE_MS = 200;

/**
 * True when, at the rate observed so far, the transfer will not finish by `giveUpAt`: the
 * download is abandoned so HTTP can still meet the deadline.
 */
export function isFallingBehind(p: TransferProgress): boolean {
  if (p.received >= p.total) return false;
  if (p.now >= p.giveUpAt) return true;
  const elapsed = p.now - p.startedAt;
  if (elapsed < MIN_RATE_SAMPLE_MS || p.received === 0) return false;
  const rate = p.received / elapsed;
  return p.now + (p.total - p.received) / rate > p.giveUpAt;
}

/** A peer's throughput average (`prev` 0 = no sample yet), on the shared {@link ewmaNext}. */
export function ewma(prev: number, sample: number, alpha: number): number {
  return ewmaNext(prev === 0 ? undefined : prev, sample, alpha);
}

/**
 * Resolves `p2p.downloadOnly`: `"auto"` means download-only when `navigator.connection`
 * reports a data-saver or a metered (cellular) connection.
 */
export function resolveDownloadOnly(setting: boolean | "auto", nav: unknown): boolean {
  if (typeof setting === "boolean") return setting;
  if (typeof nav !== "object" || nav === null) return false;
  const conn: unknown = Reflect.get(nav, "connection");
  if (typeof conn !== "object" || conn === null) return false;
  return (
    Reflect.get(conn, "saveData") === true ||
    Reflect.get(conn, "metered") === true ||
    Reflect.get(conn, "type") === "cellular"
  );
}
