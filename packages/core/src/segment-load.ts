/**
 * A segment's whole path, in one file: {@link SegmentPath} takes the engine's requests (joining
 * concurrent loads of the same bytes), and one {@link SegmentLoad} per load walks the states
 * store → peers → HTTP, verifying every byte against the trusted SHA-256 before the player sees
 * it. What each failure does (blame, retry, ban) is {@link FAILURE_POLICY}'s call.
 */
import { raceAbort, throwIfAborted } from "./abort.js";
import type { Clock } from "./clock.js";
import type { Config } from "./config.js";
import { HivecastError } from "./errors.js";
import type { HivecastEvents } from "./events.js";
import { actionFor, type FailureKind } from "./failure-policy.js";
import { isSha256Hex } from "./hash-tag.js";
import type { IntegrityIndex } from "./integrity-index.js";
import type { OriginPool, PoolResult } from "./origin-pool.js";
import type { PeerPartial, PeerSegmentSource, SegmentKey } from "./p2p/contract.js";
import { type SegmentStore, storeId } from "./segment-store.js";
import type { Counters } from "./stats.js";
import type { ByteRange, LoadOptions, SegmentRequest, SegmentResult } from "./types.js";

/** Segments remembered as served bad by every source (see `http.badSegmentMemoryMs`). */
const BAD_SEGMENT_MEMORY = 256;
/** Peers' budget when the player gave no deadline: short, so HTTP is never much delayed. */
const NO_DEADLINE_PEER_BUDGET_MS = 500;
/** HTTP estimate before any origin was measured. */
const UNKNOWN_HTTP_ESTIMATE_MS = 2000;
/** The HTTP fallback after peers gets its expected time × this, plus the margin below. */
const HTTP_SAFETY_FACTOR = 1.5;
const HTTP_SAFETY_MARGIN_MS = 300;

/** What the segment path takes from the engine, wired once. */
export interface SegmentPathDeps {
  /** The configuration in effect (it may change between loads). */
  config: () => Readonly<Config>;
  clock: Clock;
  sha256: (data: Uint8Array) => Promise<string>;
  pool: OriginPool;
  index: IntegrityIndex;
  store: SegmentStore;
  /** The P2P layer, when P2P is on. */
  peers: () => PeerSegmentSource | undefined;
  counters: Counters;
  keyOf: (req: SegmentRequest) => SegmentKey;
  /** The live flag of a media playlist as last parsed (undefined: not seen yet). */
  isLive: (playlistUrl: string) => boolean | undefined;
  /** The playlist has segments but no trusted hash under policy `required` (warned once). */
  onNoHash: (playlistUrl: string) => void;
  /** Emits an engine event (nothing after destroy). */
  emit: <K extends keyof HivecastEvents>(event: K, ...args: Parameters<HivecastEvents[K]>) => void;
  /** Aborted by the engine's destroy(). */
  lifetime: AbortSignal;
}

/** Bytes a load obtained, before they are handed to each caller. */
interface Served {
  data: Uint8Array;
  source: "http" | "p2p" | "cache";
  origin?: string;
  peerId?: string;
  /** Bytes at the start that came from `peerId` (a peer transfer completed over HTTP). */
  p2pBytes?: number;
  verified: boolean;
  firstByte: number;
  waitMs: number;
  /** Bytes each origin contributed, when they came over HTTP. */
  origins?: Array<{ origin: string; bytes: number }>;
}

/** A load several callers wait for. */
interface Shared {
  served: Promise<Served>;
  controller: AbortController;
  callers: number;
  /** One caller was credited with the real source; the others count as cache hits. */
  claimed: boolean;
  progress: Set<NonNullable<LoadOptions["onProgress"]>>;
}

/** The states of a {@link SegmentLoad}, in order. */
export type SegmentLoadState = "store" | "hash" | "peers" | "http" | "done" | "failed";

/**
 * Owns every segment load: starts one {@link SegmentLoad} per segment (a second request for the
 * same bytes while one runs joins it), and remembers segments no source served with their hash.
 */
export class SegmentPath {
  private readonly inflight = new Map<string, Shared>();
  /**
   * Segments no origin served with their trusted hash, by segment id: the hash and when that
   * was found. A player's retry within `http.badSegmentMemoryMs` fails at once instead of
   * downloading the same bad bytes again.
   */
  private readonly badSegments = new Map<string, { hash: string; at: number }>();

  constructor(readonly deps: SegmentPathDeps) {}

  /**
   * Serves `req` to one caller: from the store, from a load of the same bytes already running,
   * or from a new {@link SegmentLoad}. `signal` is the caller's own (its abort leaves the shared
   * load running for the others). Resolves with the caller's own copy of verified bytes.
   */
  async load(req: SegmentRequest, signal: AbortSignal, opts: LoadOptions): Promise<SegmentResult> {
    const start = this.deps.clock.now();
    const key = this.deps.keyOf(req);
    const id = storeId(key);
    let shared = this.inflight.get(id);
    if (!shared) {
      const cached = this.cached(req, key);
      if (cached) return this.deliver(req, start, cached);
      shared = this.start(req, key, id);
    }
    const joined = shared;
    joined.callers++;
    const onProgress = opts.onProgress;
    if (onProgress) joined.progress.add(onProgress);
    const leave = (): void => {
      if (--joined.callers === 0 && this.inflight.get(id) === joined) {
        this.inflight.delete(id);
        joined.controller.abort(signal.reason);
      }
    };
    signal.addEventListener("abort", leave, { once: true });
    try {
      const served = await raceAbort(joined.served, signal);
      if (joined.claimed) {
        const { data, verified } = served;
        return this.deliver(req, start, {
          data,
          verified,
          source: "cache",
          firstByte: start,
          waitMs: 0,
        });
      }
      joined.claimed = true;
      return this.deliver(req, start, served);
    } finally {
      signal.removeEventListener("abort", leave);
      if (onProgress) joined.progress.delete(onProgress);
      if (!signal.aborted) joined.callers--;
    }
  }

  /** Whether `key` is remembered as served bad by every origin (whatever its hash). */
  remembersBad(key: SegmentKey): boolean {
    return this.badSegments.has(key.segmentId);
  }

  /** Fails at once for a segment that every origin served bad within the memory window. */
  refuseKnownBad(req: SegmentRequest, key: SegmentKey, hash: string): void {
    const known = this.badSegments.get(key.segmentId);
    if (!known) return;
    const age = this.deps.clock.now() - known.at;
    const memoryMs = this.deps.config().http.badSegmentMemoryMs;
    if (known.hash !== hash || age >= memoryMs) {
      this.badSegments.delete(key.segmentId);
      return;
    }
    throw new HivecastError(
      "INTEGRITY_MISMATCH",
      `No source served ${req.url} with its trusted SHA-256 (every origin tried ${Math.round(age / 1000)} s ago; not downloaded again before ${Math.round(memoryMs / 1000)} s)`,
      { fatal: true, details: { url: req.url, expected: hash, knownBad: true } },
    );
  }

  /** Every source served `key` bad: remember it for `http.badSegmentMemoryMs`. */
  rememberBad(key: SegmentKey, hash: string): void {
    if (this.deps.config().http.badSegmentMemoryMs <= 0) return;
    this.badSegments.delete(key.segmentId);
    this.badSegments.set(key.segmentId, { hash, at: this.deps.clock.now() });
    while (this.badSegments.size > BAD_SEGMENT_MEMORY)
      this.badSegments.delete(this.badSegments.keys().next().value ?? "");
  }

  /** Stores bytes; verified ones (or any, with policy off) are announced to peers. */
  keep(key: SegmentKey, data: Uint8Array, verified: boolean): void {
    this.deps.store.put({ key, data: compact(data), verified });
    if (verified || this.deps.config().integrity === "off")
      this.deps.peers()?.announce(key, data.length);
  }

  /** Proven bad bytes: counted, and the policy's action taken against the source. */
  blame(
    kind: Extract<FailureKind, "origin-bad-bytes" | "peer-bad-bytes">,
    url: string,
    source: { origin: string } | { peerId: string; key: SegmentKey },
    expected: string,
    actual: string,
  ): void {
    const action = actionFor(kind);
    if ("origin" in source) {
      if (action.origin === "penalise") this.deps.pool.penalise(source.origin);
      this.deps.emit("integrityFailure", {
        url,
        source: "http",
        origin: source.origin,
        expected,
        actual,
      });
      return;
    }
    this.deps.counters.integrityFailure();
    if (action.peer === "ban")
      this.deps.peers()?.reportBad(source.peerId, source.key, "hash mismatch");
    this.deps.emit("integrityFailure", {
      url,
      source: "p2p",
      peerId: source.peerId,
      expected,
      actual,
    });
  }

  /** Progress of a shared load, to every caller still waiting. */
  private fanOut(
    callbacks: ReadonlySet<NonNullable<LoadOptions["onProgress"]>>,
    signal: AbortSignal,
  ): LoadOptions["onProgress"] {
    return (loaded, total) => {
      if (signal.aborted || this.deps.lifetime.aborted) return;
      for (const cb of callbacks) {
        try {
          cb(loaded, total);
        } catch {
          // A throwing callback must not break loading.
        }
      }
    };
  }

  /** A stored copy this request may replay, if any. */
  private cached(req: SegmentRequest, key: SegmentKey): Served | undefined {
    const cached = this.deps.store.get(key);
    if (!cached) return undefined;
    // Unverified bytes kept while no hash existed must not be replayed once one is known.
    const trusted =
      cached.verified ||
      this.deps.config().integrity === "off" ||
      (req.hash === undefined && this.deps.index.get(key.segmentId) === undefined);
    if (!trusted) return undefined;
    return {
      data: cached.data,
      source: "cache",
      verified: cached.verified,
      firstByte: 0,
      waitMs: 0,
    };
  }

  private start(req: SegmentRequest, key: SegmentKey, id: string): Shared {
    const controller = new AbortController();
    const onDestroy = (): void => controller.abort(this.deps.lifetime.reason);
    this.deps.lifetime.addEventListener("abort", onDestroy, { once: true });
    const progress = new Set<NonNullable<LoadOptions["onProgress"]>>();
    const load = new SegmentLoad(
      this,
      req,
      key,
      controller.signal,
      this.fanOut(progress, controller.signal),
    );
    const shared: Shared = {
      served: load.run().finally(() => {
        this.deps.lifetime.removeEventListener("abort", onDestroy);
        if (this.inflight.get(id) === shared) this.inflight.delete(id);
      }),
      controller,
      callers: 0,
      claimed: false,
      progress,
    };
    shared.served.catch(() => undefined); // every caller may have left
    this.inflight.set(id, shared);
    return shared;
  }

  /**
   * Counts, emits `segmentLoaded`, and hands the caller its own copy (players may transfer it).
   */
  private deliver(req: SegmentRequest, start: number, s: Served): SegmentResult {
    const now = this.deps.clock.now();
    const fromPeer = s.p2pBytes ?? 0;
    this.deps.counters.delivered(s.source, s.data.length, fromPeer);
    const timing = {
      start,
      firstByte: s.source === "cache" ? start : Math.max(start, s.firstByte),
      end: now,
      waitMs: s.source === "cache" ? 0 : s.waitMs,
    };
    this.deps.emit("segmentLoaded", {
      source: s.source,
      origin: s.origin,
      peerId: s.peerId,
      bytes: s.data.length,
      ms: now - start,
      ...segmentOf(req),
      httpBytes: s.source === "http" ? s.data.length - fromPeer : 0,
      p2pBytes: s.source === "p2p" ? s.data.length : fromPeer,
      origins:
        s.origins ??
        (s.origin === undefined
          ? undefined
          : [{ origin: s.origin, bytes: s.data.length - fromPeer }]),
      verified: s.verified,
    });
    const out: SegmentResult = {
      data: s.data.slice(),
      source: s.source,
      verified: s.verified,
      timing,
    };
    if (s.origin !== undefined) out.origin = s.origin;
    if (s.peerId !== undefined) out.peerId = s.peerId;
    if (s.p2pBytes !== undefined) out.p2pBytes = s.p2pBytes;
    return out;
  }
}

/**
 * One segment load: a small state machine that owns the segment's path. `hash` finds the
 * trusted SHA-256; `peers` asks the P2P layer (only with a hash, or policy `off`), verifying what
 * a peer sends and stitching an abandoned peer transfer to an HTTP range; `http` fetches from the
 * origins, verifying and blaming; `done` / `failed` end it.
 */
export class SegmentLoad {
  /** Where the load is now. */
  state: SegmentLoadState = "store";
  private readonly deps: SegmentPathDeps;
  private readonly start: number;

  constructor(
    private readonly path: SegmentPath,
    private readonly req: SegmentRequest,
    private readonly key: SegmentKey,
    private readonly signal: AbortSignal,
    private readonly onProgress: LoadOptions["onProgress"],
  ) {
    this.deps = path.deps;
    this.start = this.deps.clock.now();
  }

  /** Runs the load to its end: the served bytes, or a fatal HivecastError. */
  async run(): Promise<Served> {
    try {
      this.state = "hash";
      const pending = this.hashFor();
      if (!this.peersMayServe()) {
        // Start-up with no peer to ask: the origins need not wait for the hash (a manifest
        // still loading); the bytes are checked once both are here.
        this.state = "http";
        return this.finish(await this.fromHttp(pending, 0, this.onProgress));
      }
      const hash = await pending;
      let waitMs = 0;
      const policyOff = this.deps.config().integrity === "off";
      if (hash !== undefined || policyOff) {
        this.state = "peers";
        const fromPeers = await this.fromPeers(hash);
        if (typeof fromPeers !== "number") return this.finish(fromPeers);
        waitMs = fromPeers;
      }
      this.state = "http";
      return this.finish(await this.fromHttp(Promise.resolve(hash), waitMs, this.onProgress));
    } catch (e) {
      this.state = "failed";
      throw e;
    }
  }

  /**
   * Whether the P2P layer may serve this load: it exists, and either the player is playing (a
   * deadline: peers may be waited for) or, at start-up, a peer is connected or prefetched bytes
   * are here. Before the first frame nothing waits for peers, so without one HTTP goes at once.
   */
  private peersMayServe(): boolean {
    const peers = this.deps.peers();
    if (!peers) return false;
    if (this.req.deadlineMs !== undefined) return true;
    return peers.peerCount() > 0 || this.deps.store.hasPending(this.key);
  }

  private finish(s: Served): Served {
    this.state = "done";
    return s;
  }

  /** The trusted hash (adapter's tag, playlist tag or manifest), or undefined. */
  private async hashFor(): Promise<string | undefined> {
    const { req, key, signal, deps } = this;
    if (deps.config().integrity === "off") return undefined;
    if (req.hash !== undefined && isSha256Hex(req.hash))
      deps.index.remember(key.segmentId, req.hash.toLowerCase());
    const live = req.live ?? deps.isLive(req.playlistUrl) ?? false;
    const hash = await deps.index.resolve(key.segmentId, req.playlistUrl, live, signal);
    throwIfAborted(signal);
    if (hash === undefined && deps.config().integrity === "required")
      deps.onNoHash(req.playlistUrl);
    return hash;
  }

  /** Tries peers; returns the bytes, or the milliseconds spent waiting before falling back. */
  private async fromPeers(hash: string | undefined): Promise<Served | number> {
    const { req, key, signal, deps } = this;
    const peers = deps.peers();
    const asked = deps.clock.now();
    const giveUpAt = this.peerGiveUpAt();
    if (!peers || giveUpAt <= asked) return 0;
    let got: Awaited<ReturnType<PeerSegmentSource["download"]>>;
    try {
      const expectedSize = req.byteRange
        ? req.byteRange.end - req.byteRange.start
        : deps.pool.sizeOf(req.url);
      // Before playback starts (no deadline) any wait for peers is start-up time: only a peer
      // already holding the segment may serve it.
      const mayWait = req.deadlineMs !== undefined;
      got = await peers.download(key, { signal, giveUpAt, expectedSize, mayWait });
    } catch {
      got = null; // a P2P failure never stops playback: HTTP follows
    }
    throwIfAborted(signal);
    const waited = deps.clock.now() - asked;
    if (!got) return waited;
    if ("partial" in got) return this.completePartial(hash, got, waited);
    if (hash !== undefined) {
      const actual = await deps.sha256(got.data);
      throwIfAborted(signal);
      if (actual !== hash) {
        this.path.blame("peer-bad-bytes", req.url, { peerId: got.peerId, key }, hash, actual);
        return waited;
      }
    }
    deps.counters.downloadedFrom(got.peerId, got.data.length);
    const verified = hash !== undefined;
    this.path.keep(key, got.data, verified);
    return {
      data: got.data,
      source: "p2p",
      peerId: got.peerId,
      verified,
      firstByte: got.firstByteAt,
      waitMs: got.waitMs,
    };
  }

  /**
   * An abandoned peer transfer's first bytes plus the rest over one HTTP range, verified as a
   * whole. If the whole fails its hash, a full HTTP copy decides who lied: a peer whose bytes
   * differ from it is blamed. Without a trusted hash, or when the range fails, full HTTP.
   */
  private async completePartial(
    hash: string | undefined,
    part: PeerPartial,
    waited: number,
  ): Promise<Served | number> {
    const { req, key, signal, deps } = this;
    const have = part.data.length;
    if (hash === undefined || have === 0 || have >= part.size) return waited;
    const base = req.byteRange?.start ?? 0;
    let rest: PoolResult;
    try {
      rest = await deps.pool.fetch({
        url: req.url,
        kind: "segment",
        resource: req.kind,
        range: { start: base + have, end: base + part.size },
        signal,
        split: false,
      });
    } catch {
      throwIfAborted(signal);
      return waited; // full HTTP follows, with its own retries and errors
    }
    throwIfAborted(signal);
    if (rest.data.length !== part.size - have) return waited;
    const data = new Uint8Array(part.size);
    data.set(part.data);
    data.set(rest.data, have);
    const actual = await deps.sha256(data);
    throwIfAborted(signal);
    if (actual !== hash) {
      const full = await this.fromHttp(Promise.resolve(hash), waited, undefined);
      if (!startsWith(full.data, part.data))
        this.path.blame("peer-bad-bytes", req.url, { peerId: part.peerId, key }, hash, actual);
      return full;
    }
    deps.counters.downloadedFrom(part.peerId, have);
    this.path.keep(key, data, true);
    return {
      data,
      source: "http",
      origin: rest.origin,
      peerId: part.peerId,
      p2pBytes: have,
      verified: true,
      firstByte: part.firstByteAt,
      waitMs: part.waitMs,
    };
  }

  /**
   * Origins, verified. Bytes that fail the hash are never delivered; the policy says what each
   * mismatch does: a whole copy from one origin blames that origin and tries another; a split
   * copy (culprit unknown) makes the load refetch whole copies from one origin at a time (each
   * origin once, at least two tries), and a range that differs from a copy that verified is then
   * blamed. When none serves good bytes: fatal INTEGRITY_MISMATCH, and the segment is remembered
   * as bad for `http.badSegmentMemoryMs` so that the player's retries cost nothing.
   */
  private async fromHttp(
    hashOf: Promise<string | undefined>,
    waitMs: number,
    onProgress: LoadOptions["onProgress"],
  ): Promise<Served> {
    const { req, key, signal, deps } = this;
    // The hash may still be loading: fetch meanwhile. A segment remembered as bad waits for it,
    // so that known-bad bytes are never downloaded again.
    let hash: string | undefined;
    let hashKnown = false;
    if (this.path.remembersBad(key)) {
      hash = await hashOf;
      hashKnown = true;
      if (hash !== undefined) this.path.refuseKnownBad(req, key, hash);
    } else {
      hashOf.catch(() => undefined); // awaited after the first download; no unhandled rejection
    }
    const skipped = new Set<string>();
    /** Split downloads that failed verification, their culprits not proven yet. */
    const unresolved: Array<{ res: PoolResult; actual: string }> = [];
    const origins = deps.pool.originCount(req.url);
    const tries = Math.max(2, origins);
    let wholeTries = 0;
    while (wholeTries < tries) {
      const elapsed = deps.clock.now() - this.start;
      const res = await deps.pool.fetch({
        url: req.url,
        kind: "segment",
        resource: req.kind,
        range: req.byteRange,
        signal,
        onProgress,
        // A skipped origin is left out while others remain; with none left, it gets one more try.
        exclude: skipped.size < origins ? skipped : undefined,
        // After a split failed, whole copies from one origin each tell who is bad.
        split: unresolved.length === 0,
        deadlineMs:
          req.deadlineMs === undefined ? undefined : Math.max(0, req.deadlineMs - elapsed),
      });
      throwIfAborted(signal);
      if (!hashKnown) {
        hash = await hashOf;
        hashKnown = true;
        throwIfAborted(signal);
      }
      if (res.origins.length === 1) wholeTries++;
      if (hash !== undefined) {
        const actual = await deps.sha256(res.data);
        throwIfAborted(signal);
        if (actual !== hash) {
          deps.counters.integrityFailure();
          const only = res.origins.length === 1 ? res.origins[0] : undefined;
          const kind: FailureKind = only === undefined ? "split-bad-bytes" : "origin-bad-bytes";
          if (actionFor(kind).load === "refetch-whole") unresolved.push({ res, actual });
          if (only !== undefined) {
            this.path.blame("origin-bad-bytes", req.url, { origin: only }, hash, actual);
            if (actionFor(kind).load === "skip-source") skipped.add(only);
          }
          continue;
        }
        // A verified copy: every range of a failed split that differs from it was bad.
        for (const u of unresolved)
          for (const o of differingOrigins(u.res, res.data))
            this.path.blame("origin-bad-bytes", req.url, { origin: o }, hash, u.actual);
        deps.pool.confirm(res.origins);
      }
      const verified = hash !== undefined;
      this.path.keep(key, res.data, verified);
      return {
        data: res.data,
        source: "http",
        origin: res.origin,
        verified,
        firstByte: res.firstByteAt,
        waitMs,
        origins: contributions(res),
      };
    }
    if (hash !== undefined) this.path.rememberBad(key, hash);
    throw new HivecastError(
      "INTEGRITY_MISMATCH",
      `No source served ${req.url} with its trusted SHA-256 (${tries} tries)`,
      { fatal: true, details: { url: req.url, expected: hash } },
    );
  }

  /** When peers must give up so that HTTP still meets the deadline (with margin). */
  private peerGiveUpAt(): number {
    const { req, deps } = this;
    const now = deps.clock.now();
    if (req.deadlineMs === undefined) return now + NO_DEADLINE_PEER_BUDGET_MS;
    const http = deps.pool.expectedMs(req.url, req.byteRange) ?? UNKNOWN_HTTP_ESTIMATE_MS;
    return now + req.deadlineMs - (http * HTTP_SAFETY_FACTOR + HTTP_SAFETY_MARGIN_MS);
  }
}

/** What segment events say about a request. */
export function segmentOf(req: SegmentRequest): {
  url: string;
  kind: "init" | "media";
  range?: ByteRange;
} {
  const kind = req.kind === "init" ? "init" : "media";
  return req.byteRange
    ? { url: req.url, kind, range: { ...req.byteRange } }
    : { url: req.url, kind };
}

/** A buffer that owns its whole ArrayBuffer, so storing it does not pin a larger one. */
function compact(data: Uint8Array): Uint8Array {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
}

/** Bytes per contributing origin, in order of first contribution. */
function contributions(res: PoolResult): Array<{ origin: string; bytes: number }> {
  const out = new Map<string, number>();
  for (const p of res.parts) out.set(p.origin, (out.get(p.origin) ?? 0) + (p.end - p.start));
  return [...out].map(([origin, bytes]) => ({ origin, bytes }));
}

/** Origins whose ranges of `res` differ from the verified copy `good`. */
function differingOrigins(res: PoolResult, good: Uint8Array): Set<string> {
  const out = new Set<string>();
  for (const p of res.parts) {
    if (out.has(p.origin)) continue;
    if (p.end > good.length) {
      out.add(p.origin);
      continue;
    }
    for (let i = p.start; i < p.end; i++)
      if (res.data[i] !== good[i]) {
        out.add(p.origin);
        break;
      }
  }
  return out;
}

/** Whether `data` begins with `prefix`. */
function startsWith(data: Uint8Array, prefix: Uint8Array): boolean {
  if (data.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (data[i] !== prefix[i]) return false;
  return true;
}
