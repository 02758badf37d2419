/**
 * The real Engine with the real P2P layer (in-memory transport and tracker): segments move
 * between viewers, and a lying peer is caught by the hash, banned and replaced by HTTP.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Engine } from "../src/engine.js";
import type { HivecastEvents } from "../src/events.js";
import type { SegmentKey } from "../src/p2p/contract.js";
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
          p2p: { enabled: true, trackers: [TRACKER_URL], downloadOnly: false },
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
    b.on("integrityFailure", (e) => events.push(["integrityFailure", e]));
    await run(a.loadPlaylist(PLAYLIST));
    await vi.advanceTimersByTimeAsync(100);
    await run(b.loadPlaylist(PLAYLIST));
    await vi.advanceTimersByTimeAsync(300);
    expect(a.stats.peers).toBe(1);
    expect(b.stats.peers).toBe(1);

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
