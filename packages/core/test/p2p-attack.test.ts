/**
 * Peers that lie, stall, flood, leech or multiply (RELIABILITY r18–r22): each attack costs the
 * attacker its own links, never the honest viewers' offload. In-memory transport, fake timers.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { MemoryNetwork, type MemoryPeerConnection } from "../src/testing/memory-transport.js";
import { MemoryTracker } from "../src/testing/memory-tracker.js";
import { encodeHave, encodeLost, encodeRequest } from "../src/p2p/peer-protocol.js";
import { isPrivateAddress } from "../src/p2p/peer-address.js";
import { PeerScores } from "../src/p2p/peer-score.js";
import { UploadPolicy } from "../src/p2p/upload-policy.js";
import type { P2PConfig, PeerDefenseConfig } from "../src/config.js";
import {
  bytes,
  makeViewer,
  p2pConfig,
  sameBytes,
  testClock,
  world,
  type Viewer,
  useFakeClock,
  neverAborted,
  keysOf,
  joinSwarm,
  giveSegment,
  settle,
} from "./p2p-helpers.js";

const SWARM = "vod/720p.m3u8";
const key = keysOf(SWARM);
const never = neverAborted;

useFakeClock();

const live: Viewer[] = [];
afterEach(() => {
  for (const v of live.splice(0)) v.source.destroy();
});

function viewer(
  net: MemoryNetwork,
  tracker: MemoryTracker,
  opts: {
    address?: string;
    candidateType?: "host" | "srflx" | "prflx" | "relay";
    bytesPerSec?: number;
    p2p?: Partial<Omit<P2PConfig, "defense">>;
    defense?: Partial<PeerDefenseConfig>;
  } = {},
): Viewer {
  const transport = net.transport({
    ...(opts.address ? { address: opts.address } : {}),
    ...(opts.candidateType ? { candidateType: opts.candidateType } : {}),
    ...(opts.bytesPerSec ? { bytesPerSec: opts.bytesPerSec } : {}),
  });
  const config = p2pConfig(opts.p2p ?? {});
  config.p2p.defense = { ...config.p2p.defense, ...(opts.defense ?? {}) };
  const v = makeViewer(net, tracker, { config, deps: { transport } });
  live.push(v);
  return { ...v, transport };
}

const join = (viewers: Viewer[], segments = 40): Promise<void> =>
  joinSwarm(viewers, SWARM, { segments, settleMs: 300 });

const give = (v: Viewer, segmentId: string, data: Uint8Array, announced?: number): void =>
  giveSegment(v, key(segmentId), data, announced);

/** Drives fake time until `p` settles; its value. */
const settled = async <T>(p: Promise<T>, maxMs = 60_000): Promise<T> =>
  (await settle(p, maxMs)).value;

/** The open connection end owned by `from` whose remote end belongs to `to`. */
function link(net: MemoryNetwork, from: Viewer, to: Viewer): MemoryPeerConnection {
  const c = net
    .connections()
    .find((x) => x.owner === from.transport && x.remote?.owner === to.transport && x.connected);
  if (!c) throw new Error("no link");
  return c;
}

describe("r18 trust from the origin: a liar's size cannot veto honest peers", () => {
  it("r18 a liar's size cannot veto honest peers (size unknown: the majority wins)", async () => {
    const { net, tracker } = world();
    const liar = viewer(net, tracker);
    const honest1 = viewer(net, tracker);
    const honest2 = viewer(net, tracker);
    const b = viewer(net, tracker);
    await join([liar, honest1, honest2, b]);
    const data = bytes(50_000, 3);
    // the liar announces first, with the largest size the protocol allows
    give(liar, "seg-1.ts", bytes(10, 9), 32 * 1024 * 1024);
    await vi.advanceTimersByTimeAsync(50);
    give(honest1, "seg-1.ts", data);
    give(honest2, "seg-1.ts", data);
    await vi.advanceTimersByTimeAsync(50);
    const got = await settled(
      b.source.download(key("seg-1.ts"), { signal: never(), giveUpAt: Date.now() + 8000 }),
    );
    expect(got && "partial" in got).toBe(false);
    expect(sameBytes(got?.data, data)).toBe(true);
    expect([honest1.id, honest2.id]).toContain(got?.peerId);
  });

  it("r18 with the origin's size known, the liar is banned and honest peers still serve", async () => {
    const { net, tracker } = world();
    const liar = viewer(net, tracker);
    const honest = viewer(net, tracker);
    const b = viewer(net, tracker);
    await join([liar, honest, b]);
    const data = bytes(50_000, 4);
    give(liar, "seg-2.ts", bytes(10, 9), 32 * 1024 * 1024);
    give(honest, "seg-2.ts", data);
    await vi.advanceTimersByTimeAsync(50);
    const got = await settled(
      b.source.download(key("seg-2.ts"), {
        signal: never(),
        giveUpAt: Date.now() + 8000,
        expectedSize: data.byteLength,
      }),
    );
    expect(got?.peerId).toBe(honest.id);
    expect(sameBytes(got?.data, data)).toBe(true);
    expect(b.host.banned.map(([id]) => id)).toEqual([liar.id]);
    expect(b.host.warnings.filter((w) => w.kind === "peer-abuse")).toHaveLength(1);
    expect(liar.host.uploaded).toEqual([]);
  });
});

describe("r19 stallers and tricklers", () => {
  it("r19 a trickle is cancelled and another peer serves before HTTP", async () => {
    const { net, tracker } = world();
    const slow = viewer(net, tracker, { bytesPerSec: 4000 }); // 100 kB would take 25 s
    const honest = viewer(net, tracker);
    const b = viewer(net, tracker);
    await join([slow, honest, b]);
    const data = bytes(100_000, 5);
    give(slow, "seg-3.ts", data);
    await vi.advanceTimersByTimeAsync(50);
    give(honest, "seg-3.ts", data);
    await vi.advanceTimersByTimeAsync(50);
    // honest looks slower on paper, so the trickler is asked first
    const got = await settled(
      b.source.download(key("seg-3.ts"), { signal: never(), giveUpAt: Date.now() + 6000 }),
    );
    expect(got && "partial" in got).toBe(false);
    expect(got?.peerId).toBe(honest.id);
    expect(sameBytes(got?.data, data)).toBe(true);
  });

  it("r19 a staller is deprioritised after one stall and disconnected after maxStalls", async () => {
    const { net, tracker } = world();
    const staller = viewer(net, tracker);
    const honest = viewer(net, tracker);
    const b = viewer(net, tracker, { p2p: { vodPrefetchSegments: 0 }, defense: { maxStalls: 3 } });
    await join([staller, honest, b]);
    // the staller announces, then never answers again
    for (let i = 0; i < 10; i++) give(staller, `seg-${i}.ts`, bytes(20_000, i));
    await vi.advanceTimersByTimeAsync(50);
    link(net, staller, b).severed = true;
    for (let i = 5; i < 10; i++) give(honest, `seg-${i}.ts`, bytes(20_000, i));
    await vi.advanceTimersByTimeAsync(50);
    // only the staller has seg-0..2: each costs one stall, then HTTP
    for (let i = 0; i < 2; i++) {
      const got = await settled(
        b.source.download(key(`seg-${i}.ts`), { signal: never(), giveUpAt: Date.now() + 6000 }),
      );
      expect(got).toBeNull();
    }
    expect({ d: b.host.disconnected, n: b.source.peerCount() }).toEqual({ d: [], n: 2 });
    // both have seg-5: the honest peer is asked first now (the staller's cost is penalised)
    const t0 = Date.now();
    const got5 = await settled(
      b.source.download(key("seg-5.ts"), { signal: never(), giveUpAt: Date.now() + 6000 }),
    );
    expect(got5?.peerId).toBe(honest.id);
    expect(Date.now() - t0).toBeLessThan(1000);
    // third stall: disconnected and kept away
    await settled(
      b.source.download(key("seg-2.ts"), { signal: never(), giveUpAt: Date.now() + 6000 }),
    );
    expect(b.host.disconnected).toContainEqual([staller.id, "stalled repeatedly"]);
    expect(b.host.warnings.some((w) => w.kind === "peer-abuse")).toBe(true);
    expect(b.source.peerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(b.host.connected.filter((id) => id === staller.id)).toHaveLength(1);
  });

  it("PeerScores: served pays back failures; bad disconnects at once", () => {
    const s = new PeerScores(3);
    s.record("p", "stalled");
    expect(s.penalty("p")).toBeGreaterThan(1);
    s.record("p", "served");
    s.record("p", "served");
    expect(s.penalty("p")).toBe(1);
    s.record("p", "cancelled");
    expect(s.shouldDisconnect("p")).toBe(false);
    s.record("p", "bad");
    expect(s.shouldDisconnect("p")).toBe(true);
  });
});

describe("r20 floods", () => {
  async function floodUntilBanned(
    frames: () => Uint8Array | string,
    limit: number,
  ): Promise<{ sent: number; banned: boolean }> {
    const { net, tracker } = world();
    const evil = viewer(net, tracker);
    const b = viewer(net, tracker);
    await join([evil, b]);
    const c = link(net, evil, b);
    let sent = 0;
    // 1000 frames per second of fake time, until b drops the link
    while (sent < limit && !c.closed) {
      const f = frames();
      if (typeof f === "string") c.sendText(f);
      else c.send(f);
      sent++;
      await vi.advanceTimersByTimeAsync(1);
    }
    await vi.advanceTimersByTimeAsync(50);
    const banned = b.host.banned.some(([id, why]) => id === evil.id && /FLOOD/.test(why));
    expect(b.host.warnings.some((w) => w.kind === "peer-abuse")).toBe(banned);
    return { sent, banned };
  }

  it("r20 a HAVE/LOST toggle flood is banned within a bounded number of messages", async () => {
    let n = 0;
    const have = encodeHave([{ segmentId: "seg-1.ts", size: 1000 }])[0];
    const lost = encodeLost(["seg-1.ts"])[0];
    if (!have || !lost) throw new Error("no frames");
    const r = await floodUntilBanned(() => (n++ % 2 === 0 ? have : lost), 5000);
    expect(r.banned).toBe(true);
    // burst 64 + 20/s over the ~0.1 s it took, plus the frames in flight
    expect(r.sent).toBeLessThan(100);
  });

  it("r20 a request flood is banned within a bounded number of messages", async () => {
    let id = 1;
    const r = await floodUntilBanned(() => encodeRequest(id++, "nothing.ts"), 5000);
    expect(r.banned).toBe(true);
    expect(r.sent).toBeLessThan(60);
  });

  it("r20 a text-message flood (not our protocol) is banned within a bounded number of messages", async () => {
    const r = await floodUntilBanned(() => '{"type":"ping","pad":"' + "x".repeat(200) + '"}', 5000);
    expect(r.banned).toBe(true);
    // burst 8 + 1/s over the ~10 ms it took, plus the messages in flight
    expect(r.sent).toBeLessThan(40);
  });

  it("r20 a few stray text messages are tolerated (counted, never read)", async () => {
    const { net, tracker } = world();
    const a = viewer(net, tracker);
    const b = viewer(net, tracker);
    await join([a, b]);
    const c = link(net, a, b);
    for (let i = 0; i < 5; i++) {
      c.sendText("hello");
      await vi.advanceTimersByTimeAsync(2000);
    }
    expect(b.host.banned).toEqual([]);
    expect(b.source.peerCount()).toBe(1);
  });

  it("r20 honest announcements (a full store, then one per segment) stay within budget", async () => {
    const { net, tracker } = world();
    const a = viewer(net, tracker);
    for (let i = 0; i < 3000; i++) give(a, `seg-${i}.ts`, bytes(10, i));
    const b = viewer(net, tracker);
    await join([a, b]);
    for (let i = 3000; i < 3100; i++) {
      give(a, `seg-${i}.ts`, bytes(10, i));
      a.source.forget(key(`seg-${i - 3000}.ts`));
      await vi.advanceTimersByTimeAsync(500);
    }
    expect(b.host.banned).toEqual([]);
    expect(b.source.peerCount()).toBe(1);
  });
});

describe("r21 upload fair share", () => {
  it("r21 a download-only leech gets at most its fair share of the upload", async () => {
    const { net, tracker } = world();
    const total = 400_000;
    const seeder = viewer(net, tracker, { p2p: { uploadBytesPerSec: total } });
    const giver = viewer(net, tracker);
    const leech = viewer(net, tracker, { p2p: { downloadOnly: true } });
    await join([seeder, giver, leech]);
    // the giver gives back: the seeder downloads one segment from it
    give(giver, "seg-39.ts", bytes(30_000, 39));
    await vi.advanceTimersByTimeAsync(50);
    const back = await settled(
      seeder.source.download(key("seg-39.ts"), { signal: never(), giveUpAt: Date.now() + 5000 }),
    );
    expect(back?.peerId).toBe(giver.id);
    for (let i = 0; i < 39; i++) give(seeder, `seg-${i}.ts`, bytes(100_000, i));
    await vi.advanceTimersByTimeAsync(50);
    let stop = false;
    const loop = async (v: Viewer): Promise<void> => {
      for (let i = 0; !stop; i = (i + 1) % 39) {
        const got = await v.source.download(key(`seg-${i}.ts`), {
          signal: never(),
          giveUpAt: Date.now() + 3000,
        });
        if (!got) await new Promise((r) => setTimeout(r, 50));
      }
    };
    const t0 = Date.now();
    const loops = [loop(leech), loop(giver)];
    await vi.advanceTimersByTimeAsync(20_000);
    stop = true;
    await vi.advanceTimersByTimeAsync(5000);
    await Promise.all(loops);
    const secs = (Date.now() - t0) / 1000;
    const up = (id: string): number =>
      seeder.host.uploaded.filter(([p]) => p === id).reduce((s, [, n]) => s + n, 0);
    const leechBytes = up(leech.id);
    const giverBytes = up(giver.id);
    // weights 1 (leech) and 2 (giver): the leech's share is a third of the total
    expect(leechBytes).toBeLessThanOrEqual((total * secs) / 3 + 200_000);
    expect(giverBytes).toBeGreaterThan(leechBytes);
  });

  it("UploadPolicy: a pause refuses new uploads until it ends; a shorter pause does not cut a longer one", () => {
    const p = new UploadPolicy(testClock, {
      maxUploads: 4,
      totalBytesPerSec: 0,
      perPeerBytesPerSec: 0,
      giveBackWeight: 2,
      maxServesPerSegment: 100,
      windowMs: 60_000,
    });
    const peer = { peerId: "p", bytesIn: 0 };
    expect(p.tryAcquire(peer, "a")).toBe(true);
    const t0 = Date.now();
    p.pause(10_000);
    p.pause(1_000);
    expect(p.paused).toBe(true);
    expect(p.tryAcquire(peer, "b")).toBe(false);
    expect(p.inUse).toBe(1); // the upload admitted before the pause goes on
    vi.setSystemTime(t0 + 9_999);
    expect(p.tryAcquire(peer, "b")).toBe(false);
    vi.setSystemTime(t0 + 10_000);
    expect(p.paused).toBe(false);
    expect(p.tryAcquire(peer, "b")).toBe(true);
  });

  it("UploadPolicy: per-peer cap without a total, repeat serves refused", () => {
    const p = new UploadPolicy(testClock, {
      maxUploads: 4,
      totalBytesPerSec: 0,
      perPeerBytesPerSec: 100_000,
      giveBackWeight: 2,
      maxServesPerSegment: 2,
      windowMs: 60_000,
    });
    const leech = { peerId: "leech", bytesIn: 0 };
    const giver = { peerId: "giver", bytesIn: 5 };
    let t = 0;
    for (let i = 0; i < 100; i++) t += p.reserve(10_000, leech);
    // 1 MB at 100 kB/s: ~10 s of waits, minus the burst
    expect(t).toBeGreaterThan(9000);
    let g = 0;
    for (let i = 0; i < 100; i++) g += p.reserve(10_000, giver);
    expect(g).toBeLessThan(t);
    expect(p.tryAcquire(leech, "s")).toBe(true);
    expect(p.tryAcquire(leech, "s")).toBe(true);
    expect(p.tryAcquire(leech, "s")).toBe(false);
    expect(p.tryAcquire(giver, "s")).toBe(true);
  });

  it("UploadPolicy: the byte rate holds whatever the chunk size (16 KiB or 64 KiB frames)", () => {
    const lastChunkLeavesAt = (chunk: number): number => {
      const p = new UploadPolicy(testClock, {
        maxUploads: 4,
        totalBytesPerSec: 256_000,
        perPeerBytesPerSec: 0,
        giveBackWeight: 1,
        maxServesPerSegment: 2,
        windowMs: 60_000,
      });
      const t0 = Date.now();
      let now = t0;
      for (let sent = 0; sent < 1024 * 1024; sent += chunk) {
        now += p.reserve(chunk, { peerId: "p", bytesIn: 0 });
        vi.setSystemTime(now);
      }
      return now - t0;
    };
    // 1 MiB at 256 kB/s is 4096 ms; the last chunk may leave one burst (250 ms) early.
    expect(lastChunkLeavesAt(16 * 1024)).toBeCloseTo(4096 - 250, 0);
    expect(lastChunkLeavesAt(64 * 1024)).toBeCloseTo(4096 - 250, 0);
  });
});

describe("r22 sybils", () => {
  it.each([
    ["203.0.113.7", true, true],
    ["192.168.1.5", true, false],
    ["192.168.1.5", false, true],
  ])(
    "r22 a banned attacker back under a new id from %s (private exempt: %s) refused: %s",
    async (address, exempt, refused) => {
      const { net, tracker } = world();
      const b = viewer(net, tracker, { defense: { exemptPrivateAddresses: exempt } });
      const evil = viewer(net, tracker, { address });
      await join([b, evil]);
      expect(b.source.peerCount()).toBe(1);
      b.source.reportBad(evil.id, key("seg-1.ts"), "integrity mismatch");
      expect(b.source.peerCount()).toBe(0);
      evil.source.destroy();
      const again = viewer(net, tracker, { address });
      const lanMate = viewer(net, tracker, { address: "192.168.1.77" });
      await join([again, lanMate]);
      await vi.advanceTimersByTimeAsync(6000);
      expect(b.host.connected.includes(again.id)).toBe(false === refused);
      if (refused) expect(b.host.banned.map(([id]) => id)).toContain(again.id);
      expect(b.host.connected).toContain(lanMate.id);
    },
  );

  it("r22 at most maxPeersPerAddress peers from one public address; a LAN is not limited", async () => {
    const { net, tracker } = world();
    const b = viewer(net, tracker, { defense: { maxPeersPerAddress: 2 } });
    const same = [0, 1, 2, 3].map(() => viewer(net, tracker, { address: "198.51.100.9" }));
    const lan = [0, 1, 2].map(() => viewer(net, tracker, { address: "10.1.2.3" }));
    await join([b, ...same, ...lan]);
    await vi.advanceTimersByTimeAsync(10_000);
    const ready = new Set(
      b.host.connected.filter((id) => !b.host.disconnected.some(([d]) => d === id)),
    );
    expect(same.filter((v) => ready.has(v.id)).length).toBeLessThanOrEqual(2);
    expect(lan.filter((v) => ready.has(v.id))).toHaveLength(3);
  });

  it("r22 peers behind one public TURN relay are not one address: no per-address limit, and a ban does not spread to the others", async () => {
    const { net, tracker } = world();
    const b = viewer(net, tracker, { defense: { maxPeersPerAddress: 1 } });
    // Each peer's relay candidate is on the same public TURN server address.
    const relayed = [0, 1, 2].map(() =>
      viewer(net, tracker, { address: "198.51.100.50", candidateType: "relay" }),
    );
    await join([b, ...relayed]);
    await vi.advanceTimersByTimeAsync(10_000);
    const ready = (): Set<string> =>
      new Set(b.host.connected.filter((id) => !b.host.disconnected.some(([d]) => d === id)));
    expect(relayed.filter((v) => ready().has(v.id))).toHaveLength(3);
    b.source.reportBad(relayed[0]!.id, key("seg-1.ts"), "integrity mismatch");
    await vi.advanceTimersByTimeAsync(6000);
    expect(b.host.banned.map(([id]) => id)).toEqual([relayed[0]!.id]);
    expect(relayed.slice(1).filter((v) => ready().has(v.id))).toHaveLength(2);
    // A peer on a direct link from that address is still address-limited (control).
    const direct = [0, 1].map(() => viewer(net, tracker, { address: "198.51.100.60" }));
    await join([b, ...direct]);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(direct.filter((v) => ready().has(v.id)).length).toBeLessThanOrEqual(1);
  });

  it("r22 idle sybils filling every slot are dropped and the honest viewers find each other", async () => {
    const { net, tracker } = world();
    const cfg = { p2p: { maxPeers: 4 }, defense: { idleMs: 10_000 } };
    const sybils = [0, 1, 2, 3, 4, 5].map((i) =>
      viewer(net, tracker, {
        p2p: { maxPeers: 20, downloadOnly: true },
        address: `203.0.113.${i + 1}`,
      }),
    );
    await join(sybils);
    const a = viewer(net, tracker, cfg);
    await join([a]);
    await vi.advanceTimersByTimeAsync(6000);
    const b = viewer(net, tracker, cfg);
    await join([b]);
    await vi.advanceTimersByTimeAsync(6000);
    // both honest viewers' slots are full of sybils that never serve
    expect(a.source.peerCount()).toBe(4);
    for (let t = 0; t < 180 && !a.host.connected.includes(b.id); t++)
      await vi.advanceTimersByTimeAsync(1000);
    expect(a.host.connected).toContain(b.id);
    expect(a.host.disconnected.some(([, why]) => why === "idle")).toBe(true);
  });

  /** Announces with offers `v` has sent to the tracker so far. */
  const offerAnnounces = (tracker: MemoryTracker, v: Viewer): number =>
    tracker.sockets
      .filter((s) => [...s.peerIds.values()].includes(v.id))
      .flatMap((s) => s.sent)
      .filter(
        (m) => m["action"] === "announce" && Array.isArray(m["offers"]) && m["event"] !== "stopped",
      ).length;

  it("r22 with no useful peer, fresh peers are asked for within ~10 s (stale tracker count, a slower refill pending)", async () => {
    const { net, tracker } = world();
    const slow = { announceIntervalMs: 60_000 };
    const a = viewer(net, tracker, { p2p: slow });
    await join([a]); // alone: the tracker's reply counts one peer
    const sybils = [0, 1, 2, 3, 4, 5].map((i) =>
      viewer(net, tracker, {
        p2p: { ...slow, downloadOnly: true },
        address: `203.0.113.${i + 1}`,
      }),
    );
    await join(sybils);
    expect(a.source.peerCount()).toBe(6);
    // One leaves: that alone schedules a refill only MIN_REFILL_GAP_MS after the last announce.
    sybils[0]?.source.destroy();
    await vi.advanceTimersByTimeAsync(100);
    expect(a.source.peerCount()).toBe(5);
    const at: number[] = [];
    let seen = offerAnnounces(tracker, a);
    expect(seen).toBe(1);
    for (let t = 1; t <= 120; t++) {
      await vi.advanceTimersByTimeAsync(1000);
      const n = offerAnnounces(tracker, a);
      if (n > seen) at.push(t);
      seen = n;
    }
    expect(at[0]).toBeLessThanOrEqual(9);
    // The reply counted every peer and we are linked to all of them: no more early announces.
    expect(at).toEqual([at[0], 59, 119]);
  });

  it("r22 early announces for fresh peers back off while useful peers stay few", async () => {
    const { net, tracker } = world();
    const slow = { announceIntervalMs: 60_000 };
    const a = viewer(net, tracker, { p2p: slow, defense: { maxPeersPerAddress: 1 } });
    await join([a]);
    // Six idle ids on one public address: one is kept, the others refused (and cooled down), so
    // the tracker keeps counting more peers than we have, none of them useful.
    const sybils = [0, 1, 2, 3, 4, 5].map(() =>
      viewer(net, tracker, { p2p: { ...slow, downloadOnly: true }, address: "203.0.113.9" }),
    );
    await join(sybils);
    const at: number[] = [];
    let seen = offerAnnounces(tracker, a);
    for (let t = 1; t <= 120; t++) {
      await vi.advanceTimersByTimeAsync(1000);
      const n = offerAnnounces(tracker, a);
      if (n > seen) at.push(t);
      seen = n;
    }
    expect(a.source.peerCount()).toBeLessThanOrEqual(1);
    expect(at[0]).toBeLessThanOrEqual(9);
    // Gaps grow (5 s, 10 s, 20 s … after the previous announce, plus jitter; a regular
    // announce counts as the previous one) instead of one announce per 5 s sweep: here 7, 19,
    // 41, 59 (regular), 83, 119 (regular).
    const gaps = at.slice(1).map((t, i) => t - (at[i] ?? 0));
    expect(gaps[1]).toBeGreaterThan(gaps[0] ?? Infinity);
    expect(at.length).toBeGreaterThanOrEqual(4);
    expect(at.length).toBeLessThanOrEqual(7);
  });

  it("isPrivateAddress: loopback, RFC 1918, CGNAT, link-local, ULA, mDNS are exempt", () => {
    for (const a of [
      "127.0.0.1",
      "10.0.0.1",
      "172.16.5.4",
      "192.168.0.1",
      "100.64.0.1",
      "100.127.255.255",
      "169.254.1.1",
      "::1",
      "fe80::1",
      "fd12:3456::1",
      "::ffff:192.168.1.1",
      "abc-def.local",
    ])
      expect(isPrivateAddress(a)).toBe(true);
    for (const a of ["8.8.8.8", "100.128.0.1", "172.32.0.1", "2001:db8::1", "203.0.113.7"])
      expect(isPrivateAddress(a)).toBe(false);
  });
});
