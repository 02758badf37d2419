/** Shared fixtures of the p2p-*.test.ts files (not a test file itself). */
import { afterEach, beforeEach, vi } from "vitest";
import { FAKE_TIMERS, seededRandom } from "./fake-net.js";
import { resolveConfig, type Config, type P2PConfig } from "../src/config.js";
import type { Clock } from "../src/clock.js";
import type { HivecastWarning, WarningKind } from "../src/events.js";
import type { PeerLinkType } from "../src/types.js";
import type {
  PeerHost,
  PeerStore,
  PendingSegment,
  PlaylistInfo,
  SegmentKey,
} from "../src/p2p/contract.js";
import { SegmentStore } from "../src/segment-store.js";
import { UploadPolicy } from "../src/p2p/upload-policy.js";
import { MemoryNetwork, MemoryTransport } from "../src/testing/memory-transport.js";
import { MemoryTracker } from "../src/testing/memory-tracker.js";
import {
  createPeerSegmentSource,
  type P2PSegmentSource,
  type PeerSegmentSourceDeps,
} from "../src/p2p/peer-segment-source.js";

/** Clock on the (possibly faked) global timers and Date. */
export const testClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** Timers vitest fakes in these tests (microtasks stay real). */
/** The PRNG and fake-timer settings shared with the HTTP tests. */
export const FAKE = FAKE_TIMERS;
export const seeded = seededRandom;

/** A tracker URL that is never dialled for real (memory tracker / fakes only). */
export const TRACKER_URL = "ws://127.0.0.1:9/announce";

/** A resolved config with P2P on and test-friendly defaults. */
export function p2pConfig(
  p2p: Partial<P2PConfig> = {},
  integrity: Config["integrity"] = "required",
): Config {
  return resolveConfig({
    integrity,
    p2p: {
      enabled: true,
      trackers: [TRACKER_URL],
      downloadOnly: false,
      connectTimeoutMs: 2000,
      announceIntervalMs: 5000,
      // Join at once: these tests drive peers directly, not a player's start-up.
      joinDelayMaxMs: 0,
      trackerRetry: {
        maxNumRetry: Number.POSITIVE_INFINITY,
        retryDelayMs: 1000,
        maxRetryDelayMs: 8000,
        backoff: "exponential",
        jitter: 0.5,
      },
      ...p2p,
    },
  });
}

/**
 * A recording {@link PeerHost} that is its own {@link PeerStore}: a plain map of verified bytes
 * (`put`), and a real {@link SegmentStore}'s pending tier for prefetched bytes.
 */
export class FakeHost implements PeerHost, PeerStore {
  readonly store = new Map<string, Uint8Array>();
  /** The pending tier (prefetched peer bytes). */
  readonly pending = new SegmentStore({
    maxBytes: 0,
    maxPendingBytes: 32 * 1024 * 1024,
    shareUnverified: false,
    onEvict: () => undefined,
  });
  /** When set, overrides `getShareable` (a malicious peer serving other bytes). */
  serveOverride: ((key: SegmentKey) => Uint8Array | undefined) | undefined;
  shareableAll = true;
  readonly connected: string[] = [];
  readonly disconnected: Array<[string, string]> = [];
  readonly banned: Array<[string, string]> = [];
  readonly uploaded: Array<[string, number]> = [];
  readonly warnings: Array<{
    kind: WarningKind;
    message: string;
    details?: HivecastWarning["details"] | undefined;
  }> = [];
  /** Every callback, in order (for "nothing after destroy" checks). */
  readonly calls: string[] = [];

  static k(key: SegmentKey): string {
    return `${key.swarmId}|${key.segmentId}`;
  }

  put(key: SegmentKey, data: Uint8Array): void {
    this.store.set(FakeHost.k(key), data);
  }

  getShareable(key: SegmentKey): Uint8Array | undefined {
    this.calls.push("getShareable");
    if (this.serveOverride) return this.serveOverride(key);
    return this.store.get(FakeHost.k(key));
  }
  has(key: SegmentKey): boolean {
    return this.store.has(FakeHost.k(key)) || this.pending.has(key);
  }
  putPending(entry: PendingSegment): boolean {
    return !this.store.has(FakeHost.k(entry.key)) && this.pending.putPending(entry);
  }
  takePending(key: SegmentKey): PendingSegment | undefined {
    return this.pending.takePending(key);
  }
  dropPending(drop: (entry: PendingSegment) => boolean): void {
    this.pending.dropPending(drop);
  }
  shareable(_key: SegmentKey): boolean {
    this.calls.push("shareable");
    return this.shareableAll;
  }
  /** Link facts reported with each `onPeerConnected`, in order. */
  readonly links: Array<{ peerId: string; linkType?: PeerLinkType; setupMs?: number }> = [];
  onPeerConnected(peerId: string, link?: { linkType?: PeerLinkType; setupMs?: number }): void {
    this.calls.push("onPeerConnected");
    this.connected.push(peerId);
    this.links.push({ peerId, ...link });
  }
  onPeerDisconnected(peerId: string, reason: string): void {
    this.calls.push("onPeerDisconnected");
    this.disconnected.push([peerId, reason]);
  }
  onPeerBanned(peerId: string, reason: string): void {
    this.calls.push("onPeerBanned");
    this.banned.push([peerId, reason]);
  }
  onUploaded(peerId: string, bytes: number): void {
    this.calls.push("onUploaded");
    this.uploaded.push([peerId, bytes]);
  }
  onWarning(kind: WarningKind, message: string, details?: HivecastWarning["details"]): void {
    this.calls.push("onWarning");
    this.warnings.push({ kind, message, details });
  }
}

/** One simulated viewer. */
export interface Viewer {
  source: P2PSegmentSource;
  host: FakeHost;
  transport: MemoryTransport;
  id: string;
}

let viewerSeq = 0;

/** Builds a viewer on `net`/`tracker`. */
export function makeViewer(
  net: MemoryNetwork,
  tracker: MemoryTracker | undefined,
  opts: {
    config?: Config;
    seed?: number;
    deps?: Partial<PeerSegmentSourceDeps>;
    /** This viewer's `connect` comes that much after the remote can send (simple-peer skew). */
    connectDelayMs?: number;
    /** This viewer's network position (memory transport candidate type). */
    candidateType?: "host" | "srflx" | "prflx" | "relay";
    /** This viewer's links never open (ICE fails). */
    iceFails?: boolean;
  } = {},
): Viewer {
  const host = new FakeHost();
  const transport = net.transport({
    connectDelayMs: opts.connectDelayMs ?? 0,
    ...(opts.candidateType ? { candidateType: opts.candidateType } : {}),
    ...(opts.iceFails ? { iceFails: true } : {}),
  });
  const seed = opts.seed ?? ++viewerSeq;
  const source = createPeerSegmentSource({
    config: opts.config ?? p2pConfig(),
    clock: testClock,
    random: seeded(seed),
    host,
    store: host,
    transport,
    ...(tracker ? { WebSocket: tracker.WebSocket } : {}),
    ...opts.deps,
  });
  return { source, host, transport, id: source.peerId };
}

/** Bytes with a recognisable pattern. */
export function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 7) & 255;
  return out;
}

/** A playlist of `n` segments `seg-<sn>.ts` for `swarmId`. */
export function playlist(swarmId: string, live: boolean, n: number, firstSn = 0): PlaylistInfo {
  return {
    swarmId,
    live,
    targetDuration: 2,
    segments: Array.from({ length: n }, (_, i) => ({
      segmentId: `seg-${firstSn + i}.ts`,
      sn: firstSn + i,
      duration: 2,
    })),
  };
}

/** Fresh network and tracker on the test clock. */
export function world(
  opts: { bytesPerSec?: number; latencyMs?: number; iceFailMs?: number } = {},
): {
  net: MemoryNetwork;
  tracker: MemoryTracker;
} {
  return {
    net: new MemoryNetwork({ clock: testClock, ...opts }),
    tracker: new MemoryTracker({ clock: testClock }),
  };
}

/** Fast byte equality (vitest's deep equality is slow on large typed arrays). */
export function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (!a || a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Fake timers for every test of the calling file. */
export function useFakeClock(): void {
  beforeEach(() => {
    vi.useFakeTimers(FAKE);
  });
  afterEach(() => {
    vi.useRealTimers();
  });
}

/** An abort signal that never fires. */
export const neverAborted = (): AbortSignal => new AbortController().signal;

/** Segment keys of one swarm. */
export const keysOf =
  (swarmId: string) =>
  (segmentId: string): SegmentKey => ({ swarmId, segmentId });

/**
 * Each viewer loads a VOD playlist of `segments` in `swarmId`, 100 ms apart, then time runs
 * `settleMs` more so the swarm forms.
 */
export async function joinSwarm(
  viewers: Viewer[],
  swarmId: string,
  { segments = 10, settleMs = 200 }: { segments?: number; settleMs?: number } = {},
): Promise<void> {
  for (const v of viewers) {
    v.source.updatePlaylist(playlist(swarmId, false, segments));
    await vi.advanceTimersByTimeAsync(100);
  }
  await vi.advanceTimersByTimeAsync(settleMs);
}

/** `v` stores `data` and announces it (with `announced` as its size: a liar may differ). */
export function giveSegment(
  v: Viewer,
  key: SegmentKey,
  data: Uint8Array,
  announced = data.byteLength,
): void {
  v.host.put(key, data);
  v.source.announce(key, announced);
}

/** Settles a promise while fake time advances; returns value and the fake time it took. */
export async function settle<T>(p: Promise<T>, maxMs = 30_000): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  let done = false;
  let value!: T;
  let error: unknown;
  let failed = false;
  p.then(
    (v) => {
      done = true;
      value = v;
    },
    (e: unknown) => {
      done = true;
      failed = true;
      error = e;
    },
  );
  for (let i = 0; i < maxMs / 10 && !done; i++) await vi.advanceTimersByTimeAsync(10);
  await vi.advanceTimersByTimeAsync(0);
  if (!done) throw new Error("promise did not settle");
  if (failed) throw error;
  return { value, ms: Date.now() - t0 };
}

/** The default upload policy with `maxUploads` slots and a total byte rate (0 = none), no other limit. */
export function uploadGate(maxUploads: number, bytesPerSec: number): UploadPolicy {
  return new UploadPolicy(testClock, {
    maxUploads,
    totalBytesPerSec: bytesPerSec,
    perPeerBytesPerSec: 0,
    giveBackWeight: 1,
    maxServesPerSegment: Number.MAX_SAFE_INTEGER,
    windowMs: 60_000,
  });
}
