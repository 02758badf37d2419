/**
 * Peer link quality over the in-memory transport (fake timers): link types and set-up time per
 * peer, failures counted per cause and warned, early re-announces with backoff after failures,
 * `allowRelay: false`, and the scheduler preferring direct peers over relayed ones.
 */
import { describe, expect, it, vi } from "vitest";
import type { MemoryTracker } from "../src/testing/memory-tracker.js";
import { planDownload, type Candidate } from "../src/p2p/scheduler.js";
import { MIN_REFILL_GAP_MS, REFILL_DELAY_MS } from "../src/p2p/swarm.js";
import {
  bytes,
  makeViewer,
  p2pConfig,
  world,
  type Viewer,
  useFakeClock,
  neverAborted,
  keysOf,
  joinSwarm,
  giveSegment,
} from "./p2p-helpers.js";

const SWARM = "vod/720p.m3u8";
const key = keysOf(SWARM);
const never = neverAborted;

useFakeClock();

const join = (viewers: Viewer[]): Promise<void> => joinSwarm(viewers, SWARM, { settleMs: 500 });

/** Announces with offers `v` sent to `tracker` so far. */
function offerAnnounces(tracker: MemoryTracker, v: Viewer): number {
  let n = 0;
  for (const s of tracker.sockets) {
    for (const m of s.sent) {
      const offers = m.offers;
      if (m.peer_id === v.id && Array.isArray(offers) && offers.length > 0) n++;
    }
  }
  return n;
}

function destroyAll(...vs: Viewer[]): void {
  for (const v of vs) v.source.destroy();
}

describe("link types and set-up time", () => {
  it("each peer's link type and set-up time reach the host and the link counts", async () => {
    const { net, tracker } = world();
    const a = makeViewer(net, tracker);
    const b = makeViewer(net, tracker, { candidateType: "srflx" });
    const c = makeViewer(net, tracker, { candidateType: "relay" });
    await join([a, b, c]);
    expect(a.source.peerCount()).toBe(2);
    const links = new Map(a.host.links.map((l) => [l.peerId, l]));
    expect(links.get(b.id)?.linkType).toBe("srflx");
    expect(links.get(c.id)?.linkType).toBe("relay");
    for (const l of links.values()) expect(l.setupMs).toBeGreaterThan(0);
    expect(a.source.linkStats().links).toEqual({
      host: 0,
      srflx: 1,
      prflx: 0,
      relay: 1,
      unknown: 0,
    });
    expect(b.source.linkStats().links).toMatchObject({ srflx: 1, relay: 1 }); // b–c is relay
    expect(a.source.linkStats().failures).toEqual({
      iceFailed: 0,
      connectTimeout: 0,
      noCandidates: 0,
      offerUnanswered: 0,
      relayRefused: 0,
      other: 0,
    });
    destroyAll(a, b, c);
    expect(a.source.linkStats().links.relay).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("with both a direct and a relayed peer holding the segment, the direct one serves it", async () => {
    const { net, tracker } = world();
    const a = makeViewer(net, tracker);
    const relayed = makeViewer(net, tracker, { candidateType: "relay" });
    const direct = makeViewer(net, tracker, { candidateType: "srflx" });
    await join([a, relayed, direct]);
    const data = bytes(20_000, 4);
    for (const v of [relayed, direct]) {
      v.host.put(key("seg-3.ts"), data);
      v.source.announce(key("seg-3.ts"), data.byteLength);
    }
    await vi.advanceTimersByTimeAsync(50);
    const p = a.source.download(key("seg-3.ts"), {
      signal: never(),
      giveUpAt: Date.now() + 5000,
    });
    await vi.advanceTimersByTimeAsync(1000);
    expect(await p).toMatchObject({ peerId: direct.id });
    expect(relayed.host.uploaded).toEqual([]);
    destroyAll(a, relayed, direct);
  });
});

describe("planDownload prefers direct peers", () => {
  const base = {
    now: 0,
    size: 1_000_000,
    nearLiveEdge: false,
    selfIsFetcher: false,
    servingPeers: 2,
  };
  const relayedFast: Candidate = {
    peerId: "r",
    throughputBps: 10_000_000,
    activeDownloads: 0,
    relayed: true,
  };
  const directSlow: Candidate = { peerId: "d", throughputBps: 1_000_000, activeDownloads: 0 };

  it("a direct peer that makes the deadline wins over a faster relayed one", () => {
    expect(
      planDownload({ ...base, giveUpAt: 5000, candidates: [relayedFast, directSlow] }),
    ).toMatchObject({ kind: "peer", peerId: "d" });
  });

  it("the relayed peer is used when no direct one can make it in time", () => {
    expect(
      planDownload({ ...base, giveUpAt: 800, candidates: [relayedFast, directSlow] }),
    ).toMatchObject({ kind: "peer", peerId: "r" });
  });
});

describe("failed links are counted, warned and retried", () => {
  it("ICE failure: warned as peer-connection-failed, counted, and the swarm re-announces early with backoff (bounded)", async () => {
    const { net, tracker } = world({ iceFailMs: 3000 });
    const cfg = p2pConfig({
      announceIntervalMs: 120_000,
      connectTimeoutMs: 10_000,
      connectRetry: {
        maxNumRetry: 2,
        retryDelayMs: 2000,
        maxRetryDelayMs: 30_000,
        backoff: "exponential",
        jitter: 0.5,
      },
    });
    const a = makeViewer(net, tracker, { config: cfg });
    const b = makeViewer(net, tracker, { config: cfg, iceFails: true });
    await join([a, b]);
    expect(offerAnnounces(tracker, a)).toBe(1);
    await vi.advanceTimersByTimeAsync(3000);
    // Never silent: the failure is a warning and a count on both ends.
    expect(a.host.warnings.map((w) => w.kind)).toContain("peer-connection-failed");
    expect(a.host.warnings.find((w) => w.kind === "peer-connection-failed")?.message).toMatch(
      /ice-failed/,
    );
    expect(a.source.linkStats().failures.iceFailed).toBeGreaterThanOrEqual(1);
    expect(b.source.linkStats().failures.iceFailed).toBeGreaterThanOrEqual(1);
    expect(a.source.peerCount()).toBe(0);
    // Fresh offers long before the 120 s interval: the refill gap, then the backoff.
    await vi.advanceTimersByTimeAsync(MIN_REFILL_GAP_MS + 2 * REFILL_DELAY_MS);
    expect(offerAnnounces(tracker, a)).toBe(2);
    // The second retry (backoff 4 s ± 50 %, 15 s apart), then no more: bounded by maxNumRetry.
    await vi.advanceTimersByTimeAsync(40_000);
    expect(offerAnnounces(tracker, a)).toBe(3);
    expect(a.source.linkStats().failures.iceFailed).toBeGreaterThanOrEqual(3);
    await vi.advanceTimersByTimeAsync(55_000); // t ≈ 118 s, before the 120 s interval
    expect(offerAnnounces(tracker, a)).toBe(3);
    destroyAll(a, b);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a link that never opens: connect timeout, warned as peer-timeout", async () => {
    const { net, tracker } = world({ iceFailMs: 60_000 });
    const cfg = p2pConfig({ connectTimeoutMs: 2000 });
    const a = makeViewer(net, tracker, { config: cfg });
    const b = makeViewer(net, tracker, { config: cfg, iceFails: true });
    await join([a, b]);
    await vi.advanceTimersByTimeAsync(2000);
    expect(a.host.warnings.map((w) => w.kind)).toContain("peer-timeout");
    expect(
      a.source.linkStats().failures.connectTimeout + b.source.linkStats().failures.connectTimeout,
    ).toBeGreaterThanOrEqual(1);
    destroyAll(a, b);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a successful link after failures resets the backoff; enough links up means no early announce", async () => {
    const { net, tracker } = world({ iceFailMs: 1000 });
    const cfg = p2pConfig({ announceIntervalMs: 120_000 });
    const a = makeViewer(net, tracker, { config: cfg });
    const good = [1, 2, 3].map(() => makeViewer(net, tracker, { config: cfg }));
    await join([a, ...good]);
    expect(a.source.peerCount()).toBe(3);
    // The three are useful peers (they hold segments): p2p.defense asks for no fresh ones either.
    good.forEach((g, i) => giveSegment(g, key(`seg-${i}.ts`), bytes(1000, i + 1)));
    const before = offerAnnounces(tracker, a);
    const bad = makeViewer(net, tracker, { config: cfg, iceFails: true });
    await join([bad]);
    await vi.advanceTimersByTimeAsync(1500);
    // bad's offers reached a and failed; a has its 3 links: it does not look for more early.
    expect(a.source.linkStats().failures.iceFailed).toBeGreaterThanOrEqual(1);
    await vi.advanceTimersByTimeAsync(MIN_REFILL_GAP_MS + 2 * REFILL_DELAY_MS);
    expect(offerAnnounces(tracker, a)).toBe(before);
    destroyAll(a, bad, ...good);
  });
});

describe("p2p.allowRelay: false", () => {
  it("a relayed link is closed, counted as relayRefused, and that peer is not tried again", async () => {
    const { net, tracker } = world();
    const a = makeViewer(net, tracker, {
      config: p2pConfig({ allowRelay: false, announceIntervalMs: 5000 }),
    });
    const r = makeViewer(net, tracker, { candidateType: "relay" });
    const d = makeViewer(net, tracker, { candidateType: "srflx" });
    await join([a, r, d]);
    expect(a.source.peerCount()).toBe(1);
    expect(a.host.connected).toEqual([d.id]);
    expect(a.source.linkStats().failures.relayRefused).toBe(1);
    expect(a.host.warnings.map((w) => w.kind)).toContain("peer-connection-failed");
    // r keeps announcing (every 5 s): a never links with it.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(a.host.connected).toEqual([d.id]);
    expect(a.source.linkStats().failures.relayRefused).toBe(1);
    expect(r.source.peerCount()).toBe(1); // r–d is fine
    destroyAll(a, r, d);
    expect(vi.getTimerCount()).toBe(0);
  });
});
