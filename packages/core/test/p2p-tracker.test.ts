import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import fc from "fast-check";
import {
  MAX_TRACKER_MESSAGE_CHARS,
  TrackerClient,
  parseTrackerMessage,
  type TrackerAnnounce,
  type TrackerSubscriber,
} from "../src/p2p/tracker-client.js";
import { backoffDelay } from "../src/backoff.js";
import { MemoryTracker } from "../src/testing/memory-tracker.js";
import type { SegmentKey } from "../src/p2p/contract.js";
import type {
  PeerConnection,
  PeerConnectionEvents,
  PeerTransport,
} from "../src/p2p/peer-transport.js";
import { TypedEmitter } from "../src/events.js";
import {
  FAKE,
  TRACKER_URL,
  bytes,
  makeViewer,
  p2pConfig,
  playlist,
  sameBytes,
  testClock,
  world,
} from "./p2p-helpers.js";

const H = "h".repeat(20);
const P = "p".repeat(20);
const O = "o".repeat(20);
const SDP = { type: "offer", sdp: "v=0\r\n" };

describe("parseTrackerMessage validates every field", () => {
  it("accepts announce replies, offers and answers; ignores unknown fields", () => {
    expect(
      parseTrackerMessage(
        JSON.stringify({ action: "announce", info_hash: H, interval: 120, complete: 3, x: [1] }),
      ),
    ).toEqual({ infoHash: H, intervalSec: 120 });
    expect(
      parseTrackerMessage(
        JSON.stringify({ action: "announce", info_hash: H, complete: 3, incomplete: 4 }),
      ),
    ).toEqual({ infoHash: H, swarmPeers: 7 });
    for (const bad of [-1, 1.5, "4", 1e12, null])
      expect(
        parseTrackerMessage(
          JSON.stringify({ action: "announce", info_hash: H, complete: 3, incomplete: bad }),
        ),
      ).toEqual({ infoHash: H });
    expect(
      parseTrackerMessage(
        JSON.stringify({ action: "announce", info_hash: H, peer_id: P, offer_id: O, offer: SDP }),
      ),
    ).toEqual({ infoHash: H, peerId: P, offerId: O, offer: SDP });
    expect(
      parseTrackerMessage(
        new TextEncoder().encode(
          JSON.stringify({
            action: "announce",
            info_hash: H,
            peer_id: P,
            offer_id: O,
            answer: { type: "answer", sdp: "x" },
          }),
        ),
      ),
    ).toMatchObject({ answer: { type: "answer", sdp: "x" } });
    expect(
      parseTrackerMessage(
        JSON.stringify({ action: "announce", info_hash: H, "failure reason": "nope" }),
      ),
    ).toEqual({ infoHash: H, failure: "nope" });
  });

  it("reads the skip_peer_ids extension from a reply's extensions, and nothing else", () => {
    const reply = (extensions: unknown): TrackerAnnounce | undefined =>
      parseTrackerMessage(JSON.stringify({ action: "announce", info_hash: H, extensions }));
    expect(reply(["other", "skip_peer_ids"])).toEqual({ infoHash: H, skipsPeers: true });
    for (const bad of ["skip_peer_ids", { skip_peer_ids: true }, [1, null, {}], ["skip"], null])
      expect(reply(bad)).toEqual({ infoHash: H });
  });

  it("rejects malformed messages", () => {
    const bad: unknown[] = [
      "not json",
      "[]",
      "null",
      "42",
      JSON.stringify({ action: "scrape", info_hash: H }),
      JSON.stringify({ action: "announce", info_hash: "short" }),
      JSON.stringify({ action: "announce", info_hash: 12 }),
      JSON.stringify({ action: "announce" }),
      JSON.stringify({
        action: "announce",
        info_hash: H,
        junk: "x".repeat(MAX_TRACKER_MESSAGE_CHARS),
      }),
      new Uint8Array([0xff, 0xfe, 0x00]),
      { data: "object" },
      undefined,
    ];
    for (const b of bad) expect(parseTrackerMessage(b)).toBeUndefined();
    // an offer with a wrong type, missing sdp, oversized sdp, or a short peer id carries no offer
    for (const offer of [
      { type: "answer", sdp: "x" },
      { type: "offer" },
      { type: "offer", sdp: 5 },
      { type: "offer", sdp: "x".repeat(40_000) },
      "offer",
    ]) {
      const m = parseTrackerMessage(
        JSON.stringify({ action: "announce", info_hash: H, peer_id: P, offer_id: O, offer }),
      );
      expect(m?.offer).toBeUndefined();
      expect(m?.peerId).toBeUndefined();
    }
    const noId = parseTrackerMessage(
      JSON.stringify({
        action: "announce",
        info_hash: H,
        peer_id: "short",
        offer_id: O,
        offer: SDP,
      }),
    );
    expect(noId?.offer).toBeUndefined();
  });

  it("never throws on random input", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.uint8Array(),
          fc
            .record({
              action: fc.constantFrom("announce", "scrape", 1),
              info_hash: fc.oneof(fc.string({ minLength: 20, maxLength: 20 }), fc.anything()),
              peer_id: fc.anything(),
              offer_id: fc.anything(),
              offer: fc.anything(),
              answer: fc.anything(),
              interval: fc.anything(),
            })
            .map((r) => JSON.stringify(r) ?? ""),
        ),
        (input) => {
          const m: TrackerAnnounce | undefined = parseTrackerMessage(input);
          if (m) expect(m.infoHash).toHaveLength(20);
        },
      ),
      { numRuns: 5000, seed: 11 },
    );
  });
});

describe("r10 tracker restarts", () => {
  beforeEach(() => {
    vi.useFakeTimers(FAKE);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("the client reconnects with jittered exponential backoff and re-announces", async () => {
    const tracker = new MemoryTracker({ clock: testClock });
    const retry = p2pConfig().p2p.trackerRetry;
    const draws = [0.1, 0.9, 0.5, 0.3];
    let i = 0;
    const random = (): number => draws[i++ % draws.length] ?? 0.5;
    const client = new TrackerClient({
      url: TRACKER_URL,
      clock: testClock,
      random,
      retry,
      connectTimeoutMs: 2000,
      WebSocket: tracker.WebSocket,
    });
    const opened: number[] = [];
    const sub: TrackerSubscriber = {
      infoHash: H,
      onTrackerOpen: () => opened.push(Date.now()),
      onTrackerMessage: () => undefined,
    };
    const t0 = Date.now();
    client.subscribe(sub);
    await vi.advanceTimersByTimeAsync(10);
    expect(client.connected).toBe(true);
    expect(opened).toHaveLength(1);

    tracker.stop(); // restart begins: sockets close, new ones are refused
    await vi.advanceTimersByTimeAsync(5); // close delivered
    expect(client.connected).toBe(false);
    const expected = [0, 1, 2].map((n, k) =>
      backoffDelay(retry, n, () => draws[k % draws.length] ?? 0.5),
    );
    expect(expected[0]).toBe(600); // 1000 × (1 + 0.5 × (0.2 − 1))
    expect(expected[1]).toBe(2800); // 2000 × (1 + 0.5 × (1.8 − 1))
    let attempts = client.socketsOpened;
    for (const d of expected) {
      await vi.advanceTimersByTimeAsync(d - 1);
      expect(client.socketsOpened).toBe(attempts);
      await vi.advanceTimersByTimeAsync(1);
      expect(client.socketsOpened).toBe(attempts + 1);
      attempts++;
      await vi.advanceTimersByTimeAsync(5); // refused
    }
    tracker.start();
    const next = backoffDelay(retry, 3, () => draws[3] ?? 0.5);
    await vi.advanceTimersByTimeAsync(next + 10);
    expect(client.connected).toBe(true);
    expect(opened).toHaveLength(2);
    expect(opened[1]).toBeGreaterThan(t0);
    client.destroy();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("peers stay connected while the tracker is down; the swarm re-forms after it returns", async () => {
    const { net, tracker } = world();
    const a = makeViewer(net, tracker);
    const b = makeViewer(net, tracker);
    const info = playlist("live/a.m3u8", true, 5, 10);
    const k: SegmentKey = { swarmId: info.swarmId, segmentId: "seg-11.ts" };
    for (const v of [a, b]) {
      v.source.updatePlaylist(info);
      await vi.advanceTimersByTimeAsync(100);
    }
    await vi.advanceTimersByTimeAsync(200);
    expect(a.source.peerCount()).toBe(1);
    tracker.stop();
    await vi.advanceTimersByTimeAsync(20_000);
    expect(a.source.peerCount()).toBe(1); // playback never depended on the tracker
    a.host.put(k, bytes(5000));
    a.source.announce(k, 5000);
    await vi.advanceTimersByTimeAsync(20);
    const p = b.source.download(k, {
      signal: new AbortController().signal,
      giveUpAt: Date.now() + 2000,
    });
    await vi.advanceTimersByTimeAsync(100);
    expect(sameBytes((await p)?.data, bytes(5000))).toBe(true);
    // a newcomer while the tracker is down finds nobody
    const c = makeViewer(net, tracker);
    c.source.updatePlaylist(info);
    await vi.advanceTimersByTimeAsync(1000);
    expect(c.source.peerCount()).toBe(0);
    tracker.start();
    // every client's backoff is at most maxRetryDelayMs × 1.5; announces follow
    await vi.advanceTimersByTimeAsync(8000 * 1.5 + 6000);
    expect(tracker.openSockets()).toHaveLength(3);
    expect(c.source.peerCount()).toBe(2);
    expect(a.source.peerCount()).toBe(2);
    for (const v of [a, b, c]) v.source.destroy();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("destroy while waiting to reconnect leaves no timer and opens nothing more", async () => {
    const tracker = new MemoryTracker({ clock: testClock });
    tracker.stop();
    const client = new TrackerClient({
      url: TRACKER_URL,
      clock: testClock,
      random: () => 0.5,
      retry: p2pConfig().p2p.trackerRetry,
      connectTimeoutMs: 2000,
      WebSocket: tracker.WebSocket,
    });
    client.subscribe({
      infoHash: H,
      onTrackerOpen: () => undefined,
      onTrackerMessage: () => undefined,
    });
    await vi.advanceTimersByTimeAsync(20);
    const n = client.socketsOpened;
    client.destroy();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(client.socketsOpened).toBe(n);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a socket that never opens is abandoned after connectTimeoutMs", async () => {
    let made = 0;
    const Hanging = class {
      readyState = 0;
      onopen = null;
      onmessage = null;
      onclose = null;
      onerror = null;
      closed = false;
      constructor(_url: string) {
        made++;
      }
      send(): void {}
      close(): void {
        this.closed = true;
      }
    };
    const client = new TrackerClient({
      url: TRACKER_URL,
      clock: testClock,
      random: () => 0.5,
      retry: p2pConfig().p2p.trackerRetry,
      connectTimeoutMs: 2000,
      WebSocket: Hanging,
    });
    client.subscribe({
      infoHash: H,
      onTrackerOpen: () => undefined,
      onTrackerMessage: () => undefined,
    });
    expect(made).toBe(1);
    await vi.advanceTimersByTimeAsync(2000 + 1000);
    expect(made).toBe(2);
    client.destroy();
    expect(vi.getTimerCount()).toBe(0);
  });
});

/** A connection whose ICE fails before its offer is ready: error, then close. */
class FailingOffer extends TypedEmitter<PeerConnectionEvents> implements PeerConnection {
  readonly initiator = true;
  readonly bufferedAmount = 0;
  constructor() {
    super();
    queueMicrotask(() => {
      this.emit("error", new Error("ICE failed"));
      this.emit("close");
    });
  }
  signal(): void {}
  send(): void {}
  destroy(): void {}
}

describe("announce offers", () => {
  beforeEach(() => {
    vi.useFakeTimers(FAKE);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("an offer that fails before it is ready does not hold back the others", async () => {
    const { net, tracker } = world();
    const memory = net.transport();
    let made = 0;
    /** Every second connection fails (error, close) before it has a description. */
    const transport: PeerTransport = {
      createPeer: (opts) => (made++ % 2 === 0 ? memory.createPeer(opts) : new FailingOffer()),
    };
    const v = makeViewer(net, tracker, { deps: { transport } });
    v.source.updatePlaylist(playlist("live/offers.m3u8", true, 3));
    await vi.advanceTimersByTimeAsync(50); // far below the 5 s gather timeout
    const announces = tracker.sockets.flatMap((s) => s.sent).filter((m) => "offers" in m);
    expect(made).toBeGreaterThanOrEqual(2);
    expect(announces).toHaveLength(1);
    const offers = announces[0]?.["offers"];
    expect(Array.isArray(offers) ? offers.length : -1).toBe(Math.ceil(made / 2));
    expect(announces[0]?.["numwant"]).toBe(Math.ceil(made / 2));
    v.source.destroy();
  });

  /** A viewer whose peer connections are counted. */
  function countedViewer(
    net: ReturnType<typeof world>["net"],
    tracker: MemoryTracker,
  ): { v: ReturnType<typeof makeViewer>; made: () => number } {
    const memory = net.transport();
    let made = 0;
    const transport: PeerTransport = {
      createPeer: (opts) => {
        made++;
        return memory.createPeer(opts);
      },
    };
    return { v: makeViewer(net, tracker, { deps: { transport } }), made: () => made };
  }

  /** Offers in the announces `id` sent after the first `from` messages of every socket. */
  function offersSent(
    tracker: MemoryTracker,
    id: string,
    from = new Map<unknown, number>(),
  ): number {
    let n = 0;
    for (const s of tracker.sockets)
      for (const m of s.sent.slice(from.get(s) ?? 0)) {
        const offers = m["offers"];
        if (m["peer_id"] === id && Array.isArray(offers)) n += offers.length;
      }
    return n;
  }

  const marks = (tracker: MemoryTracker): Map<unknown, number> =>
    new Map(tracker.sockets.map((s) => [s, s.sent.length]));

  for (const skips of [true, false])
    it(`a full mesh's re-announces ${skips ? "carry no offers when the tracker skips linked peers" : "still carry offers when the tracker does not skip (bittorrent-tracker)"}`, async () => {
      const { net } = world();
      const tracker = new MemoryTracker({ clock: testClock, skipPeerIds: skips });
      const viewers = [0, 1, 2, 3].map(() => countedViewer(net, tracker));
      for (const { v } of viewers) {
        v.source.updatePlaylist(playlist("live/mesh.m3u8", true, 3));
        await vi.advanceTimersByTimeAsync(100);
      }
      await vi.advanceTimersByTimeAsync(2000);
      for (const { v } of viewers) expect(v.source.peerCount()).toBe(3);
      const before = viewers.map(({ made }) => made());
      const mark = marks(tracker);
      await vi.advanceTimersByTimeAsync(3 * 5000); // three announce intervals
      for (const { v } of viewers) expect(v.source.peerCount()).toBe(3);
      const offers = viewers.map(({ v }) => offersSent(tracker, v.id, mark));
      const made = viewers.map(({ made: m }, i) => m() - (before[i] ?? 0));
      if (skips) {
        expect(offers).toEqual([0, 0, 0, 0]);
        expect(made).toEqual([0, 0, 0, 0]);
        // The announces went on (the tracker keeps them), with nothing to relay.
        const announces = tracker.sockets.flatMap((s) => s.sent.slice(mark.get(s) ?? 0));
        expect(announces.length).toBeGreaterThanOrEqual(4 * 3);
      } else {
        // Offers that reach linked viewers, refused: the waste the extension removes.
        for (const n of offers) expect(n).toBeGreaterThanOrEqual(3 * 5);
        for (const n of made) expect(n).toBeGreaterThanOrEqual(3 * 5);
      }
      for (const { v } of viewers) v.source.destroy();
    });

  it("skip_peer_ids lists the viewers a swarm holds sessions with", async () => {
    const { net, tracker } = world();
    const [a, b] = [makeViewer(net, tracker), makeViewer(net, tracker)];
    for (const v of [a, b]) {
      v.source.updatePlaylist(playlist("live/list.m3u8", true, 3));
      await vi.advanceTimersByTimeAsync(100);
    }
    await vi.advanceTimersByTimeAsync(1000);
    expect(a.source.peerCount()).toBe(1);
    // c joins; a learns of it from the reply to its next announce and offers to it, skipping b.
    const c = makeViewer(net, tracker, { config: p2pConfig({ maxPeers: 0 }) });
    c.source.updatePlaylist(playlist("live/list.m3u8", true, 3));
    await vi.advanceTimersByTimeAsync(200);
    const mark = marks(tracker);
    await vi.advanceTimersByTimeAsync(5000);
    const withOffers = tracker.sockets
      .flatMap((s) => s.sent.slice(mark.get(s) ?? 0))
      .filter((m) => m["peer_id"] === a.id && Array.isArray(m["offers"]) && m["offers"].length > 0);
    expect(withOffers.length).toBeGreaterThanOrEqual(1);
    for (const m of withOffers) {
      expect(m["skip_peer_ids"]).toEqual([b.id]);
      expect(m["offers"]).toHaveLength(1);
    }
    for (const v of [a, b, c]) v.source.destroy();
  });

  it("a banned viewer is skipped like a linked one: named in skip_peer_ids, and no offer is made for it", async () => {
    const { net } = world();
    const tracker = new MemoryTracker({ clock: testClock });
    const a = countedViewer(net, tracker);
    const b = countedViewer(net, tracker);
    for (const { v } of [a, b]) {
      v.source.updatePlaylist(playlist("live/ban.m3u8", true, 3));
      await vi.advanceTimersByTimeAsync(100);
    }
    await vi.advanceTimersByTimeAsync(1000);
    expect(a.v.source.peerCount()).toBe(1);
    a.v.source.reportBad(b.v.id, { swarmId: "live/ban.m3u8", segmentId: "seg-0.ts" }, "test");
    expect(a.v.source.peerCount()).toBe(0);
    const mark = marks(tracker);
    const made = a.made();
    await vi.advanceTimersByTimeAsync(3 * 5000); // a refill and three announce intervals
    const announces = tracker.sockets
      .flatMap((s) => s.sent.slice(mark.get(s) ?? 0))
      .filter((m) => m["peer_id"] === a.v.id && m["action"] === "announce");
    expect(announces.length).toBeGreaterThanOrEqual(3);
    // Only the banned viewer is left: nothing to offer to.
    expect(offersSent(tracker, a.v.id, mark)).toBe(0);
    expect(a.made() - made).toBe(0);
    // A newcomer (that makes no offers itself): one offer, for it, with b skipped.
    const c = makeViewer(net, tracker, { config: p2pConfig({ maxPeers: 0 }) });
    c.source.updatePlaylist(playlist("live/ban.m3u8", true, 3));
    await vi.advanceTimersByTimeAsync(200);
    const mark2 = marks(tracker);
    await vi.advanceTimersByTimeAsync(2 * 5000);
    const withOffers = tracker.sockets
      .flatMap((s) => s.sent.slice(mark2.get(s) ?? 0))
      .filter(
        (m) => m["peer_id"] === a.v.id && Array.isArray(m["offers"]) && m["offers"].length > 0,
      );
    expect(withOffers.length).toBeGreaterThanOrEqual(1);
    for (const m of withOffers) {
      expect(m["skip_peer_ids"]).toEqual([b.v.id]);
      expect(m["offers"]).toHaveLength(1);
    }
    c.source.destroy();
    for (const { v } of [a, b]) v.source.destroy();
  });

  it("the swarm grew while every viewer we knew was linked: the reply brings offers at once", async () => {
    const { net, tracker } = world();
    // p2p.defense asks for no early announces: only the regular one, every 60 s.
    const defense = { ...p2pConfig().p2p.defense, minUsefulPeers: 0 };
    const cfg = p2pConfig({ announceIntervalMs: 60_000, defense });
    const [a, b] = [
      makeViewer(net, tracker, { config: cfg }),
      makeViewer(net, tracker, { config: cfg }),
    ];
    for (const v of [a, b]) {
      v.source.updatePlaylist(playlist("live/grow.m3u8", true, 3));
      await vi.advanceTimersByTimeAsync(100);
    }
    await vi.advanceTimersByTimeAsync(1000);
    expect(a.source.peerCount()).toBe(1);
    const infoHash = tracker.sockets.flatMap((s) => s.sent).find((m) => m["peer_id"] === a.id)?.[
      "info_hash"
    ];
    // A viewer that joins without offers of its own (a client that only answers).
    const quiet = new tracker.WebSocket(TRACKER_URL);
    const got: Array<Record<string, unknown>> = [];
    quiet.onmessage = (ev) => got.push(JSON.parse(String(ev.data)) as Record<string, unknown>);
    await vi.advanceTimersByTimeAsync(20);
    const quietId = "q".repeat(20);
    quiet.send(
      JSON.stringify({ action: "announce", info_hash: infoHash, peer_id: quietId, offers: [] }),
    );
    await vi.advanceTimersByTimeAsync(20);
    // The next regular announce carries no offers (a counts everyone linked), its reply shows
    // three viewers: a announces again at once, with one offer, which reaches the newcomer.
    await vi.advanceTimersByTimeAsync(60_000);
    const offers = got.filter((m) => m["offer"] !== undefined);
    expect(offers.map((m) => m["peer_id"])).toContain(a.id);
    quiet.close();
    for (const v of [a, b]) v.source.destroy();
  });
});
