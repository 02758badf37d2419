import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type Config, DEFAULT_CONFIG } from "../src/config.js";
import type {
  PeerSegmentSource,
  PeerSegmentSourceFactory,
  PlaylistInfo,
  SegmentKey,
} from "../src/p2p/contract.js";
import { lazyPeerSource } from "../src/p2p/lazy-source.js";
import { StartablePeers } from "./engine-harness.js";
import { FAKE_TIMERS, testClock } from "./fake-net.js";
import { FakeHost } from "./p2p-helpers.js";

const key = (segmentId: string, swarmId = "v0"): SegmentKey => ({ swarmId, segmentId });
const info = (swarmId: string, first: number): PlaylistInfo => ({
  swarmId,
  live: true,
  targetDuration: 2,
  segments: [{ segmentId: `s${first}.ts`, sn: first, duration: 2 }],
});
const signal = new AbortController().signal;

/** A lazy source whose chunk loads at once when asked (or fails); records what it built. */
function rig(opts: { failTimes?: number; joinDelayMaxMs?: number; mainThreadLagMs?: number } = {}) {
  const host = new FakeHost();
  const real = new StartablePeers();
  const loads: number[] = [];
  const built: Config[] = [];
  /** Sources the Engine was asked to catch up (`deps.catchUp`). */
  const caughtUp: PeerSegmentSource[] = [];
  const factory: PeerSegmentSourceFactory = (deps) => {
    built.push(deps.config);
    return real;
  };
  const config: Config = {
    ...DEFAULT_CONFIG,
    p2p: {
      ...DEFAULT_CONFIG.p2p,
      joinDelayMaxMs: opts.joinDelayMaxMs ?? 10_000,
      mainThreadLagMs: opts.mainThreadLagMs ?? 0,
    },
  };
  const source = lazyPeerSource(
    {
      config,
      clock: testClock,
      random: () => 0.5,
      host,
      store: host,
      catchUp: (s) => caughtUp.push(s),
    },
    async () => {
      loads.push(Date.now());
      await Promise.resolve();
      if (loads.length <= (opts.failTimes ?? 0)) throw new Error("chunk 404");
      return factory;
    },
  );
  return { host, real, source, loads, built, caughtUp };
}

beforeEach(() => {
  vi.useFakeTimers(FAKE_TIMERS);
});
afterEach(() => {
  vi.useRealTimers();
});

describe("the P2P layer loads when the swarm would join", () => {
  it("not during start-up: downloads go to HTTP and nothing is loaded until the first frame", async () => {
    const r = rig();
    r.source.updatePlaylist(info("v0", 1));
    r.source.announce(key("s1.ts"), 100);
    // A start-up load (mayWait false) neither waits nor loads anything.
    await expect(
      r.source.download(key("s2.ts"), { signal, giveUpAt: 1e12, mayWait: false }),
    ).resolves.toBeNull();
    expect(r.source.peerCount()).toBe(0);
    expect(r.source.linkStats?.()).toBeUndefined();
    r.source.reportBad("p", key("s1.ts"), "hash mismatch");
    r.source.playbackStalled?.();
    await vi.advanceTimersByTimeAsync(9_000);
    expect(r.loads).toEqual([]);
    r.source.playbackStarted?.();
    await vi.advanceTimersByTimeAsync(0);
    expect(r.loads).toHaveLength(1);
    expect(r.built).toHaveLength(1);
    // Built as configured; the Engine's catch-up tells it start-up is over, so it joins at once.
    expect(r.built[0]?.p2p.joinDelayMaxMs).toBe(10_000);
    expect(r.caughtUp).toEqual([r.real]);
    expect(r.real.downloads).toEqual([]);
    expect(r.real.bad).toEqual([]);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(r.loads).toHaveLength(1); // the join's timer was cleared
    r.source.destroy();
  });

  it("calls before it loads are not forwarded; once built, the layer is caught up by the Engine, once", async () => {
    const r = rig();
    r.source.updatePlaylist(info("v0", 1));
    r.source.announce(key("a.ts"), 100);
    r.source.forget(key("a.ts"));
    r.source.playbackStarted?.();
    expect(r.caughtUp).toEqual([]);
    await vi.advanceTimersByTimeAsync(0);
    expect(r.caughtUp).toEqual([r.real]);
    // What it missed comes from the Engine's catch-up (engine.test.ts), not from the stand-in.
    expect([r.real.playlists, r.real.announced, r.real.forgotten, r.real.started]).toEqual([
      [],
      [],
      [],
      0,
    ]);
    r.source.updatePlaylist(info("v0", 2));
    expect(r.real.playlists).toEqual([info("v0", 2)]);
    r.source.destroy();
  });

  it("a load with a playback deadline starts it, joining at once; that load still goes to HTTP", async () => {
    const r = rig();
    r.source.updatePlaylist(info("v0", 1));
    await expect(r.source.download(key("s1.ts"), { signal, giveUpAt: 1e12 })).resolves.toBeNull();
    await vi.advanceTimersByTimeAsync(0);
    expect(r.built.map((c) => c.p2p.joinDelayMaxMs)).toEqual([0]);
    expect(r.real.started).toBe(0);
    expect(r.caughtUp).toEqual([r.real]);
    r.source.destroy();
  });

  it("a page that never starts playing: loaded p2p.joinDelayMaxMs after its first playlist, joining at once", async () => {
    const r = rig();
    await vi.advanceTimersByTimeAsync(30_000);
    expect(r.loads).toEqual([]); // no stream yet: no timer
    r.source.updatePlaylist(info("v0", 1));
    await vi.advanceTimersByTimeAsync(9_999);
    expect(r.loads).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(r.built.map((c) => c.p2p.joinDelayMaxMs)).toEqual([0]);
    r.source.destroy();
  });

  it("joinDelayMaxMs 0, or a main-thread watch that needs start-up's samples: loaded at once", async () => {
    for (const opts of [{ joinDelayMaxMs: 0 }, { mainThreadLagMs: 250 }]) {
      const r = rig(opts);
      await vi.advanceTimersByTimeAsync(0);
      expect(r.built, JSON.stringify(opts)).toHaveLength(1);
      expect(r.built[0]?.p2p).toMatchObject(opts); // as configured
      r.source.destroy();
    }
  });

  it("once loaded, every call goes to the layer", async () => {
    const r = rig();
    r.source.playbackStarted?.();
    await vi.advanceTimersByTimeAsync(0);
    await r.source.download(key("c.ts"), { signal, giveUpAt: 5 });
    r.source.reportBad("p", key("c.ts"), "hash mismatch");
    r.source.announce(key("c.ts"), 9);
    r.source.forget(key("c.ts"));
    r.source.updatePlaylist(info("v0", 3));
    r.source.playbackStarted?.();
    r.source.playbackStalled?.();
    expect(r.source.peerCount()).toBe(2);
    expect(r.real.downloads.map((d) => d.key)).toEqual([key("c.ts")]);
    expect(r.real.bad).toEqual([{ peerId: "p", key: key("c.ts"), reason: "hash mismatch" }]);
    expect(r.real.announced).toEqual([{ key: key("c.ts"), size: 9 }]);
    expect(r.real.forgotten).toEqual([key("c.ts")]);
    expect(r.real.playlists).toEqual([info("v0", 3)]);
    expect(r.real.started).toBe(1);
    expect(r.loads).toHaveLength(1);
    r.source.destroy();
    expect(r.real.destroyed).toBe(true);
  });

  it("destroyed before it loads: never built, no timer left", async () => {
    const r = rig();
    r.source.updatePlaylist(info("v0", 1));
    r.source.destroy();
    expect(vi.getTimerCount()).toBe(0);
    r.source.playbackStarted?.();
    await vi.advanceTimersByTimeAsync(20_000);
    expect(r.loads).toEqual([]);
    expect(r.built).toEqual([]);
    expect(r.host.warnings).toEqual([]);
  });

  it("a chunk that fails to load: warned, retried after 10, 20 and 40 s, then given up; HTTP meanwhile", async () => {
    const r = rig({ failTimes: 99 });
    const t0 = Date.now();
    r.source.playbackStarted?.();
    await vi.advanceTimersByTimeAsync(0);
    expect(r.host.warnings.map((w) => [w.kind, w.message])).toEqual([
      ["p2p-internal", "P2P layer not started, retrying in 10 s: Error: chunk 404"],
    ]);
    // Loads with a deadline before the retry neither load again nor wait.
    await expect(r.source.download(key("a.ts"), { signal, giveUpAt: 1e12 })).resolves.toBeNull();
    r.source.playbackStarted?.();
    expect(r.loads).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(200_000);
    expect(r.loads.map((t) => t - t0)).toEqual([0, 10_000, 30_000, 70_000]);
    expect(r.host.warnings.at(-1)?.message).toBe(
      "P2P layer not started, giving up: Error: chunk 404",
    );
    expect(r.host.warnings).toHaveLength(4);
    await expect(r.source.download(key("b.ts"), { signal, giveUpAt: 1e12 })).resolves.toBeNull();
    expect(r.source.peerCount()).toBe(0);
    expect(r.built).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
    r.source.destroy();
  });

  it("a load that fails once: the retry builds the layer, which the Engine then catches up", async () => {
    const r = rig({ failTimes: 1 });
    r.source.updatePlaylist(info("v0", 1));
    r.source.playbackStarted?.();
    await vi.advanceTimersByTimeAsync(0);
    r.source.announce(key("s1.ts"), 100);
    expect(r.built).toEqual([]);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(r.loads).toHaveLength(2);
    expect(r.built).toHaveLength(1);
    expect(r.caughtUp).toEqual([r.real]);
    r.source.destroy();
  });

  it("destroyed while a retry waits: no timer left", async () => {
    const r = rig({ failTimes: 1 });
    r.source.playbackStarted?.();
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(1);
    r.source.destroy();
    expect(vi.getTimerCount()).toBe(0);
  });
});
