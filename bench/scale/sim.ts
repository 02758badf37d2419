/**
 * A simulated live audience for the scale benchmark: N viewers, each running the engine's real
 * P2P layer (`P2PSegmentSource`: tracker client, swarm, peer protocol, scheduler) over the
 * in-memory transport and a random-peer tracker (tracker.ts), all on one virtual clock. Each viewer plays the part of the
 * Engine + hls.js: it refreshes the live playlist every target duration, loads segments in
 * order, asks the P2P layer first with the Engine's deadline budget and falls back to HTTP,
 * stores and announces what it got, and plays (stalling when a segment is late).
 */
import type { Clock } from "../../packages/core/src/clock.js";
import { resolveConfig } from "../../packages/core/src/config.js";
import {
  createPeerSegmentSource,
  type P2PSegmentSource,
  type PlaylistInfo,
  type SegmentKey,
} from "../../packages/core/src/p2p/index.js";
import {
  MemoryNetwork,
  quietPeerHost,
  staticPeerStore,
} from "../../packages/core/src/testing/index.js";
import type { WebSocketConstructor } from "../../packages/core/src/p2p/tracker-client.js";
import { SimTracker } from "./tracker.js";

// ---------------------------------------------------------------------------------------------
// Virtual time

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** A min-heap of timers driving a virtual {@link Clock}. */
export class VirtualClock implements Clock {
  private t = 0;
  private seq = 0;
  private readonly heap: Timer[] = [];
  /** Timer callbacks run so far. */
  events = 0;

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const timer: Timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.push(timer);
    return timer;
  }

  clearTimeout(handle: unknown): void {
    if (typeof handle === "object" && handle !== null && "cancelled" in handle) {
      Reflect.set(handle, "cancelled", true);
    }
  }

  /** Runs timers in time order until `until` (virtual ms), letting promises settle in between. */
  async runUntil(until: number): Promise<void> {
    for (;;) {
      const top = this.heap[0];
      if (!top || top.at > until) break;
      this.t = top.at;
      // Everything due at this instant, then one macrotask turn so async code reacts.
      while (this.heap[0] && this.heap[0].at === this.t) {
        const timer = this.pop();
        if (timer.cancelled) continue;
        this.events++;
        timer.fn();
      }
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    this.t = Math.max(this.t, until);
  }

  private push(x: Timer): void {
    const h = this.heap;
    h.push(x);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(h[p]!, h[i]!)) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }

  private pop(): Timer {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l]!, h[m]!)) m = l;
        if (r < h.length && less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }
}

const less = (a: Timer, b: Timer): boolean => a.at < b.at || (a.at === b.at && a.seq < b.seq);

/** Deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------------------------
// The simulated audience

/** Parameters of one simulation. */
export interface SimOptions {
  viewers: number;
  /** Simulated seconds of live stream after the first viewer joins. */
  seconds: number;
  /** Viewers join uniformly over this many seconds. */
  joinSpreadS: number;
  /** Segment duration (= target duration), s. */
  segmentS: number;
  /** Segments in the live playlist. */
  liveWindow: number;
  /** hls.js liveSyncDurationCount: playback starts this many segments behind the edge. */
  liveSyncCount: number;
  /** Bytes per segment. */
  segmentBytes: number;
  /** CDN → viewer: round trip + per-viewer download rate. */
  httpRttMs: number;
  httpBytesPerSec: number;
  /** Peer link: one-way latency and rate per direction of each connection. */
  peerLatencyMs: number;
  peerLinkBytesPerSec: number;
  /** Each viewer's total upload rate (the engine's `p2p.uploadBytesPerSec`). */
  uploadBytesPerSec: number;
  /** Tracker one-way latency, ms. */
  trackerLatencyMs: number;
  seed: number;
  /** Called every 10 virtual seconds with the seconds simulated so far (progress, probes). */
  progress?: (virtualS: number, events: number) => void;
  /** Adds other participants (e.g. an attacker) to the simulated swarm before it runs. */
  extra?: (env: SimEnv) => void;
  /**
   * Replaces the random-peer tracker (e.g. one that sees client addresses); `WebSocketAt` gives
   * a participant's tracker sockets its address.
   */
  tracker?: (clock: Clock, latencyMs: number, random: () => number) => SimTrackerLike;
  /** Viewer i's address, as its peers and the tracker see it (default: a private one). */
  viewerAddress?: (i: number) => string;
}

/** What the simulation needs of a tracker. */
export interface SimTrackerLike {
  /** Tracker sockets of a participant at `address` (undefined: unknown). */
  WebSocketAt(address: string | undefined): WebSocketConstructor;
}

/** What one simulation measured. Segment-level figures cover the steady state only. */
export interface SimResult {
  viewers: number;
  /** Peer-served segments whose bytes did not match (must be 0). */
  corruptSegments: number;
  /** Segments counted (published after every viewer joined and settled). */
  segmentsCounted: number;
  p2pBytes: number;
  cdnBytes: number;
  /** p2p ÷ (p2p + cdn). */
  offload: number;
  /** 1 − 1/N. */
  limit: number;
  /** CDN copies of one segment (HTTP fetches per segment): mean / max over segments. */
  cdnCopiesPerSegmentMean: number;
  cdnCopiesPerSegmentMax: number;
  /** CDN egress per segment, bytes (mean). */
  cdnBytesPerSegment: number;
  /** Same, as a share of N × segment (1 = no offload). */
  cdnEgressShare: number;
  stalls: number;
  stallMsTotal: number;
  viewersStalled: number;
  startupMsMedian: number;
  latencySMedian: number;
  /** Median of the time the P2P layer deliberately waited for a peer (P2P-served segments). */
  p2pWaitMsMedian: number;
  peersMedian: number;
  /** Bytes each viewer uploaded to peers (complete uploads). */
  uploadBytesPerViewer: number[];
  /** Virtual events processed, wall-clock seconds taken. */
  events: number;
  wallS: number;
}

const swarmId = "live/v0/index.m3u8";
const segId = (sn: number): string => `live/v0/seg/${sn}.m4s`;
// The Engine's deadline budget for peers (packages/core/src/engine.ts).
const HTTP_SAFETY_FACTOR = 1.5;
const HTTP_SAFETY_MARGIN_MS = 300;

interface ViewerStats {
  startupMs: number;
  stalls: number;
  stallMs: number;
  latencyS: number;
  waits: number[];
  uploadedBytes: number;
}

/** What {@link SimOptions.extra} gets to join the swarm. */
export interface SimEnv {
  clock: VirtualClock;
  net: MemoryNetwork;
  WebSocket: WebSocketConstructor;
  /** Tracker sockets of a participant at `address`. */
  WebSocketAt: (address: string | undefined) => WebSocketConstructor;
  config: ReturnType<typeof resolveConfig>;
  swarmId: string;
  segId: (sn: number) => string;
  /** Newest published segment at virtual time `t`. */
  newestAt: (t: number) => number;
  /** When the first viewer joins and when the run ends (virtual ms). */
  t0: number;
  end: number;
}

/** Runs one simulated audience of `opts.viewers` viewers. */
export async function simulate(opts: SimOptions): Promise<SimResult> {
  const wall0 = performance.now();
  const clock = new VirtualClock();
  const D = opts.segmentS * 1000;
  const net = new MemoryNetwork({
    clock,
    latencyMs: opts.peerLatencyMs,
    bytesPerSec: opts.peerLinkBytesPerSec,
  });
  const trackerRandom = prng(opts.seed ^ 0x5eed);
  const tracker: SimTrackerLike = opts.tracker
    ? opts.tracker(clock, opts.trackerLatencyMs, trackerRandom)
    : new SimTracker(clock, opts.trackerLatencyMs, trackerRandom);
  const config = resolveConfig({
    origins: ["http://origin.invalid/"],
    p2p: {
      enabled: true,
      trackers: ["ws://tracker.invalid/"],
      uploadBytesPerSec: opts.uploadBytesPerSec,
      downloadOnly: false,
    },
  });
  // The stream started long ago: segment k is published at k·D (virtual ms); the first
  // viewer joins at t0, so a full window exists.
  const t0 = (opts.liveWindow + 2) * D;
  const newestAt = (t: number): number => Math.floor(t / D);
  const payloads = new Map<number, Uint8Array>();
  const payload = (sn: number): Uint8Array => {
    let p = payloads.get(sn);
    if (!p) {
      p = new Uint8Array(opts.segmentBytes).fill(sn & 0xff);
      payloads.set(sn, p);
      payloads.delete(sn - opts.liveWindow - 8);
    }
    return p;
  };
  const httpMs = opts.httpRttMs + (opts.segmentBytes / opts.httpBytesPerSec) * 1000;
  const cdnCopies = new Map<number, number>();
  const p2pCopies = new Map<number, number>();
  const stats: ViewerStats[] = [];
  let corrupt = 0;
  const sources: P2PSegmentSource[] = [];
  const lastJoin = t0 + opts.joinSpreadS * 1000;
  const end = t0 + opts.seconds * 1000;
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => clock.setTimeout(resolve, ms));

  for (let i = 0; i < opts.viewers; i++) {
    const joinAt = t0 + (opts.viewers === 1 ? 0 : (i / opts.viewers) * opts.joinSpreadS * 1000);
    const store = new Map<number, Uint8Array>();
    const vs: ViewerStats = {
      startupMs: Number.NaN,
      stalls: 0,
      stallMs: 0,
      latencyS: Number.NaN,
      waits: [],
      uploadedBytes: 0,
    };
    stats.push(vs);
    // Live only: nothing is prefetched, so the pending tier stays empty.
    const peerStore = staticPeerStore((key) => store.get(snOf(key.segmentId)));
    const host = quietPeerHost({
      onUploaded: (_peer, n) => {
        vs.uploadedBytes += n;
      },
    });
    const address = opts.viewerAddress?.(i);
    const source = createPeerSegmentSource({
      config,
      clock,
      random: prng(opts.seed * 7919 + i + 1),
      host,
      store: peerStore,
      transport: net.transport(address === undefined ? {} : { address }),
      WebSocket: tracker.WebSocketAt(address),
      navigator: {},
    });
    sources.push(source);

    let knownNewest = -1;
    let nextSn: number | undefined;
    let loading = false;
    let firstSn = 0;
    // Wall time at which playback reaches the start of `firstSn` (shifted by every stall).
    let playbackOrigin: number | undefined;

    const refresh = (): void => {
      if (clock.now() >= end) return;
      knownNewest = newestAt(clock.now());
      const info: PlaylistInfo = {
        swarmId,
        live: true,
        targetDuration: opts.segmentS,
        segments: Array.from({ length: opts.liveWindow }, (_, j) => {
          const sn = knownNewest - opts.liveWindow + 1 + j;
          return { segmentId: segId(sn), sn, duration: opts.segmentS };
        }),
      };
      source.updatePlaylist(info);
      if (nextSn === undefined) {
        nextSn = knownNewest - opts.liveSyncCount + 1;
        firstSn = nextSn;
      }
      pump();
      clock.setTimeout(refresh, D);
    };

    const pump = (): void => {
      if (loading || nextSn === undefined || nextSn > knownNewest || clock.now() >= end) return;
      loading = true;
      void load(nextSn).then(() => {
        loading = false;
        pump();
      });
    };

    const load = async (sn: number): Promise<void> => {
      const key: SegmentKey = { swarmId, segmentId: segId(sn) };
      const now = clock.now();
      const playAt = playbackOrigin === undefined ? undefined : playbackOrigin + (sn - firstSn) * D;
      let data: Uint8Array | undefined;
      if (playAt !== undefined) {
        const giveUpAt = playAt - (httpMs * HTTP_SAFETY_FACTOR + HTTP_SAFETY_MARGIN_MS);
        if (giveUpAt > now) {
          const got = await source
            .download(key, {
              signal: new AbortController().signal,
              giveUpAt,
              expectedSize: opts.segmentBytes,
            })
            .catch(() => null);
          // A partial (abandoned peer transfer) is completed over HTTP: counted as HTTP here.
          if (got && !("partial" in got)) {
            // The Engine would verify the SHA-256 here; the simulator checks length and fill
            // byte, then keeps the one shared payload instead of this copy (memory: at 10k
            // viewers, per-viewer copies of the window would take gigabytes).
            if (got.data.byteLength !== opts.segmentBytes || got.data[0] !== (sn & 0xff)) {
              corrupt++;
            }
            data = payload(sn);
            vs.waits.push(got.waitMs);
            p2pCopies.set(sn, (p2pCopies.get(sn) ?? 0) + 1);
          }
        }
      }
      if (!data) {
        await sleep(httpMs);
        data = payload(sn);
        cdnCopies.set(sn, (cdnCopies.get(sn) ?? 0) + 1);
      }
      const doneAt = clock.now();
      store.set(sn, data);
      source.announce(key, data.byteLength);
      const old = sn - opts.liveWindow - 2;
      if (store.delete(old)) source.forget({ swarmId, segmentId: segId(old) });
      if (playbackOrigin === undefined) {
        playbackOrigin = doneAt;
        vs.startupMs = doneAt - joinAt;
      } else {
        const due = playbackOrigin + (sn - firstSn) * D;
        if (doneAt > due) {
          vs.stalls++;
          vs.stallMs += doneAt - due;
          playbackOrigin += doneAt - due;
        }
      }
      nextSn = sn + 1;
    };

    clock.setTimeout(refresh, joinAt - clock.now());
    // Latency behind the live edge at the end: edge media time − playhead media time.
    clock.setTimeout(
      () => {
        if (playbackOrigin !== undefined) {
          const playhead = (firstSn - 1) * D + (end - playbackOrigin);
          vs.latencyS = (end - playhead) / 1000;
        }
      },
      end - 1 - clock.now(),
    );
  }

  // MemoryPeerConnection prunes its sent-message log only when `bufferedAmount` is read, which
  // the P2P layer does for chunk frames only: read it now and then, or the log of every
  // control message grows for the whole run (memory and GC time, not results).
  const prune = (): void => {
    for (const c of net.connections()) void c.bufferedAmount;
    if (clock.now() + 5_000 < end) clock.setTimeout(prune, 5_000);
  };
  clock.setTimeout(prune, 5_000);
  if (opts.progress) {
    const report = opts.progress;
    const tick = (): void => {
      report((clock.now() - t0) / 1000, clock.events);
      if (clock.now() + 10_000 < end) clock.setTimeout(tick, 10_000);
    };
    clock.setTimeout(tick, t0 + 10_000 - clock.now());
  }
  opts.extra?.({
    clock,
    net,
    WebSocket: tracker.WebSocketAt(undefined),
    WebSocketAt: (address) => tracker.WebSocketAt(address),
    config,
    swarmId,
    segId,
    newestAt,
    t0,
    end,
  });
  await clock.runUntil(end);
  const peers = sources.map((s) => s.peerCount());
  for (const s of sources) s.destroy();
  await clock.runUntil(end + 1000);

  // Steady state: segments published after the last join plus two segment durations.
  const firstCounted = newestAt(lastJoin) + 2;
  const lastCounted = newestAt(end) - opts.liveSyncCount;
  let p2pBytes = 0;
  let cdnBytes = 0;
  const copies: number[] = [];
  for (let sn = firstCounted; sn <= lastCounted; sn++) {
    const c = cdnCopies.get(sn) ?? 0;
    const p = p2pCopies.get(sn) ?? 0;
    if (c + p === 0) continue;
    copies.push(c);
    cdnBytes += c * opts.segmentBytes;
    p2pBytes += p * opts.segmentBytes;
  }
  const med = (v: number[]): number => {
    const s = v.filter(Number.isFinite).sort((a, b) => a - b);
    if (s.length === 0) return Number.NaN;
    const m = Math.floor(s.length / 2);
    return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  };
  const meanCopies = copies.length ? copies.reduce((a, b) => a + b, 0) / copies.length : Number.NaN;
  return {
    viewers: opts.viewers,
    corruptSegments: corrupt,
    segmentsCounted: copies.length,
    p2pBytes,
    cdnBytes,
    offload: p2pBytes + cdnBytes > 0 ? p2pBytes / (p2pBytes + cdnBytes) : Number.NaN,
    limit: 1 - 1 / opts.viewers,
    cdnCopiesPerSegmentMean: meanCopies,
    cdnCopiesPerSegmentMax: copies.length ? Math.max(...copies) : Number.NaN,
    cdnBytesPerSegment: meanCopies * opts.segmentBytes,
    cdnEgressShare: meanCopies / opts.viewers,
    stalls: stats.reduce((a, s) => a + s.stalls, 0),
    stallMsTotal: stats.reduce((a, s) => a + s.stallMs, 0),
    viewersStalled: stats.filter((s) => s.stalls > 0).length,
    startupMsMedian: med(stats.map((s) => s.startupMs)),
    latencySMedian: med(stats.map((s) => s.latencyS)),
    p2pWaitMsMedian: med(stats.flatMap((s) => s.waits)),
    peersMedian: med(peers),
    uploadBytesPerViewer: stats.map((s) => s.uploadedBytes),
    events: clock.events,
    wallS: (performance.now() - wall0) / 1000,
  };
}

function snOf(segmentId: string): number {
  const m = /\/(\d+)\.m4s$/.exec(segmentId);
  return m ? Number(m[1]) : -1;
}
