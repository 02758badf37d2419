/**
 * The real Engine with the real P2P layer (in-memory transport and tracker): segments move
 * between viewers, and a lying peer is caught by the hash, banned and replaced by HTTP.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Engine } from "../src/engine.js";
import type { HivecastEvents } from "../src/events.js";
import type { PeerPartial, PeerSegmentSource, SegmentKey } from "../src/p2p/contract.js";
import { createPeerSegmentSource } from "../src/p2p/peer-segment-source.js";
import type { SegmentRequest } from "../src/types.js";
import { FakeNet, ORIGINS, sha } from "./fake-net.js";
import {
  FAKE,
  TRACKER_URL,
  bytes,
  makeViewer,
  p2pConfig,
  sameBytes,
  seeded,
  testClock,
  world,
} from "./p2p-helpers.js";

const PLAYLIST = `${ORIGINS[0]}v/index.m3u8`;
const SEGMENTS = [bytes(60_000, 1), bytes(60_000, 2), bytes(60_000, 3)];

beforeEach(() => {
  vi.useFakeTimers(FAKE);
});
afterEach(() => {
  vi.useRealTimers();
});

async function fixture(): Promise<{ net: FakeNet; hashes: string[] }> {
  const net = new FakeNet();
  const hashes = await Promise.all(SEGMENTS.map((s) => sha(s)));
  const lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:4", "#EXT-X-PLAYLIST-TYPE:VOD"];
  SEGMENTS.forEach((s, i) => {
    net.files.set(`v/seg${i}.ts`, s);
    lines.push(`#EXT-X-HIVECAST-SHA256:${hashes[i]}`, "#EXTINF:4,", `seg${i}.ts`);
  });
  lines.push("#EXT-X-ENDLIST");
  net.files.set("v/index.m3u8", `${lines.join("\n")}\n`);
  return { net, hashes };
}

function request(i: number, hash: string | undefined): SegmentRequest {
  return {
    url: `${ORIGINS[0]}v/seg${i}.ts`,
    kind: "segment",
    playlistUrl: PLAYLIST,
    sn: i,
    duration: 4,
    hash,
    live: false,
    deadlineMs: 8000,
  };
}

async function run<T>(p: Promise<T>): Promise<T> {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 2000 && !done; i++) await vi.advanceTimersByTimeAsync(10);
  return p;
}

describe("Engine + P2P layer end to end", () => {
  it("a segment fetched over HTTP by one viewer is served to another by peers; r01 a lying peer is banned and HTTP takes over", async () => {
    const { net: http, hashes } = await fixture();
    const { net, tracker } = world();
    const engines: Engine[] = [];
    const events: Array<[keyof HivecastEvents, unknown]> = [];
    const mkEngine = (seed: number): Engine => {
      const e = new Engine(
        {
          origins: [...ORIGINS],
          p2p: { enabled: true, trackers: [TRACKER_URL], downloadOnly: false, joinDelayMaxMs: 0 },
        },
        {
          fetch: http.fetch,
          clock: testClock,
          random: seeded(seed),
          peerSourceFactory: (deps) =>
            createPeerSegmentSource({
              ...deps,
              transport: net.transport(),
              WebSocket: tracker.WebSocket,
            }),
        },
      );
      engines.push(e);
      return e;
    };
    const a = mkEngine(1);
    const b = mkEngine(2);
    b.on("peerBanned", (e) => events.push(["peerBanned", e]));
    const connects: Array<Parameters<HivecastEvents["peerConnected"]>[0]> = [];
    a.on("peerConnected", (e) => connects.push(e));
    b.on("integrityFailure", (e) => events.push(["integrityFailure", e]));
    await run(a.loadPlaylist(PLAYLIST));
    await vi.advanceTimersByTimeAsync(100);
    await run(b.loadPlaylist(PLAYLIST));
    await vi.advanceTimersByTimeAsync(300);
    expect(a.stats.peers).toBe(1);
    expect(b.stats.peers).toBe(1);
    // The link's type and set-up time reach the event and the stats.
    expect(connects).toHaveLength(1);
    expect(connects[0]?.linkType).toBe("host");
    expect(connects[0]?.setupMs).toBeGreaterThan(0);
    expect(a.stats.links).toEqual({ host: 1, srflx: 0, prflx: 0, relay: 0, unknown: 0 });
    expect(a.stats.byPeer[connects[0]?.peerId ?? ""]).toMatchObject({ linkType: "host" });
    expect(a.stats.linkFailures.iceFailed).toBe(0);

    const ra = await run(a.loadSegment(request(0, hashes[0])));
    expect(ra.source).toBe("http");
    await vi.advanceTimersByTimeAsync(50);
    const rb = await run(b.loadSegment(request(0, hashes[0])));
    expect(rb.source).toBe("p2p");
    expect(rb.verified).toBe(true);
    expect(sameBytes(rb.data, SEGMENTS[0] ?? new Uint8Array())).toBe(true);
    expect(http.callsTo("v/seg0.ts")).toHaveLength(1);
    expect(a.stats.uploadedBytes).toBe(60_000);

    // A third viewer lies about seg1: same size, other bytes.
    const mallory = makeViewer(net, tracker, { config: p2pConfig(), seed: 77 });
    const k1: SegmentKey = { swarmId: "v/index.m3u8", segmentId: "v/seg1.ts" };
    mallory.host.serveOverride = () => bytes(60_000, 99);
    mallory.source.updatePlaylist({
      swarmId: k1.swarmId,
      live: false,
      targetDuration: 4,
      segments: [],
    });
    await vi.advanceTimersByTimeAsync(6000);
    expect(b.stats.peers).toBe(2);
    mallory.source.announce(k1, 60_000);
    await vi.advanceTimersByTimeAsync(50);
    const r1 = await run(b.loadSegment(request(1, hashes[1])));
    expect(r1.source).toBe("http");
    expect(r1.verified).toBe(true);
    expect(sameBytes(r1.data, SEGMENTS[1] ?? new Uint8Array())).toBe(true);
    expect(events.map(([n]) => n).sort()).toEqual(["integrityFailure", "peerBanned"]);
    expect(events.find(([n]) => n === "peerBanned")?.[1]).toMatchObject({ peerId: mallory.id });
    expect(b.stats.peers).toBe(1);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(b.stats.peers).toBe(1); // never reconnected
    expect(mallory.source.peerCount()).toBe(1); // only a still talks to it

    for (const e of engines) e.destroy();
    mallory.source.destroy();
    await vi.advanceTimersByTimeAsync(1000);
    expect(net.connections()).toHaveLength(0);
    expect(tracker.openSockets()).toHaveLength(0);
  });
});

describe("an abandoned peer transfer is completed over HTTP", () => {
  const PEER = "-HC0001-partialpeer0";

  /** An Engine whose P2P layer always hands over the first `prefix` bytes from PEER. */
  async function engineWithPartial(prefix: Uint8Array): Promise<{
    engine: Engine;
    http: FakeNet;
    hashes: string[];
    reported: string[];
  }> {
    const { net: http, hashes } = await fixture();
    const reported: string[] = [];
    const source: PeerSegmentSource = {
      download: (): Promise<PeerPartial> =>
        Promise.resolve({
          partial: true,
          data: prefix,
          size: 60_000,
          peerId: PEER,
          firstByteAt: Date.now(),
          waitMs: 0,
        }),
      reportBad: (peerId) => reported.push(peerId),
      announce: () => undefined,
      forget: () => undefined,
      updatePlaylist: () => undefined,
      peerCount: () => 1,
      destroy: () => undefined,
    };
    const engine = new Engine(
      { origins: [...ORIGINS], p2p: { enabled: true, trackers: [TRACKER_URL], joinDelayMaxMs: 0 } },
      { fetch: http.fetch, clock: testClock, random: seeded(5), peerSourceFactory: () => source },
    );
    await run(engine.loadPlaylist(PLAYLIST));
    return { engine, http, hashes, reported };
  }

  it("the peer's first bytes plus one HTTP range for the rest, verified as a whole, counted per source", async () => {
    const whole = SEGMENTS[0] ?? new Uint8Array();
    const { engine, http, hashes } = await engineWithPartial(whole.slice(0, 20_000));
    const loaded: unknown[] = [];
    engine.on("segmentLoaded", (e) => loaded.push(e));
    const r = await run(engine.loadSegment(request(0, hashes[0])));
    expect(sameBytes(r.data, whole)).toBe(true);
    expect(r).toMatchObject({ source: "http", peerId: PEER, p2pBytes: 20_000, verified: true });
    expect(http.callsTo("v/seg0.ts").map((c) => c.range)).toEqual([{ start: 20_000, end: 60_000 }]);
    expect(engine.stats.bytes).toMatchObject({ p2p: 20_000, http: 40_000 });
    expect(loaded).toMatchObject([
      {
        source: "http",
        peerId: PEER,
        bytes: 60_000,
        kind: "media",
        httpBytes: 40_000,
        p2pBytes: 20_000,
      },
    ]);
    engine.destroy();
  });

  it("r01 a lying peer's first bytes: the whole fails, a full HTTP copy is played and the peer is banned", async () => {
    const { engine, http, hashes, reported } = await engineWithPartial(bytes(20_000, 99));
    const failures: unknown[] = [];
    engine.on("integrityFailure", (e) => failures.push(e));
    const r = await run(engine.loadSegment(request(0, hashes[0])));
    expect(sameBytes(r.data, SEGMENTS[0] ?? new Uint8Array())).toBe(true);
    expect(r).toMatchObject({ source: "http", verified: true });
    expect(r.p2pBytes).toBeUndefined();
    expect(http.callsTo("v/seg0.ts").map((c) => c.range)).toEqual([
      { start: 20_000, end: 60_000 },
      undefined,
    ]);
    expect(reported).toEqual([PEER]);
    expect(failures).toMatchObject([{ source: "p2p", peerId: PEER }]);
    expect(engine.stats.bytes.p2p).toBe(0);
    engine.destroy();
  });

  it("an honest peer's bytes and a corrupting origin's rest: the origin is blamed, not the peer", async () => {
    const whole = SEGMENTS[0] ?? new Uint8Array();
    const { engine, http, hashes, reported } = await engineWithPartial(whole.slice(0, 20_000));
    // Origin 0 corrupts range answers only; full answers from the others are fine.
    http.faults.set(ORIGINS[0] ?? "", (call) => (call.range ? { corrupt: true } : undefined));
    const r = await run(engine.loadSegment(request(0, hashes[0])));
    expect(sameBytes(r.data, whole)).toBe(true);
    expect(reported).toEqual([]);
    engine.destroy();
  });
});

describe("warnings from the P2P layer reach the app", () => {
  it("a tracker that goes down raises tracker-unavailable warnings, rate-limited per kind", async () => {
    const { net: http } = await fixture();
    const { net, tracker } = world();
    const engine = new Engine(
      {
        origins: [...ORIGINS],
        // A (never dialled) STUN server on loopback: no "ice-servers-missing" here.
        p2p: {
          enabled: true,
          trackers: [TRACKER_URL],
          iceServers: [{ urls: "stun:127.0.0.1:9" }],
          joinDelayMaxMs: 0,
        },
      },
      {
        fetch: http.fetch,
        clock: testClock,
        random: seeded(5),
        peerSourceFactory: (deps) =>
          createPeerSegmentSource({
            ...deps,
            transport: net.transport(),
            WebSocket: tracker.WebSocket,
          }),
      },
    );
    const warnings: Parameters<HivecastEvents["warning"]>[0][] = [];
    engine.on("warning", (w) => warnings.push(w));
    await run(engine.loadPlaylist(PLAYLIST));
    await vi.advanceTimersByTimeAsync(500);
    expect(warnings).toEqual([]);

    tracker.stop();
    await vi.advanceTimersByTimeAsync(1000);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ kind: "tracker-unavailable", suppressed: 0 });
    expect(warnings[0]?.details).toMatchObject({ tracker: TRACKER_URL });

    // Reconnect attempts keep failing: within the interval they are counted, not emitted.
    await vi.advanceTimersByTimeAsync(60_000);
    const later = warnings.slice(1);
    expect(later.length).toBeGreaterThan(0);
    expect(later.length).toBeLessThanOrEqual(60_000 / 5000 + 1);
    expect(later.every((w) => w.kind === "tracker-unavailable")).toBe(true);

    engine.destroy();
    const n = warnings.length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(warnings).toHaveLength(n); // nothing after destroy
  });
});

describe("playback start reaches the P2P layer", () => {
  it("Engine.playbackStarted is passed on once, also to a P2P layer created afterwards (consent given later)", () => {
    const calls: string[] = [];
    const source = (name: string): PeerSegmentSource => ({
      download: () => Promise.resolve(null),
      reportBad: () => undefined,
      announce: () => undefined,
      forget: () => undefined,
      updatePlaylist: () => undefined,
      playbackStarted: () => calls.push(name),
      peerCount: () => 0,
      destroy: () => undefined,
    });
    let made = 0;
    const engine = new Engine(
      { origins: [...ORIGINS], p2p: { enabled: true, trackers: [TRACKER_URL] } },
      { clock: testClock, random: seeded(1), peerSourceFactory: () => source(`p2p${++made}`) },
    );
    engine.playbackStarted();
    engine.playbackStarted();
    expect(calls).toEqual(["p2p1"]);
    engine.setP2PEnabled(false);
    engine.setP2PEnabled(true); // a new layer: it learns at once that playback is on
    expect(calls).toEqual(["p2p1", "p2p2"]);
    engine.destroy();
    engine.playbackStarted();
    expect(calls).toEqual(["p2p1", "p2p2"]);
  });
});

describe("a playback stall reaches the P2P layer", () => {
  it("Engine.playbackStalled is passed on after start-up only, every time, and not after destroy", () => {
    const stalls: string[] = [];
    const source: PeerSegmentSource = {
      download: () => Promise.resolve(null),
      reportBad: () => undefined,
      announce: () => undefined,
      forget: () => undefined,
      updatePlaylist: () => undefined,
      playbackStalled: () => stalls.push("stall"),
      peerCount: () => 0,
      destroy: () => undefined,
    };
    const engine = new Engine(
      { origins: [...ORIGINS], p2p: { enabled: true, trackers: [TRACKER_URL] } },
      { clock: testClock, random: seeded(1), peerSourceFactory: () => source },
    );
    engine.playbackStalled(); // start-up: waiting for the first fragments is not a stall
    expect(stalls).toEqual([]);
    engine.playbackStarted();
    engine.playbackStalled();
    engine.playbackStalled();
    expect(stalls).toEqual(["stall", "stall"]);
    engine.destroy();
    engine.playbackStalled();
    expect(stalls).toHaveLength(2);
  });
});
