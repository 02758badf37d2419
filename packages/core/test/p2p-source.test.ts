import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { DEFAULT_CONFIG } from "../src/config.js";
import type { SegmentKey } from "../src/p2p/contract.js";
import { fetchRank, fetcherCount } from "../src/p2p/scheduler.js";
import { MemoryNetwork } from "../src/testing/memory-transport.js";
import { MemoryTracker } from "../src/testing/memory-tracker.js";
import { JOIN_WAIT_MS, MIN_PARTIAL_BYTES } from "../src/p2p/peer-fetch.js";
import { MIN_REFILL_GAP_MS, REFILL_DELAY_MS, infoHashOf } from "../src/p2p/swarm.js";
import { parseSignal } from "../src/p2p/peer-transport.js";
import type { MemoryPeerConnection } from "../src/testing/memory-transport.js";
import {
  FAKE,
  TRACKER_URL,
  bytes,
  makeViewer,
  p2pConfig,
  playlist,
  sameBytes,
  testClock,
  settle,
  world,
  type Viewer,
} from "./p2p-helpers.js";

const SWARM = "live/720p.m3u8";
const key = (segmentId: string, swarmId = SWARM): SegmentKey => ({ swarmId, segmentId });
const never = (): AbortSignal => new AbortController().signal;

beforeEach(() => {
  vi.useFakeTimers(FAKE);
});
afterEach(() => {
  vi.useRealTimers();
});

async function join(viewers: Viewer[], info = playlist(SWARM, false, 10)): Promise<void> {
  for (const v of viewers) {
    v.source.updatePlaylist(info);
    await vi.advanceTimersByTimeAsync(100);
  }
  await vi.advanceTimersByTimeAsync(200);
}

/** Steady state at the live edge: everyone has the segment before the newest (seg-103). */
async function steady(viewers: Viewer[]): Promise<void> {
  await vi.advanceTimersByTimeAsync(6000);
  for (const v of viewers) give(v, "seg-103.ts", bytes(1000, 103));
  await vi.advanceTimersByTimeAsync(50);
}

function give(v: Viewer, segmentId: string, data: Uint8Array): void {
  v.host.put(key(segmentId), data);
  v.source.announce(key(segmentId), data.byteLength);
}

/** A tracker WebSocket class that counts the sockets opened through it. */
function countingSockets(tracker: MemoryTracker): {
  Spy: typeof tracker.WebSocket;
  opened: () => number;
} {
  let sockets = 0;
  const WS = tracker.WebSocket;
  const Spy = class extends WS {
    constructor(url: string) {
      super(url);
      sockets++;
    }
  };
  return { Spy, opened: () => sockets };
}

/** `value` is the first bytes of `whole` from `peerId`, at least one chunk, not all of it. */
function expectPartialOf(value: unknown, whole: Uint8Array, peerId: string): void {
  expect(value).toMatchObject({ partial: true, size: whole.byteLength, peerId });
  const got = (value as { data: Uint8Array }).data;
  expect(got.byteLength).toBeGreaterThanOrEqual(MIN_PARTIAL_BYTES);
  expect(got.byteLength).toBeLessThan(whole.byteLength);
  expect(sameBytes(got, whole.subarray(0, got.byteLength))).toBe(true);
}

function destroyAll(...vs: Viewer[]): void {
  for (const v of vs) v.source.destroy();
}

describe("PeerSegmentSource over the in-memory transport", () => {
  it("downloads a segment another viewer announced, and counts the upload", async () => {
    const { net, tracker } = world();
    const a = makeViewer(net, tracker);
    const b = makeViewer(net, tracker);
    await join([a, b]);
    expect(a.source.peerCount()).toBe(1);
    expect(b.source.peerCount()).toBe(1);
    expect(a.host.connected).toEqual([b.id]);
    const data = bytes(100_000);
    give(a, "seg-0.ts", data);
    await vi.advanceTimersByTimeAsync(50);
    const { value: got } = await settle(
      b.source.download(key("seg-0.ts"), { signal: never(), giveUpAt: Date.now() + 5000 }),
    );
    expect(got?.peerId).toBe(a.id);
    expect(sameBytes(got?.data, data)).toBe(true);
    expect(got?.waitMs).toBe(0);
    expect(a.host.uploaded).toEqual([[b.id, data.byteLength]]);
    destroyAll(a, b);
  });

  it("a segment nobody announced goes to HTTP at once (VOD)", async () => {
    const { net, tracker } = world();
    const a = makeViewer(net, tracker);
    const b = makeViewer(net, tracker);
    await join([a, b]);
    const t0 = Date.now();
    const got = await b.source.download(key("seg-3.ts"), {
      signal: never(),
      giveUpAt: t0 + 5000,
    });
    expect(got).toBeNull();
    expect(Date.now()).toBe(t0);
    destroyAll(a, b);
  });

  it("segments the Engine may not share (policy required, no hash) are never taken from peers", async () => {
    const { net, tracker } = world();
    const a = makeViewer(net, tracker);
    const b = makeViewer(net, tracker);
    await join([a, b]);
    give(a, "seg-0.ts", bytes(1000));
    await vi.advanceTimersByTimeAsync(50);
    b.host.shareableAll = false;
    const sentBefore = net.connections().reduce((n, c) => n + c.sentMessages, 0);
    const got = await b.source.download(key("seg-0.ts"), {
      signal: never(),
      giveUpAt: Date.now() + 5000,
    });
    expect(got).toBeNull();
    await vi.advanceTimersByTimeAsync(100);
    expect(net.connections().reduce((n, c) => n + c.sentMessages, 0)).toBe(sentBefore);
    expect(a.host.uploaded).toEqual([]);
    destroyAll(a, b);
  });

  it("r18 a peer announcing another size than the origin says is not asked, and is banned", async () => {
    const { net, tracker } = world();
    const a = makeViewer(net, tracker);
    const b = makeViewer(net, tracker);
    await join([a, b]);
    give(a, "seg-0.ts", bytes(1000));
    await vi.advanceTimersByTimeAsync(50);
    const opts = { signal: never(), giveUpAt: Date.now() + 3000 };
    expect(await b.source.download(key("seg-0.ts"), { ...opts, expectedSize: 999 })).toBeNull();
    expect(a.host.uploaded).toEqual([]);
    expect(b.host.banned.map(([id]) => id)).toEqual([a.id]);
    expect(b.host.warnings.some((w) => w.kind === "peer-abuse")).toBe(true);
    expect(b.source.peerCount()).toBe(0);
    destroyAll(a, b);
  });

  it("uploads only verified bytes from the store: a request for anything else is refused", async () => {
    const { net, tracker } = world();
    const a = makeViewer(net, tracker);
    const b = makeViewer(net, tracker);
    await join([a, b]);
    // announced, then evicted from the verified store before the request arrives
    give(a, "seg-0.ts", bytes(1000));
    await vi.advanceTimersByTimeAsync(50);
    a.host.store.clear();
    const { value } = await settle(
      b.source.download(key("seg-0.ts"), { signal: never(), giveUpAt: Date.now() + 5000 }),
    );
    expect(value).toBeNull();
    expect(a.host.uploaded).toEqual([]);
    destroyAll(a, b);
  });

  it("r11 all peers and tracker gone: download returns null immediately", async () => {
    const net = new MemoryNetwork({ clock: testClock });
    const lonely = makeViewer(net, undefined, { config: p2pConfig({ trackers: [] }) });
    const t0 = Date.now();
    const got = await lonely.source.download(key("seg-0.ts"), {
      signal: never(),
      giveUpAt: t0 + 10_000,
    });
    expect(got).toBeNull();
    expect(Date.now()).toBe(t0);
    // tracker down, peers gone
    const tracker = new MemoryTracker({ clock: testClock });
    tracker.stop();
    const v = makeViewer(net, tracker);
    v.source.updatePlaylist(playlist(SWARM, true, 5));
    await vi.advanceTimersByTimeAsync(100);
    const got2 = await v.source.download(key("seg-4.ts"), {
      signal: never(),
      giveUpAt: Date.now() + 10_000,
    });
    expect(got2).toBeNull();
    expect(v.source.peerCount()).toBe(0);
    destroyAll(lonely, v);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("r16 constructing the source opens no tracker socket and no peer connection", async () => {
    const { net, tracker } = world();
    const { Spy, opened } = countingSockets(tracker);
    const v = makeViewer(net, tracker, { deps: { WebSocket: Spy } });
    v.source.peerCount();
    v.source.forget(key("seg-0.ts"));
    v.source.reportBad("someone", key("seg-0.ts"), "test");
    // a segment the Engine cannot share does not open anything either
    v.host.shareableAll = false;
    expect(
      await v.source.download(key("seg-0.ts"), { signal: never(), giveUpAt: Date.now() + 1000 }),
    ).toBeNull();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(opened()).toBe(0);
    expect(v.transport.created).toBe(0);
    expect(net.connections()).toHaveLength(0);
    expect(vi.getTimerCount()).toBe(0);
    v.source.updatePlaylist(playlist(SWARM, true, 3));
    await vi.advanceTimersByTimeAsync(100);
    expect(opened()).toBe(1);
    v.source.destroy();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("joining waits for playback (a load with a deadline, or joinDelayMaxMs), so start-up does not compete with peer set-up", async () => {
    const { net, tracker } = world();
    const { Spy, opened } = countingSockets(tracker);
    const cfg = p2pConfig({ joinDelayMaxMs: 2000 });
    // 1: neither a start-up load (no deadline: mayWait false) nor the first verified segment
    // (announce: not appended by the player yet) joins; the first load while playing does.
    const a = makeViewer(net, tracker, { config: cfg, deps: { WebSocket: Spy } });
    a.source.updatePlaylist(playlist(SWARM, true, 3));
    await vi.advanceTimersByTimeAsync(500);
    expect([opened(), a.transport.created]).toEqual([0, 0]);
    await a.source.download(key("seg-0.ts"), {
      signal: never(),
      giveUpAt: Date.now() + 100,
      mayWait: false,
    });
    await vi.advanceTimersByTimeAsync(100);
    expect(opened()).toBe(0);
    a.source.announce(key("seg-0.ts"), 1000);
    await vi.advanceTimersByTimeAsync(10);
    expect([opened(), a.transport.created]).toEqual([0, 0]);
    void a.source.download(key("seg-1.ts"), { signal: never(), giveUpAt: Date.now() + 50 });
    await vi.advanceTimersByTimeAsync(10);
    expect(opened()).toBe(1);
    // 2: a load with a deadline (the player is playing) joins.
    const b = makeViewer(net, tracker, { config: cfg, deps: { WebSocket: Spy } });
    b.source.updatePlaylist(playlist(SWARM, true, 3));
    await vi.advanceTimersByTimeAsync(10);
    expect(opened()).toBe(1);
    void b.source.download(key("seg-1.ts"), { signal: never(), giveUpAt: Date.now() + 50 });
    await vi.advanceTimersByTimeAsync(10);
    expect(opened()).toBe(2);
    // 3: nothing happens: joins after joinDelayMaxMs anyway.
    const c = makeViewer(net, tracker, { config: cfg, deps: { WebSocket: Spy } });
    c.source.updatePlaylist(playlist(SWARM, true, 3));
    await vi.advanceTimersByTimeAsync(1990);
    expect(opened()).toBe(2);
    await vi.advanceTimersByTimeAsync(20);
    expect(opened()).toBe(3);
    destroyAll(a, b, c);
  });

  it("by default a start-up slower than 2 s (a starved device) is not joined into: the cap is 10 s", async () => {
    const { net, tracker } = world();
    const { Spy, opened } = countingSockets(tracker);
    const cfg = p2pConfig({ joinDelayMaxMs: DEFAULT_CONFIG.p2p.joinDelayMaxMs });
    const a = makeViewer(net, tracker, { config: cfg, deps: { WebSocket: Spy } });
    a.source.updatePlaylist(playlist(SWARM, true, 3));
    // Still starting at 5 s (start-up loads carry no deadline): no tracker, no peer connection.
    await vi.advanceTimersByTimeAsync(5000);
    expect([opened(), a.transport.created]).toEqual([0, 0]);
    // The first frame joins at once.
    a.source.playbackStarted();
    await vi.advanceTimersByTimeAsync(10);
    expect(opened()).toBe(1);
    // A page that never plays (autoplay blocked, paused) joins at 10 s.
    const b = makeViewer(net, tracker, { config: cfg, deps: { WebSocket: Spy } });
    b.source.updatePlaylist(playlist(SWARM, true, 3));
    await vi.advanceTimersByTimeAsync(9990);
    expect(opened()).toBe(1);
    await vi.advanceTimersByTimeAsync(20);
    expect(opened()).toBe(2);
    destroyAll(a, b);
  });

  it("playbackStarted (start-up over) joins waiting swarms at once, and later swarms without waiting", async () => {
    const { net, tracker } = world();
    const cfg = p2pConfig({ joinDelayMaxMs: 2000 });
    // Swarms announced to the tracker (distinct info hashes).
    const joined = (): number =>
      new Set(
        tracker.sockets.flatMap((x) =>
          x.sent.filter((m) => m.action === "announce").map((m) => m.info_hash),
        ),
      ).size;
    const a = makeViewer(net, tracker, { config: cfg });
    a.source.updatePlaylist(playlist(SWARM, true, 3));
    await vi.advanceTimersByTimeAsync(300);
    expect(joined()).toBe(0);
    a.source.playbackStarted();
    await vi.advanceTimersByTimeAsync(10);
    expect(joined()).toBe(1);
    a.source.playbackStarted(); // once is enough
    // A swarm that appears while playing (another rendition) joins at once, not after 2 s.
    a.source.updatePlaylist(playlist("other-swarm", true, 3));
    await vi.advanceTimersByTimeAsync(10);
    expect(joined()).toBe(2);
    destroyAll(a);
  });
});

describe("several trackers", () => {
  it("announces to every tracker URL; duplicate connections to one peer collapse to one on both ends", async () => {
    const { net, tracker } = world();
    const cfg = p2pConfig({ trackers: ["ws://127.0.0.1:9/a", "ws://127.0.0.1:9/b"] });
    const a = makeViewer(net, tracker, { config: cfg });
    const b = makeViewer(net, tracker, { config: cfg });
    await join([a, b]);
    await vi.advanceTimersByTimeAsync(12_000); // a few announce rounds on both trackers
    expect(new Set(tracker.sockets.map((x) => x.url)).size).toBe(2);
    expect(a.source.peerCount()).toBe(1);
    expect(b.source.peerCount()).toBe(1);
    // both offers (one per tracker) were answered; one connection survived on both ends
    expect(net.opened).toBeGreaterThanOrEqual(4);
    const open = net.connections().filter((c) => c.connected);
    expect(open).toHaveLength(2);
    expect(open[0]?.remote).toBe(open[1]);
    expect(a.host.connected).toEqual([b.id]);
    expect(a.host.disconnected).toEqual([]);
    give(a, "seg-0.ts", bytes(20_000));
    await vi.advanceTimersByTimeAsync(20);
    const { value } = await settle(
      b.source.download(key("seg-0.ts"), { signal: never(), giveUpAt: Date.now() + 2000 }),
    );
    expect(value?.peerId).toBe(a.id);
    destroyAll(a, b);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("connection set-up and loss", () => {
  it("one end's connect comes late (data first): it asks nothing before its handshake went out, nobody is dropped", async () => {
    // simple-peer emits `connect` after a candidate-pair lookup; the far end may send first.
    const { net, tracker } = world();
    const vod = playlist("vod/720p.m3u8", false, 10);
    const b = makeViewer(net, tracker, {
      config: p2pConfig({ vodPrefetchSegments: 3 }),
      connectDelayMs: 300,
    });
    b.source.updatePlaylist(vod);
    await vi.advanceTimersByTimeAsync(100);
    // b plays seg-0 over HTTP (no peer yet), so it wants to prefetch seg-1… once a peer has them.
    const first = b.source.download(key("seg-0.ts", vod.swarmId), {
      signal: never(),
      giveUpAt: Date.now() + 3000,
    });
    expect((await settle(first)).value).toBeNull();
    const a = makeViewer(net, tracker);
    a.source.updatePlaylist(vod);
    for (let i = 0; i < 10; i++) {
      const k = key(`seg-${i}.ts`, vod.swarmId);
      a.host.put(k, bytes(10_000, i));
      a.source.announce(k, 10_000);
    }
    // a's handshake and haves reach b 300 ms before b's own connect.
    await vi.advanceTimersByTimeAsync(2000);
    expect(a.host.connected).toEqual([b.id]);
    expect(b.host.connected).toEqual([a.id]);
    expect([...a.host.disconnected, ...b.host.disconnected, ...a.host.banned]).toEqual([]);
    // the prefetch went through once b was connected
    expect(a.host.uploaded.map(([peer]) => peer)).toEqual([b.id, b.id, b.id]);
    destroyAll(a, b);
  });

  it("after joining a populated swarm, segments after the first wait for the first connections; the first and a lone viewer never wait", async () => {
    const { net, tracker } = world();
    const a = makeViewer(net, tracker);
    await join([a]);
    for (const i of [0, 1, 2]) give(a, `seg-${i}.ts`, bytes(20_000, i));
    const b = makeViewer(net, tracker);
    b.source.updatePlaylist(playlist(SWARM, false, 10));
    await vi.advanceTimersByTimeAsync(20); // the tracker answered (2 in the swarm), no peer yet
    expect(b.source.peerCount()).toBe(0);
    const giveUpAt = Date.now() + 5000;
    const t0 = Date.now();
    // The init segment (not in the playlist) and the first segment go to HTTP at once.
    expect(await b.source.download(key("init.mp4"), { signal: never(), giveUpAt })).toBeNull();
    expect(await b.source.download(key("seg-0.ts"), { signal: never(), giveUpAt })).toBeNull();
    expect(Date.now()).toBe(t0);
    // The next ones wait for the connection to a and come from it, well inside JOIN_WAIT_MS.
    const { value } = await settle(
      b.source.download(key("seg-1.ts"), { signal: never(), giveUpAt }),
    );
    expect(value).toMatchObject({ peerId: a.id });
    expect(Date.now() - t0).toBeLessThan(JOIN_WAIT_MS);
    // Alone in its swarm, a viewer never waits.
    const lone = makeViewer(net, tracker);
    lone.source.updatePlaylist(playlist("other/720p.m3u8", false, 10));
    await vi.advanceTimersByTimeAsync(20);
    const k = (id: string): SegmentKey => key(id, "other/720p.m3u8");
    expect(await lone.source.download(k("seg-0.ts"), { signal: never(), giveUpAt })).toBeNull();
    const t1 = Date.now();
    expect(await lone.source.download(k("seg-1.ts"), { signal: never(), giveUpAt })).toBeNull();
    expect(Date.now()).toBe(t1);
    destroyAll(a, b, lone);
  });

  it("once playback has started, the first segment this layer is asked for waits for the first connections (start-up loads went to the origins without asking)", async () => {
    const { net, tracker } = world();
    const a = makeViewer(net, tracker);
    await join([a]);
    give(a, "seg-3.ts", bytes(20_000, 3));
    const b = makeViewer(net, tracker);
    b.source.updatePlaylist(playlist(SWARM, false, 10));
    b.source.playbackStarted(); // the player has its first fragment (served by HTTP alone)
    await vi.advanceTimersByTimeAsync(20);
    expect(b.source.peerCount()).toBe(0);
    const t0 = Date.now();
    const { value } = await settle(
      b.source.download(key("seg-3.ts"), { signal: never(), giveUpAt: Date.now() + 5000 }),
    );
    expect(value).toMatchObject({ peerId: a.id });
    expect(Date.now() - t0).toBeLessThan(JOIN_WAIT_MS);
    destroyAll(a, b);
  });

  it("before the tracker has answered, a joining viewer waits for the answer, not for the whole join window", async () => {
    const net = new MemoryNetwork({ clock: testClock });
    const tracker = new MemoryTracker({ clock: testClock, latencyMs: 200 });
    const lone = makeViewer(net, tracker);
    lone.source.updatePlaylist(playlist(SWARM, false, 10));
    const giveUpAt = Date.now() + 5000;
    expect(await lone.source.download(key("seg-0.ts"), { signal: never(), giveUpAt })).toBeNull();
    const t0 = Date.now();
    const { value } = await settle(
      lone.source.download(key("seg-1.ts"), { signal: never(), giveUpAt }),
    );
    expect(value).toBeNull();
    // It went on once the answer ("1 in the swarm": alone) came, long before JOIN_WAIT_MS.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
    expect(Date.now() - t0).toBeLessThan(JOIN_WAIT_MS / 2);
    destroyAll(lone);
  });

  it("a lost peer is replaced by an early announce, not at the tracker's (long) interval", async () => {
    const { net, tracker } = world();
    const cfg = p2pConfig({ announceIntervalMs: 120_000 });
    const [a, b, c] = [0, 1, 2].map(() => makeViewer(net, tracker, { config: cfg })) as [
      Viewer,
      Viewer,
      Viewer,
    ];
    await join([a, b, c]);
    await vi.advanceTimersByTimeAsync(2000);
    expect(a.source.peerCount()).toBe(2);
    expect(b.source.peerCount()).toBe(2);
    // The a–b link dies (an ICE failure, say); a and c stay.
    const link = net
      .connections()
      .filter((x) => x.connected && x.owner === a.transport && x.remote?.owner === b.transport);
    expect(link).toHaveLength(1);
    link[0]?.remote?.closeFromRemote();
    link[0]?.closeFromRemote();
    await vi.advanceTimersByTimeAsync(100);
    expect(a.source.peerCount()).toBe(1);
    expect(b.source.peerCount()).toBe(1);
    // Well before the 120 s interval, a and b find each other again.
    await vi.advanceTimersByTimeAsync(MIN_REFILL_GAP_MS + 2 * REFILL_DELAY_MS);
    expect(a.source.peerCount()).toBe(2);
    expect(b.source.peerCount()).toBe(2);
    destroyAll(a, b, c);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("r01 a peer sends wrong bytes", () => {
  it("reportBad bans the peer: closed, peerBanned reported, never reconnected this session", async () => {
    const { net, tracker } = world();
    const bad = makeViewer(net, tracker);
    const b = makeViewer(net, tracker);
    await join([bad, b]);
    const good = bytes(50_000, 1);
    bad.host.put(key("seg-0.ts"), good);
    bad.source.announce(key("seg-0.ts"), good.byteLength);
    bad.host.serveOverride = () => bytes(50_000, 2); // same size, other bytes
    await vi.advanceTimersByTimeAsync(50);
    const { value: got } = await settle(
      b.source.download(key("seg-0.ts"), { signal: never(), giveUpAt: Date.now() + 5000 }),
    );
    expect(got).not.toBeNull();
    expect(sameBytes(got?.data, good)).toBe(false); // the Engine's hash check fails…
    b.source.reportBad(got?.peerId ?? "", key("seg-0.ts"), "hash mismatch");
    expect(b.host.banned).toEqual([[bad.id, "hash mismatch"]]);
    expect(b.host.disconnected).toEqual([[bad.id, "banned"]]);
    expect(b.source.peerCount()).toBe(0);
    expect(b.source.isBanned(bad.id)).toBe(true);
    await vi.advanceTimersByTimeAsync(50);
    expect(bad.source.peerCount()).toBe(0); // the connection is closed on both ends
    // Several announce rounds later: still no connection, the segment is not taken from it.
    await vi.advanceTimersByTimeAsync(30_000);
    expect(b.source.peerCount()).toBe(0);
    expect(bad.source.peerCount()).toBe(0);
    expect(b.host.connected).toEqual([bad.id]);
    const again = await b.source.download(key("seg-0.ts"), {
      signal: never(),
      giveUpAt: Date.now() + 5000,
    });
    expect(again).toBeNull();
    // …and another, honest viewer still connects to b.
    const c = makeViewer(net, tracker);
    await join([c]);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(b.source.peerCount()).toBe(1);
    destroyAll(bad, b, c);
  });

  it("a protocol violation bans the peer too", async () => {
    const { net, tracker } = world();
    const a = makeViewer(net, tracker);
    const b = makeViewer(net, tracker);
    await join([a, b]);
    const conn = net.connections().find((c) => c.remote);
    expect(conn).toBeDefined();
    if (!conn) return;
    conn.send(Uint8Array.of(0x99, 1, 2, 3)); // unknown frame type from one side
    await vi.advanceTimersByTimeAsync(50);
    const victim = conn.remote && [a, b].find((v) => v.host.banned.length > 0);
    expect(victim).toBeDefined();
    expect(victim?.host.banned[0]?.[1]).toBe(
      "protocol violation: UNKNOWN_TYPE (unknown frame type 153)",
    );
    expect(a.source.peerCount()).toBe(0);
    expect(b.source.peerCount()).toBe(0);
    destroyAll(a, b);
  });

  it("our own code failing on a good frame closes the link, bans no one and warns p2p-internal", async () => {
    const { net, tracker } = world();
    const a = makeViewer(net, tracker);
    const b = makeViewer(net, tracker);
    await join([a, b]);
    const data = bytes(50_000, 1);
    a.host.put(key("seg-0.ts"), data);
    a.source.announce(key("seg-0.ts"), data.byteLength);
    a.host.serveOverride = () => {
      throw new TypeError("store broke");
    };
    await vi.advanceTimersByTimeAsync(50);
    const p = settle(
      b.source.download(key("seg-0.ts"), { signal: never(), giveUpAt: Date.now() + 2000 }),
    );
    await vi.advanceTimersByTimeAsync(2500);
    const { value: got } = await p;
    expect(got).toBeNull(); // b's request made a's own code throw: a closed the link
    expect(a.host.banned).toEqual([]);
    expect(b.host.banned).toEqual([]);
    expect(a.source.isBanned(b.id)).toBe(false);
    const internal = a.host.warnings.filter((w) => w.kind === "p2p-internal");
    expect(internal).toHaveLength(1);
    expect(internal[0]?.message).toContain("internal error: TypeError: store broke");
    expect(internal[0]?.details).toEqual({ peerId: b.id });
    expect(a.host.warnings.some((w) => w.kind === "peer-abuse")).toBe(false);
    expect(a.source.peerCount()).toBe(0);
    destroyAll(a, b);
  });
});

/** A hand-driven peer: joins the swarm through the tracker and connects to whoever answers. */
async function rawPeer(
  net: MemoryNetwork,
  tracker: MemoryTracker,
  swarmId: string,
  peerId: string,
): Promise<MemoryPeerConnection> {
  const ws = new tracker.WebSocket(TRACKER_URL);
  await vi.advanceTimersByTimeAsync(20); // open
  const conn = net.create({ initiator: true, rtcConfig: { iceServers: [] } });
  const offerId = "o".repeat(20);
  ws.onmessage = (ev) => {
    const m: unknown = JSON.parse(String(ev.data));
    const raw = typeof m === "object" && m !== null ? Reflect.get(m, "answer") : undefined;
    const answer = parseSignal(raw, "answer");
    if (answer) conn.signal(answer);
  };
  conn.on("signal", (offer) => {
    ws.send(
      JSON.stringify({
        action: "announce",
        info_hash: infoHashOf(swarmId),
        peer_id: peerId,
        numwant: 1,
        offers: [{ offer, offer_id: offerId }],
      }),
    );
  });
  await vi.advanceTimersByTimeAsync(100);
  return conn;
}

describe("foreign and hostile peers", () => {
  it("a peer speaking another protocol version is disconnected, not banned", async () => {
    const { net, tracker } = world();
    const b = makeViewer(net, tracker);
    await join([b]);
    const raw = await rawPeer(net, tracker, SWARM, "-XX0100-older0000000");
    expect(raw.connected).toBe(true);
    raw.send(Uint8Array.of(0x01, 0x48, 0x56, 0x43, 1, 0)); // handshake, version 1 (16 KiB frames)
    await vi.advanceTimersByTimeAsync(50);
    expect(raw.closed).toBe(true);
    expect(b.host.banned).toEqual([]);
    expect(b.host.connected).toEqual([]);
    expect(b.source.isBanned("-XX0100-older0000000")).toBe(false);
    destroyAll(b);
  });

  it("garbage instead of a handshake bans the sender", async () => {
    const { net, tracker } = world();
    const b = makeViewer(net, tracker);
    await join([b]);
    const raw = await rawPeer(net, tracker, SWARM, "-XX0100-garbage00000");
    raw.send(Uint8Array.of(0x04, 0, 0, 0, 1, 0, 1, 0x61)); // a request before the handshake
    await vi.advanceTimersByTimeAsync(50);
    expect(raw.closed).toBe(true);
    expect(b.host.banned).toEqual([
      ["-XX0100-garbage00000", "protocol violation: UNEXPECTED_MESSAGE (request before handshake)"],
    ]);
    expect(b.host.disconnected).toEqual([]); // it never counted as connected
    destroyAll(b);
  });
});

describe("r09 a peer disappears mid-transfer", () => {
  it("falls back to another peer that has the segment", async () => {
    const { net, tracker } = world({ bytesPerSec: 1_000_000 });
    const a = makeViewer(net, tracker);
    const b = makeViewer(net, tracker);
    const c = makeViewer(net, tracker);
    await join([a, b, c]);
    expect(b.source.peerCount()).toBe(2);
    const data = bytes(600_000);
    give(a, "seg-0.ts", data);
    await vi.advanceTimersByTimeAsync(50);
    const t0 = Date.now();
    const giveUpAt = t0 + 4000;
    const p = settle(b.source.download(key("seg-0.ts"), { signal: never(), giveUpAt }));
    await vi.advanceTimersByTimeAsync(200); // a third of the way
    give(c, "seg-0.ts", data);
    a.source.destroy(); // a vanishes
    const { value } = await p;
    expect(value?.peerId).toBe(c.id);
    expect(sameBytes(value?.data, data)).toBe(true);
    expect(Date.now()).toBeLessThan(giveUpAt);
    destroyAll(b, c);
  });

  it("a silently vanished only peer: what arrived is handed over for HTTP to complete, well before giveUpAt", async () => {
    const { net, tracker } = world({ bytesPerSec: 500_000 });
    const a = makeViewer(net, tracker);
    const b = makeViewer(net, tracker);
    await join([a, b]);
    const data = bytes(900_000);
    give(a, "seg-0.ts", data);
    await vi.advanceTimersByTimeAsync(50);
    const giveUpAt = Date.now() + 8000;
    const p = settle(b.source.download(key("seg-0.ts"), { signal: never(), giveUpAt }));
    await vi.advanceTimersByTimeAsync(300);
    for (const c of net.connections()) c.severed = true; // no bytes, no close
    const { value } = await p;
    expect(Date.now()).toBeLessThan(giveUpAt);
    expectPartialOf(value, data, a.id);
    destroyAll(a, b);
  });

  it("a transfer that falls behind giveUpAt is abandoned (cancelled at the uploader) in time; its bytes go to HTTP to complete", async () => {
    const { net, tracker } = world({ bytesPerSec: 200_000 });
    const a = makeViewer(net, tracker);
    const b = makeViewer(net, tracker);
    await join([a, b]);
    give(a, "seg-0.ts", bytes(1_000_000)); // 5 s at this rate, 3 s available
    await vi.advanceTimersByTimeAsync(50);
    const giveUpAt = Date.now() + 3000;
    const { value } = await settle(
      b.source.download(key("seg-0.ts"), { signal: never(), giveUpAt }),
    );
    expectPartialOf(value, bytes(1_000_000), a.id);
    expect(Date.now()).toBeLessThanOrEqual(giveUpAt);
    await vi.advanceTimersByTimeAsync(3000);
    expect(a.host.uploaded).toEqual([]); // the upload was cancelled, not completed
    expect(a.source.peerCount()).toBe(1); // cancelling is not a disconnect
    destroyAll(a, b);
  });
});

describe("live offload near the edge", () => {
  it("only a few viewers fetch a new segment over HTTP; the rest get it from peers in time", async () => {
    const { net, tracker } = world({ bytesPerSec: 5_000_000, latencyMs: 10 });
    const viewers = Array.from({ length: 10 }, (_, i) =>
      makeViewer(net, tracker, { seed: 100 + i }),
    );
    const info = playlist(SWARM, true, 5, 100);
    await join(viewers, info);
    await steady(viewers);
    for (const v of viewers) expect(v.source.peerCount()).toBe(9);
    const segmentId = "seg-104.ts"; // the newest
    const data = bytes(400_000, 9);
    const giveUpAt = Date.now() + 3000;
    const httpFetchers: string[] = [];
    const results = viewers.map(async (v) => {
      const got = await v.source.download(key(segmentId), { signal: never(), giveUpAt });
      if (got) return { v, got, at: Date.now() };
      // "HTTP": 150 ms later the bytes are verified, stored and announced.
      httpFetchers.push(v.id);
      await new Promise((r) => setTimeout(r, 150));
      give(v, segmentId, data);
      return { v, got, at: Date.now() };
    });
    const { value: done } = await settle(Promise.all(results));
    expect(httpFetchers.length).toBe(fetcherCount(10, 0.15));
    for (const r of done) {
      expect(r.at).toBeLessThanOrEqual(giveUpAt + 150);
      if (r.got) {
        expect(sameBytes(r.got.data, data)).toBe(true);
        expect(r.got.waitMs).toBeGreaterThan(0);
      }
    }
    // A latecomer finds it announced and goes straight to a peer, without waiting.
    const late = makeViewer(net, tracker, { seed: 999 });
    await join([late], info);
    await vi.advanceTimersByTimeAsync(6000);
    const { value: lateGot } = await settle(
      late.source.download(key(segmentId), { signal: never(), giveUpAt: Date.now() + 3000 }),
    );
    expect(lateGot?.waitMs).toBe(0);
    expect(sameBytes(lateGot?.data, data)).toBe(true);
    destroyAll(...viewers, late);
  });

  it("with one upload slot per viewer, busy fetchers do not send the rest to HTTP: it cascades peer to peer", async () => {
    const { net, tracker } = world({ bytesPerSec: 5_000_000, latencyMs: 10 });
    const cfg = p2pConfig({ maxUploads: 1 });
    const viewers = Array.from({ length: 12 }, (_, i) =>
      makeViewer(net, tracker, { seed: 500 + i, config: cfg }),
    );
    const info = playlist(SWARM, true, 5, 100);
    await join(viewers, info);
    await steady(viewers);
    const data = bytes(300_000, 4);
    const giveUpAt = Date.now() + 4000;
    let http = 0;
    const results = viewers.map(async (v) => {
      const got = await v.source.download(key("seg-104.ts"), { signal: never(), giveUpAt });
      if (!got) {
        http++;
        await new Promise((r) => setTimeout(r, 150));
        give(v, "seg-104.ts", data);
        return true;
      }
      give(v, "seg-104.ts", got.data); // verified by the Engine, stored, announced
      return sameBytes(got.data, data);
    });
    const { value } = await settle(Promise.all(results));
    expect(value.every(Boolean)).toBe(true);
    expect(http).toBe(fetcherCount(12, 0.15));
    const uploads = viewers.map((v) => v.host.uploaded.length);
    expect(uploads.reduce((a, b) => a + b, 0)).toBe(12 - http);
    destroyAll(...viewers);
  });

  it("viewers that are not following the live edge (paused, behind) are never counted on as fetchers", async () => {
    const { net, tracker } = world({ bytesPerSec: 5_000_000, latencyMs: 10 });
    const viewers = Array.from({ length: 8 }, (_, i) =>
      makeViewer(net, tracker, { seed: 700 + i }),
    );
    const info = playlist(SWARM, true, 5, 100);
    await join(viewers, info);
    await vi.advanceTimersByTimeAsync(6000);
    // The active viewers are the three ranked last for seg-104: counting the paused ones, every
    // active viewer would leave the fetching to paused viewers and wait in vain.
    const ranked = [...viewers].sort(
      (x, y) => fetchRank(x.id, "seg-104.ts") - fetchRank(y.id, "seg-104.ts"),
    );
    const active = ranked.slice(-3);
    for (const v of active) give(v, "seg-103.ts", bytes(1000, 103)); // the others are paused
    await vi.advanceTimersByTimeAsync(50);
    const data = bytes(200_000, 6);
    const giveUpAt = Date.now() + 3000;
    let http = 0;
    const out = await settle(
      Promise.all(
        active.map(async (v) => {
          const got = await v.source.download(key("seg-104.ts"), { signal: never(), giveUpAt });
          if (!got) {
            http++;
            await new Promise((r) => setTimeout(r, 150));
            give(v, "seg-104.ts", data);
          }
          return Date.now();
        }),
      ),
    );
    expect(http).toBe(fetcherCount(3, 0.15)); // one of the three active viewers
    for (const at of out.value) expect(at).toBeLessThan(giveUpAt - 1000); // nobody waited it out
    destroyAll(...viewers);
  });

  it("when the designated fetchers never deliver, everyone else falls back before giveUpAt", async () => {
    const { net, tracker } = world();
    const viewers = Array.from({ length: 6 }, (_, i) =>
      makeViewer(net, tracker, { seed: 200 + i }),
    );
    const info = playlist(SWARM, true, 5, 100);
    await join(viewers, info);
    await steady(viewers);
    const giveUpAt = Date.now() + 2000;
    const results = await settle(
      Promise.all(
        viewers.map((v) =>
          v.source
            .download(key("seg-104.ts"), { signal: never(), giveUpAt })
            .then((got) => ({ got, at: Date.now() })),
        ),
      ),
    );
    for (const r of results.value) {
      expect(r.got).toBeNull();
      expect(r.at).toBeLessThanOrEqual(giveUpAt);
    }
    destroyAll(...viewers);
  });

  it("an old live segment nobody has goes to HTTP at once (no waiting away from the edge)", async () => {
    const { net, tracker } = world();
    const a = makeViewer(net, tracker);
    const b = makeViewer(net, tracker);
    await join([a, b], playlist(SWARM, true, 6, 100));
    const t0 = Date.now();
    expect(
      await b.source.download(key("seg-101.ts"), { signal: never(), giveUpAt: t0 + 3000 }),
    ).toBeNull();
    expect(Date.now()).toBe(t0);
    destroyAll(a, b);
  });

  it("an aborted wait rejects with the signal's reason", async () => {
    const { net, tracker } = world();
    const viewers = Array.from({ length: 5 }, (_, i) =>
      makeViewer(net, tracker, { seed: 300 + i }),
    );
    await join(viewers, playlist(SWARM, true, 5, 100));
    await steady(viewers);
    const ac = new AbortController();
    const waits = viewers.map((v) =>
      v.source.download(key("seg-104.ts"), { signal: ac.signal, giveUpAt: Date.now() + 5000 }).then(
        (r) => ({ r, e: undefined as unknown }),
        (e: unknown) => ({ r: null, e }),
      ),
    );
    await vi.advanceTimersByTimeAsync(100);
    const reason = new Error("player seeked");
    ac.abort(reason);
    const outs = await Promise.all(waits);
    const rejected = outs.filter((o) => o.e !== undefined);
    expect(rejected.length).toBeGreaterThan(0); // the waiting non-fetchers
    for (const o of rejected) expect(o.e).toBe(reason);
    destroyAll(...viewers);
  });
});

describe("uploads", () => {
  it("caps concurrent uploads (busy peers are skipped) and the upload byte rate", async () => {
    const { net, tracker } = world();
    const cfg = p2pConfig({ maxUploads: 1, uploadBytesPerSec: 100_000 });
    const a = makeViewer(net, tracker, { config: cfg });
    const b = makeViewer(net, tracker);
    const c = makeViewer(net, tracker);
    await join([a, b, c]);
    give(a, "seg-0.ts", bytes(50_000));
    give(a, "seg-1.ts", bytes(50_000, 3));
    await vi.advanceTimersByTimeAsync(50);
    const t0 = Date.now();
    const pb = settle(b.source.download(key("seg-0.ts"), { signal: never(), giveUpAt: t0 + 5000 }));
    await vi.advanceTimersByTimeAsync(20);
    const pc = settle(c.source.download(key("seg-1.ts"), { signal: never(), giveUpAt: t0 + 5000 }));
    const [rb, rc] = await Promise.all([pb, pc]);
    expect(rb.value?.peerId).toBe(a.id);
    expect(rc.value).toBeNull(); // a was busy with b; no one else had seg-1
    // 50 kB at 100 kB/s with a 250 ms burst: at least ~250 ms.
    expect(rb.ms).toBeGreaterThanOrEqual(240);
    expect(a.host.uploaded).toEqual([[b.id, 50_000]]);
    destroyAll(a, b, c);
  });

  it("download-only (auto on saveData) serves nothing and announces nothing; explicit false overrides", async () => {
    const { net, tracker } = world();
    const saveData = { connection: { saveData: true } };
    const a = makeViewer(net, tracker, {
      config: p2pConfig({ downloadOnly: "auto" }),
      deps: { navigator: saveData },
    });
    const b = makeViewer(net, tracker);
    await join([a, b]);
    expect(a.source.downloadOnly).toBe(true);
    give(a, "seg-0.ts", bytes(1000));
    await vi.advanceTimersByTimeAsync(50);
    expect(
      await b.source.download(key("seg-0.ts"), { signal: never(), giveUpAt: Date.now() + 3000 }),
    ).toBeNull();
    // a can still download from b
    give(b, "seg-1.ts", bytes(2000));
    await vi.advanceTimersByTimeAsync(50);
    const { value } = await settle(
      a.source.download(key("seg-1.ts"), { signal: never(), giveUpAt: Date.now() + 3000 }),
    );
    expect(value?.data.byteLength).toBe(2000);
    const forced = makeViewer(net, tracker, {
      config: p2pConfig({ downloadOnly: false }),
      deps: { navigator: saveData },
    });
    expect(forced.source.downloadOnly).toBe(false);
    destroyAll(a, b, forced);
  });
});

describe("VOD prefetch", () => {
  it("prefetches the next segments from peers; the Engine's next download is served at once", async () => {
    const { net, tracker } = world();
    const a = makeViewer(net, tracker);
    const b = makeViewer(net, tracker, { config: p2pConfig({ vodPrefetchSegments: 3 }) });
    const vod = playlist("vod/720p.m3u8", false, 10);
    await join([a, b], vod);
    for (let i = 0; i < 10; i++) {
      const k = key(`seg-${i}.ts`, vod.swarmId);
      a.host.put(k, bytes(10_000, i));
      a.source.announce(k, 10_000);
    }
    await vi.advanceTimersByTimeAsync(50);
    const first = await settle(
      b.source.download(key("seg-0.ts", vod.swarmId), {
        signal: never(),
        giveUpAt: Date.now() + 3000,
      }),
    );
    expect(sameBytes(first.value?.data, bytes(10_000, 0))).toBe(true);
    await vi.advanceTimersByTimeAsync(500);
    expect(a.host.uploaded.length).toBe(4); // seg-0 plus seg-1…3
    const t0 = Date.now();
    const next = await b.source.download(key("seg-1.ts", vod.swarmId), {
      signal: never(),
      giveUpAt: t0 + 3000,
    });
    expect(Date.now()).toBe(t0);
    expect(sameBytes(next?.data, bytes(10_000, 1))).toBe(true);
    expect(next?.firstByteAt).toBe(t0); // timings never precede the Engine's request
    expect(next?.waitMs).toBe(0);
    await vi.advanceTimersByTimeAsync(500);
    expect(a.host.uploaded.length).toBe(5); // window moved: seg-4
    destroyAll(a, b);
  });
});

describe("r17 destroy() during every stage", () => {
  function expectClean(net: MemoryNetwork, tracker: MemoryTracker): void {
    expect(vi.getTimerCount()).toBe(0);
    expect(net.connections()).toHaveLength(0);
    expect(tracker.openSockets()).toHaveLength(0);
  }

  it("before use, while the tracker connects, and while peers connect", async () => {
    const { net, tracker } = world();
    const idle = makeViewer(net, tracker);
    idle.source.destroy();
    idle.source.destroy(); // idempotent
    const a = makeViewer(net, tracker);
    const b = makeViewer(net, tracker);
    a.source.updatePlaylist(playlist(SWARM, false, 3));
    await vi.advanceTimersByTimeAsync(100);
    b.source.updatePlaylist(playlist(SWARM, false, 3));
    await vi.advanceTimersByTimeAsync(2); // b's socket is still opening
    b.source.destroy();
    await vi.advanceTimersByTimeAsync(100);
    const c = makeViewer(net, tracker);
    c.source.updatePlaylist(playlist(SWARM, false, 3));
    await vi.advanceTimersByTimeAsync(13); // offers/answers in flight
    const callsA = a.host.calls.length;
    const callsC = c.host.calls.length;
    a.source.destroy();
    c.source.destroy();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(a.host.calls.length).toBe(callsA);
    expect(c.host.calls.length).toBe(callsC);
    expect(a.source.peerCount()).toBe(0);
    expectClean(net, tracker);
  });

  it("while waiting for a peer (live), while downloading and while uploading", async () => {
    const { net, tracker } = world({ bytesPerSec: 1_000_000 });
    const vs = Array.from({ length: 5 }, (_, i) => makeViewer(net, tracker, { seed: 400 + i }));
    await join(vs, playlist(SWARM, true, 5, 100));
    await steady(vs);
    // waiting stage
    const waits = vs.map((v) =>
      v.source.download(key("seg-104.ts"), { signal: never(), giveUpAt: Date.now() + 5000 }),
    );
    await vi.advanceTimersByTimeAsync(100);
    const [v0, v1, v2, v3, v4] = vs as [Viewer, Viewer, Viewer, Viewer, Viewer];
    // downloading + uploading stage: v0 uploads an old segment to v1
    give(v0, "seg-100.ts", bytes(800_000));
    await vi.advanceTimersByTimeAsync(50);
    const dl = v1.source.download(key("seg-100.ts"), {
      signal: never(),
      giveUpAt: Date.now() + 5000,
    });
    await vi.advanceTimersByTimeAsync(200);
    const counts = vs.map((v) => v.host.calls.length);
    v0.source.destroy(); // uploader
    v1.source.destroy(); // downloader
    expect(await dl).toBeNull();
    for (const v of [v2, v3, v4]) v.source.destroy();
    const outs = await Promise.all(waits);
    for (const o of outs) expect(o).toBeNull();
    await vi.advanceTimersByTimeAsync(10_000);
    vs.forEach((v, i) => expect(v.host.calls.length).toBe(counts[i]));
    expect(v0.host.uploaded).toEqual([]);
    expectClean(net, tracker);
  });
});
