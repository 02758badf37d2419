import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Engine } from "../src/engine.js";
import { HivecastError } from "../src/errors.js";
import type { PeerDownload, PeerSegmentSource } from "../src/p2p/contract.js";
import { SegmentStore, type StoredSegment } from "../src/segment-store.js";
import type { SegmentRequest } from "../src/types.js";
import { FakePeers, P2P_ON, pick, PLAYLIST, seg, setup, StartablePeers } from "./engine-harness.js";
import { bytes, FAKE_TIMERS, ORIGINS, sameBytes, sha, rejection } from "./fake-net.js";

const [A, B] = ORIGINS;
const KEY0 = { swarmId: "v/index.m3u8", segmentId: "v/seg0.ts" };

/** seg0 (20 000 bytes) on every origin, with its hash passed the way the adapter passes tags. */
async function oneSegment(
  net: { files: Map<string, Uint8Array | string> },
  size = 20_000,
): Promise<SegmentRequest> {
  const data = bytes(size, 1);
  net.files.set("v/seg0.ts", data);
  return { url: seg(0), kind: "segment", playlistUrl: PLAYLIST, hash: await sha(data) };
}

function peerDownload(data: Uint8Array, peerId = "peer-1"): PeerDownload {
  return { data, peerId, firstByteAt: Date.now(), waitMs: 40 };
}

describe("config", () => {
  it("rejects a bad config with a message naming the field", () => {
    const cases: Array<[ConstructorParameters<typeof Engine>[0], string]> = [
      [{ origins: ["https://ok.test/", "not a url"] }, "origins[1]"],
      [{ origins: ["ftp://x.test/"] }, "origins[0]"],
      [{ http: { hedgeFactor: 0.5 } }, "http.hedgeFactor"],
      [
        {
          http: {
            segmentRetry: {
              maxNumRetry: 1,
              retryDelayMs: 1,
              maxRetryDelayMs: 1,
              backoff: "exponential",
              jitter: 2,
            },
          },
        },
        "http.segmentRetry.jitter",
      ],
      [{ integrity: "sometimes" as "off" }, "integrity"],
      [{ p2p: { trackers: ["http://tracker.test"] } }, "p2p.trackers[0]"],
      [{ storeMaxBytes: -1 }, "storeMaxBytes"],
      [{ p2p: { iceGatherTimeoutMs: 0 } }, "p2p.iceGatherTimeoutMs"],
      [{ p2p: { iceGatherTimeoutMs: Number.POSITIVE_INFINITY } }, "p2p.iceGatherTimeoutMs"],
      [{ p2p: { mainThreadLagMs: -1 } }, "p2p.mainThreadLagMs"],
      [{ p2p: { mainThreadLagMs: Number.NaN } }, "p2p.mainThreadLagMs"],
    ];
    for (const [config, field] of cases) {
      let caught: unknown;
      try {
        new Engine(config);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(HivecastError);
      expect((caught as HivecastError).code).toBe("CONFIG_INVALID");
      expect((caught as HivecastError).message).toContain(`"${field}"`);
    }
    const engine = new Engine({ http: { hedgeFactor: 3 } });
    expect(engine.config.http.hedgeFactor).toBe(3);
    expect(engine.config.http.minHedgeDelayMs).toBe(800);
    expect(Object.isFrozen(engine.config.http)).toBe(true);
    engine.destroy();
  });
});

describe("Engine segment flow", () => {
  it("HTTP → verify → store → announce → segmentLoaded, with timings and stats", async () => {
    const peers = new FakePeers();
    const { engine, net, events } = setup({ p2p: P2P_ON }, { peers });
    const req = await oneSegment(net);
    const progress: number[] = [];
    const r = await engine.loadSegment(req, { onProgress: (n) => progress.push(n) });
    expect([r.source, r.origin, r.verified]).toEqual(["http", A, true]);
    expect(r.timing.start).toBeLessThanOrEqual(r.timing.firstByte);
    expect(r.timing.firstByte).toBeLessThanOrEqual(r.timing.end);
    expect(progress.at(-1)).toBe(20_000);
    expect(peers.downloads).toHaveLength(1); // peers asked first: hash known
    expect(peers.announced).toEqual([{ key: KEY0, size: 20_000 }]);
    expect(pick(events, "segmentLoaded")).toEqual([
      {
        url: seg(0),
        source: "http",
        origin: A,
        peerId: undefined,
        bytes: 20_000,
        ms: r.timing.end - r.timing.start,
        kind: "media",
        httpBytes: 20_000,
        p2pBytes: 0,
        origins: [{ origin: A, bytes: 20_000 }],
        verified: true,
      },
    ]);
    // The caller gets its own copy: transferring it (as hls.js does) cannot empty the store.
    r.data.fill(0);
    expect(sameBytes(peers.store?.getShareable(KEY0) ?? new Uint8Array(), bytes(20_000, 1))).toBe(
      true,
    );
    const s = engine.stats;
    expect(s.bytes).toEqual({ http: 20_000, p2p: 0, cache: 0 });
    expect(s.segments).toEqual({ http: 1, p2p: 0, cache: 0, failed: 0 });
    expect(s.byOrigin[A]).toMatchObject({
      bytes: 20_000,
      requests: 1,
      failures: 0,
      state: "healthy",
    });
    expect(s.peers).toBe(2);
    expect(s.offload).toBe(0);
  });

  it("serves only the requested byte range, keyed with @start-end", async () => {
    const peers = new FakePeers();
    const { engine, net } = setup({ p2p: P2P_ON, integrity: "off" }, { peers });
    net.files.set("v/all.mp4", bytes(10_000, 4));
    const r = await engine.loadSegment({
      url: `${A}v/all.mp4`,
      kind: "segment",
      playlistUrl: PLAYLIST,
      byteRange: { start: 1000, end: 3000 },
    });
    expect(sameBytes(r.data, bytes(10_000, 4).subarray(1000, 3000))).toBe(true);
    expect(net.calls.at(-1)?.range).toEqual({ start: 1000, end: 3000 });
    expect(peers.announced.map((a) => a.key.segmentId)).toEqual(["v/all.mp4@1000-3000"]);
    // A server that ignores Range still yields exactly the range.
    net.faults.set(A, () => ({ ignoreRange: true }));
    const r2 = await engine.loadSegment({
      url: `${A}v/all.mp4`,
      kind: "segment",
      playlistUrl: PLAYLIST,
      byteRange: { start: 5000, end: 5100 },
    });
    expect(sameBytes(r2.data, bytes(10_000, 4).subarray(5000, 5100))).toBe(true);
  });

  it("P2P serves a verified segment: source p2p, announced, offload counted, waitMs passed through", async () => {
    const peers = new FakePeers();
    const { engine, net, events } = setup({ p2p: P2P_ON }, { peers });
    const req = await oneSegment(net);
    peers.serve = async () => peerDownload(bytes(20_000, 1));
    const r = await engine.loadSegment(req);
    expect([r.source, r.peerId, r.verified, r.timing.waitMs]).toEqual(["p2p", "peer-1", true, 40]);
    expect(net.calls).toHaveLength(0);
    expect(peers.announced).toEqual([{ key: KEY0, size: 20_000 }]);
    expect(pick(events, "segmentLoaded")[0]).toMatchObject({
      source: "p2p",
      peerId: "peer-1",
      bytes: 20_000,
    });
    expect(engine.stats.offload).toBe(1);
    expect(engine.stats.byPeer["peer-1"]).toEqual({ downloadedBytes: 20_000, uploadedBytes: 0 });
  });

  it("r01 a peer's wrong bytes are discarded: reportBad, integrityFailure{p2p}, then verified HTTP", async () => {
    const peers = new FakePeers();
    const { engine, net, events } = setup({ p2p: P2P_ON }, { peers });
    const req = await oneSegment(net);
    const evil = bytes(20_000, 1);
    evil[5] = (evil[5] ?? 0) ^ 1;
    peers.serve = async () => peerDownload(evil, "evil");
    const r = await engine.loadSegment(req);
    expect([r.source, r.verified]).toEqual(["http", true]);
    expect(sameBytes(r.data, bytes(20_000, 1))).toBe(true);
    expect(peers.bad).toEqual([{ peerId: "evil", key: KEY0, reason: "hash mismatch" }]);
    expect(pick(events, "integrityFailure")).toEqual([
      { url: seg(0), source: "p2p", peerId: "evil", expected: req.hash, actual: await sha(evil) },
    ]);
    expect(engine.stats.byPeer["evil"]).toBeUndefined();
  });

  it("gives peers until deadline − expected HTTP time (with margin); a short budget without a deadline", async () => {
    const peers = new FakePeers();
    const { engine, net } = setup({ p2p: P2P_ON }, { peers });
    const req = await oneSegment(net);
    const t0 = Date.now();
    await engine.loadSegment({ ...req, deadlineMs: 10_000 });
    // Unmeasured origins: 2000 ms estimate × 1.5 + 300 ms margin.
    expect((peers.downloads[0]?.giveUpAt ?? 0) - t0).toBeGreaterThanOrEqual(10_000 - 3300);
    expect((peers.downloads[0]?.giveUpAt ?? 0) - t0).toBeLessThanOrEqual(10_000 - 3300 + 50);
    net.files.set("v/seg1.ts", bytes(10));
    const t1 = Date.now();
    await engine.loadSegment({
      url: seg(1),
      kind: "segment",
      playlistUrl: PLAYLIST,
      hash: await sha(bytes(10)),
    });
    expect((peers.downloads[1]?.giveUpAt ?? 0) - t1).toBeLessThanOrEqual(550);
    // No time left for peers at all: straight to HTTP.
    net.files.set("v/seg2.ts", bytes(10, 2));
    await engine.loadSegment({
      url: seg(2),
      kind: "segment",
      playlistUrl: PLAYLIST,
      hash: await sha(bytes(10, 2)),
      deadlineMs: 100,
    });
    expect(peers.downloads).toHaveLength(2);
  });

  it("a throwing P2P layer never stops playback", async () => {
    const peers = new FakePeers();
    const { engine, net } = setup({ p2p: P2P_ON }, { peers });
    const req = await oneSegment(net);
    peers.serve = async () => {
      throw new Error("p2p bug");
    };
    expect((await engine.loadSegment(req)).source).toBe("http");
  });

  it("consent switch: P2P exists only when enabled with trackers; disabling destroys it; playlists are replayed", async () => {
    const peers = new FakePeers();
    const { engine, net } = setup({}, { peers });
    net.files.set("v/index.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\nseg0.ts\n");
    await engine.loadPlaylist(PLAYLIST);
    expect(peers.host).toBeUndefined();
    expect(engine.config.p2p.enabled).toBe(false);
    engine.setP2PEnabled(true); // no trackers configured: nothing is created
    expect(peers.host).toBeUndefined();

    const withTrackers = setup({ p2p: { trackers: ["ws://t.test"] } }, { peers });
    withTrackers.net.files.set(
      "v/index.m3u8",
      "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\nseg0.ts\n",
    );
    await withTrackers.engine.loadPlaylist(PLAYLIST);
    expect(peers.host).toBeUndefined();
    withTrackers.engine.setP2PEnabled(true);
    expect(peers.host).toBeDefined();
    expect(withTrackers.engine.config.p2p.enabled).toBe(true);
    expect(peers.playlists).toEqual([
      {
        swarmId: "v/index.m3u8",
        live: true,
        targetDuration: 4,
        segments: [{ segmentId: "v/seg0.ts", sn: 0, duration: 4 }],
      },
    ]);
    withTrackers.engine.setP2PEnabled(false);
    expect(peers.destroyed).toBe(true);
    expect(withTrackers.engine.stats.peers).toBe(0);

    const swarm = setup({ p2p: { ...P2P_ON, swarmId: "my-stream" } }, { peers: new FakePeers() });
    expect(swarm.peers?.host).toBeDefined(); // enabled at construction
  });

  it("consent given after segments were verified: the new P2P layer is told about the ones still held", async () => {
    const peers = new FakePeers();
    const { engine, net } = setup({ p2p: { trackers: ["ws://t.test"] } }, { peers });
    const req = await oneSegment(net);
    expect((await engine.loadSegment(req)).verified).toBe(true);
    net.files.set("v/seg1.ts", bytes(5_000, 2));
    // No hash for this one: kept for local retries only, never offered to peers.
    await engine.loadSegment({ url: seg(1), kind: "segment", playlistUrl: PLAYLIST });
    expect(peers.host).toBeUndefined();
    engine.setP2PEnabled(true);
    expect(peers.announced).toEqual([{ key: KEY0, size: 20_000 }]);
  });

  it("a factory that builds its layer later: the Engine's catch-up tells it playlists, held segments, start-up", async () => {
    const standIn = new FakePeers();
    const later = new StartablePeers();
    let catchUp: ((source: PeerSegmentSource) => void) | undefined;
    const { engine, net } = setup(
      { p2p: P2P_ON },
      {
        deps: {
          peerSourceFactory: (deps) => {
            catchUp = deps.catchUp;
            return standIn;
          },
        },
      },
    );
    net.files.set("v/index.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\nseg0.ts\n");
    await engine.loadPlaylist(PLAYLIST);
    const req = await oneSegment(net);
    expect((await engine.loadSegment(req)).verified).toBe(true);
    engine.playbackStarted();
    expect(later.playlists).toEqual([]);
    catchUp?.(later);
    expect(later.playlists.map((p) => p.swarmId)).toEqual(["v/index.m3u8"]);
    expect(later.announced).toEqual([{ key: KEY0, size: 20_000 }]);
    expect(later.started).toBe(1);
    engine.destroy();
    const afterDestroy = new StartablePeers();
    catchUp?.(afterDestroy); // a layer that loads after destroy is told nothing
    expect([afterDestroy.playlists, afterDestroy.announced, afterDestroy.started]).toEqual([
      [],
      [],
      0,
    ]);
  });

  it("PeerHost relays peer events and counts uploads", async () => {
    const peers = new FakePeers();
    const { engine, events } = setup({ p2p: P2P_ON }, { peers });
    peers.host?.onPeerConnected("p1");
    peers.host?.onUploaded("p1", 1234);
    peers.host?.onPeerBanned("p1", "bad bytes");
    peers.host?.onPeerDisconnected("p1", "banned");
    expect(events.map((e) => e.name)).toEqual(["peerConnected", "peerBanned", "peerDisconnected"]);
    expect(pick(events, "peerBanned")).toEqual([{ peerId: "p1", reason: "bad bytes" }]);
    expect(engine.stats.uploadedBytes).toBe(1234);
    expect(engine.stats.byPeer["p1"]).toEqual({ downloadedBytes: 0, uploadedBytes: 1234 });
  });

  it("store evictions tell the P2P layer the segment is gone", async () => {
    const peers = new FakePeers();
    const { engine, net } = setup(
      { p2p: P2P_ON, integrity: "off", storeMaxBytes: 25_000 },
      { peers },
    );
    net.files.set("v/seg0.ts", bytes(10_000, 1));
    net.files.set("v/seg1.ts", bytes(10_000, 2));
    net.files.set("v/seg2.ts", bytes(10_000, 3));
    for (let i = 0; i < 3; i++)
      await engine.loadSegment({ url: seg(i), kind: "segment", playlistUrl: PLAYLIST });
    expect(peers.forgotten).toEqual([KEY0]);
  });

  it("a fatal HTTP failure rejects with a clear error, emits it, and counts it", async () => {
    const { engine, events } = setup({ integrity: "optional" });
    const e = await rejection(
      engine.loadSegment({ url: seg(9), kind: "segment", playlistUrl: PLAYLIST }),
    );
    expect([e.code, e.fatal, e.details["status"]]).toEqual(["ALL_ORIGINS_FAILED", true, 404]);
    expect(pick(events, "error")).toEqual([e]);
    expect(engine.stats).toMatchObject({ errors: 1, segments: { failed: 1 } });
  });

  it("counts hedges and retries in stats", async () => {
    vi.useFakeTimers(FAKE_TIMERS);
    try {
      const { engine, net } = setup({ integrity: "off", http: { splitThresholdBytes: 0 } });
      net.files.set("v/seg0.ts", bytes(1000));
      net.files.set("v/seg1.ts", bytes(1000));
      net.faults.set(A, (c) => (c.path === "v/seg0.ts" ? { headerDelayMs: 10_000 } : undefined));
      net.faults.set(B, (c) => (c.path === "v/seg1.ts" ? { status: 500 } : undefined));
      const p = engine.loadSegment({ url: seg(0), kind: "segment", playlistUrl: PLAYLIST });
      await vi.advanceTimersByTimeAsync(2000);
      expect((await p).origin).toBe(B);
      await engine.loadSegment({ url: seg(1), kind: "segment", playlistUrl: PLAYLIST });
      expect(engine.stats).toMatchObject({ hedges: 1, retries: 1 });
      engine.destroy();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("Engine blocking playlist reloads (LL-HLS)", () => {
  beforeEach(() => vi.useFakeTimers(FAKE_TIMERS));
  afterEach(() => vi.useRealTimers());

  const LIVE = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\nseg0.ts\n";

  it("waits on the origin holding an `_HLS_msn` reload, up to the caller's bound, without hedging", async () => {
    const { engine, net } = setup({ http: { firstByteTimeoutMs: 2000, minHedgeDelayMs: 500 } });
    net.files.set("v/index.m3u8", LIVE);
    net.faults.set(A, (c) => (c.path.endsWith(".m3u8") ? { headerDelayMs: 5000 } : undefined));
    const p = engine.loadPlaylist(`${PLAYLIST}?_HLS_msn=7&_HLS_part=1`, { blockingHoldMs: 6000 });
    await vi.advanceTimersByTimeAsync(5000);
    expect((await p).origin).toBe(A);
    const playlistCalls = (): number => net.calls.filter((c) => c.path.endsWith(".m3u8")).length;
    expect(playlistCalls()).toBe(1);
    expect(engine.stats.hedges).toBe(0);

    // `_HLS_msn` only counts as a query parameter of its own: this one is an ordinary request,
    // hedged at hedgeFactor × minHedgeDelayMs.
    const q = engine.loadPlaylist(`${PLAYLIST}?x_HLS_msn=7`, { blockingHoldMs: 6000 });
    await vi.advanceTimersByTimeAsync(1000);
    expect((await q).origin).toBe(B);
    expect(playlistCalls()).toBe(3);
    expect(engine.stats.hedges).toBe(1);
    engine.destroy();
  });

  it("without a usable bound from the caller, an origin may hold a blocking reload for http.requestTimeoutMs", async () => {
    const { engine, net } = setup({
      http: { firstByteTimeoutMs: 2000, requestTimeoutMs: 12_000, minHedgeDelayMs: 500 },
    });
    net.files.set("v/index.m3u8", LIVE);
    net.faults.set(A, (c) =>
      c.path.endsWith(".m3u8")
        ? { headerDelayMs: c.url.includes("_HLS_msn=8") ? 12_500 : 11_000 }
        : undefined,
    );
    const held = engine.loadPlaylist(`${PLAYLIST}?_HLS_msn=9`, { blockingHoldMs: Number.NaN });
    await vi.advanceTimersByTimeAsync(11_000);
    expect((await held).origin).toBe(A);
    // Past the bound, the reload moves on to the next origin.
    const over = engine.loadPlaylist(`${PLAYLIST}?_HLS_msn=8`);
    await vi.advanceTimersByTimeAsync(12_000);
    expect((await over).origin).toBe(B);
    engine.destroy();
  });
});

describe("SegmentStore", () => {
  const entry = (id: string, size: number): StoredSegment => ({
    key: { swarmId: "s", segmentId: id },
    data: new Uint8Array(size),
    verified: true,
  });

  it("is a byte-capped LRU that reports evictions", () => {
    const evicted: string[] = [];
    const store = new SegmentStore({
      maxBytes: 100,
      maxPendingBytes: 100,
      shareUnverified: false,
      onEvict: (e) => evicted.push(e.key.segmentId),
    });
    store.put(entry("a", 40));
    store.put(entry("b", 40));
    expect(store.get({ swarmId: "s", segmentId: "a" })).toBeDefined(); // a is now most recent
    store.put(entry("c", 40));
    expect(evicted).toEqual(["b"]);
    expect([store.size, store.bytes]).toEqual([2, 80]);
    store.put(entry("a", 10)); // replacing is not an eviction
    expect([evicted.length, store.bytes]).toEqual([1, 50]);
    expect(store.put(entry("huge", 101))).toBe(false);
    store.put(entry("d", 100));
    expect(evicted).toEqual(["b", "c", "a"]);
    expect([store.size, store.bytes]).toEqual([1, 100]);
    store.clear();
    expect([store.size, store.bytes, evicted.length]).toEqual([0, 0, 3]);
  });

  it("keeps pending (prefetched peer) bytes in their own capped tier, never shared, at most once", () => {
    const store = new SegmentStore({
      maxBytes: 100,
      maxPendingBytes: 50,
      shareUnverified: false,
      onEvict: () => undefined,
    });
    const key = (id: string) => ({ swarmId: "s", segmentId: id });
    const pending = (id: string, size: number, peerId = "p1") => ({
      key: key(id),
      data: new Uint8Array(size),
      peerId,
      sn: Number(id.slice(1)),
    });
    expect(store.putPending(pending("s1", 30))).toBe(true);
    expect(store.putPending(pending("s2", 30))).toBe(false); // over the pending cap
    expect(store.putPending(pending("s1", 10))).toBe(false); // held already
    expect([store.pendingBytes, store.bytes]).toEqual([30, 0]);
    expect(store.getShareable(key("s1"))).toBeUndefined(); // pending is never uploaded
    expect(store.get(key("s1"))).toBeUndefined(); // nor replayed unverified
    expect(store.has(key("s1"))).toBe(true);
    // Keeping the verified copy drops the pending one: one copy per segment.
    store.put({ key: key("s1"), data: new Uint8Array(30), verified: true });
    expect([store.pendingBytes, store.bytes]).toEqual([0, 30]);
    expect(store.getShareable(key("s1"))).toBeDefined();
    expect(store.putPending(pending("s1", 30))).toBe(false); // kept already
    // Unverified kept bytes replay locally but are not shared (policy not "off").
    store.put({ key: key("s3"), data: new Uint8Array(10), verified: false });
    expect(store.get(key("s3"))).toBeDefined();
    expect(store.getShareable(key("s3"))).toBeUndefined();
    // What a P2P layer created later is told about: the shareable kept entries only.
    expect([...store.shareable()]).toEqual([{ key: key("s1"), size: 30 }]);
    expect(store.putPending(pending("s4", 20, "liar"))).toBe(true);
    expect(store.putPending(pending("s5", 20, "honest"))).toBe(true);
    store.dropPending((e) => e.peerId === "liar");
    expect(store.takePending(key("s4"))).toBeUndefined();
    expect(store.takePending(key("s5"))?.peerId).toBe("honest");
    expect(store.pendingBytes).toBe(0);
  });

  it("shares unverified kept bytes only under integrity policy off", () => {
    const store = new SegmentStore({
      maxBytes: 100,
      maxPendingBytes: 100,
      shareUnverified: true,
      onEvict: () => undefined,
    });
    const key = { swarmId: "s", segmentId: "a" };
    store.put({ key, data: new Uint8Array(10), verified: false });
    expect(store.getShareable(key)?.length).toBe(10);
    expect([...store.shareable()]).toEqual([{ key, size: 10 }]);
  });
});

describe("r17 destroy() during every stage", () => {
  beforeEach(() => vi.useFakeTimers(FAKE_TIMERS));
  afterEach(() => vi.useRealTimers());

  it("r17 during loading (a trickling origin): rejects DESTROYED, no callback after, no timer, no fetch left open", async () => {
    const { engine, net } = setup({ integrity: "off" });
    net.files.set("v/seg0.ts", bytes(100_000));
    for (const o of ORIGINS) net.faults.set(o, () => ({ chunkBytes: 1000, chunkDelayMs: 500 }));
    const calls: string[] = [];
    engine.on("segmentLoaded", () => calls.push("loaded"));
    engine.on("error", () => calls.push("error"));
    const p = rejection(
      engine.loadSegment(
        { url: seg(0), kind: "segment", playlistUrl: PLAYLIST },
        { onProgress: () => calls.push("progress") },
      ),
    );
    await vi.advanceTimersByTimeAsync(2000); // hedged by now: two requests streaming
    expect(net.pending().length).toBeGreaterThanOrEqual(2);
    const before = calls.length;
    expect(before).toBeGreaterThan(0);
    engine.destroy();
    expect((await p).code).toBe("DESTROYED");
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls.length).toBe(before);
    expect(vi.getTimerCount()).toBe(0);
    expect(net.pending()).toEqual([]);
    expect(net.calls.every((c) => c.signal?.aborted)).toBe(true);
    expect(engine.listenerCount()).toBe(0);
    expect(
      (await rejection(engine.loadSegment({ url: seg(0), kind: "segment", playlistUrl: PLAYLIST })))
        .code,
    ).toBe("DESTROYED");
    expect((await rejection(engine.loadPlaylist(PLAYLIST))).code).toBe("DESTROYED");
  });

  it("r17 during verifying: the hash resolves after destroy and nothing is delivered or stored", async () => {
    let finishHash: (h: string) => void = () => undefined;
    const peers = new FakePeers();
    const { engine, net } = setup(
      { p2p: P2P_ON },
      { peers, deps: { sha256: () => new Promise((r) => (finishHash = r)) } },
    );
    const req = await oneSegment(net);
    const loaded = vi.fn();
    engine.on("segmentLoaded", loaded);
    const p = rejection(engine.loadSegment(req));
    await vi.advanceTimersByTimeAsync(600); // peers' 500 ms budget passes, HTTP completes
    expect(net.calls).toHaveLength(1);
    engine.destroy();
    finishHash(req.hash ?? "");
    expect((await p).code).toBe("DESTROYED");
    expect(loaded).not.toHaveBeenCalled();
    expect(peers.announced).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("r17 while waiting for peers: the P2P layer is destroyed, its signal aborted, the load rejects", async () => {
    const peers = new FakePeers();
    let peerSignal: AbortSignal | undefined;
    peers.serve = (_key, signal) => {
      peerSignal = signal;
      return new Promise((_, reject) =>
        signal.addEventListener("abort", () => reject(signal.reason)),
      );
    };
    const { engine, net } = setup({ p2p: P2P_ON }, { peers });
    const req = await oneSegment(net);
    const p = rejection(engine.loadSegment({ ...req, deadlineMs: 30_000 }));
    await vi.advanceTimersByTimeAsync(1000);
    expect(peers.downloads).toHaveLength(1);
    engine.destroy();
    expect((await p).code).toBe("DESTROYED");
    expect(peerSignal?.aborted).toBe(true);
    expect(peers.destroyed).toBe(true);
    expect(net.calls).toHaveLength(0);
    expect(vi.getTimerCount()).toBe(0);
    expect(peers.store?.getShareable(KEY0)).toBeUndefined(); // nothing left to upload
    peers.host?.onPeerConnected("late"); // a late relay from the P2P layer fires nothing
    peers.host?.onUploaded("late", 10);
    expect(engine.stats.uploadedBytes).toBe(0);
  });

  it("r17 during a live manifest refetch backoff", async () => {
    const { engine, net } = setup({ integrityManifestRetries: 3 });
    net.files.set("v/index.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\nseg0.ts\n");
    net.files.set("v/segments-sha256.json", "{}");
    net.files.set("v/seg0.ts", bytes(100));
    await engine.loadPlaylist(PLAYLIST);
    const p = rejection(
      engine.loadSegment({ url: seg(0), kind: "segment", playlistUrl: PLAYLIST, live: true }),
    );
    await vi.advanceTimersByTimeAsync(100);
    expect(vi.getTimerCount()).toBe(1); // the backoff before the first refetch
    engine.destroy();
    expect((await p).code).toBe("DESTROYED");
    expect(vi.getTimerCount()).toBe(0);
    // Without peers the origin was asked at once, while the hash was still being looked for;
    // nothing more after the destroy.
    expect(net.calls.filter((c) => c.path.endsWith(".ts"))).toHaveLength(1);
  });

  it("r17 with an open breaker's half-open probe scheduled", async () => {
    const { engine, net, events } = setup({ integrity: "off", http: { breakerThreshold: 1 } });
    net.files.set("v/seg0.ts", bytes(100));
    net.faults.set(A, () => ({ status: 503 }));
    expect(
      (await engine.loadSegment({ url: seg(0), kind: "segment", playlistUrl: PLAYLIST })).origin,
    ).toBe(B);
    expect(pick(events, "originStateChanged")).toEqual([{ origin: A, state: "open" }]);
    expect(vi.getTimerCount()).toBe(1); // the probe
    engine.destroy();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a caller's abort rejects with ABORTED and leaves nothing running", async () => {
    const { engine, net } = setup({ integrity: "off" });
    net.files.set("v/seg0.ts", bytes(100_000));
    net.faults.set(A, () => ({ chunkBytes: 1000, chunkDelayMs: 300 }));
    const ac = new AbortController();
    const p = rejection(
      engine.loadSegment(
        { url: seg(0), kind: "segment", playlistUrl: PLAYLIST },
        { signal: ac.signal },
      ),
    );
    await vi.advanceTimersByTimeAsync(500);
    ac.abort();
    const e = await p;
    expect([e.code, e.fatal]).toEqual(["ABORTED", true]);
    expect(net.pending()).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
    engine.destroy();
  });
});
