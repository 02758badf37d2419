import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  DEFAULT_PEER_BPS,
  MIN_WAIT_MS,
  estimateTransferMs,
  fetchRole,
  fetcherCount,
  isFallingBehind,
  planDownload,
  resolveDownloadOnly,
  type PlanInput,
} from "../src/p2p/scheduler.js";
import { backoffDelay } from "../src/backoff.js";
import { DEFAULT_CONFIG } from "../src/config.js";
import { makePeerId } from "../src/p2p/peer-segment-source.js";
import { seeded } from "./p2p-helpers.js";

const base: PlanInput = {
  now: 1000,
  giveUpAt: 4000,
  size: 500_000,
  nearLiveEdge: false,
  selfIsFetcher: false,
  candidates: [],
  servingPeers: 3,
};

describe("planDownload", () => {
  it("asks the peer that can deliver soonest", () => {
    const plan = planDownload({
      ...base,
      candidates: [
        { peerId: "slow", throughputBps: 200_000, activeDownloads: 0 },
        { peerId: "busy", throughputBps: 5_000_000, activeDownloads: 3 },
        { peerId: "fast", throughputBps: 5_000_000, activeDownloads: 0 },
      ],
    });
    expect(plan).toMatchObject({ kind: "peer", peerId: "fast" });
  });

  it("just joined a populated swarm, no connection yet: waits for the first peers, never past giveUpAt", () => {
    const joining = { ...base, servingPeers: 0, giveUpAt: base.now + 10_000 };
    expect(planDownload({ ...joining, joiningUntil: base.now + 1500 })).toEqual({
      kind: "wait",
      until: base.now + 1500,
    });
    // giveUpAt first: a peer transfer must still fit before it
    const soon = { ...joining, giveUpAt: base.now + 1200, joiningUntil: base.now + 1500 };
    expect(planDownload(soon)).toEqual({
      kind: "wait",
      until: soon.giveUpAt - estimateTransferMs(base.size ?? 0, DEFAULT_PEER_BPS),
    });
    // the join window is over, or too little is left of it
    expect(planDownload({ ...joining, joiningUntil: base.now + MIN_WAIT_MS - 1 })).toEqual({
      kind: "http",
      reason: "no-peers",
    });
  });

  it("goes to HTTP when no candidate could finish in time", () => {
    const plan = planDownload({
      ...base,
      giveUpAt: base.now + 500,
      candidates: [{ peerId: "slow", throughputBps: 100_000, activeDownloads: 0 }],
    });
    expect(plan).toEqual({ kind: "http", reason: "no-time" });
  });

  it("no peers → HTTP; VOD/old segment nobody has → HTTP; live fetcher → HTTP", () => {
    expect(planDownload({ ...base, servingPeers: 0, nearLiveEdge: true })).toEqual({
      kind: "http",
      reason: "no-peers",
    });
    expect(planDownload(base)).toEqual({ kind: "http", reason: "not-announced" });
    expect(planDownload({ ...base, nearLiveEdge: true, selfIsFetcher: true })).toEqual({
      kind: "http",
      reason: "fetcher",
    });
  });

  it("a live non-fetcher waits, but only as long as a peer transfer still fits before giveUpAt", () => {
    const plan = planDownload({ ...base, nearLiveEdge: true });
    expect(plan).toEqual({
      kind: "wait",
      until: base.giveUpAt - estimateTransferMs(500_000, DEFAULT_PEER_BPS),
    });
    const late = planDownload({
      ...base,
      nearLiveEdge: true,
      giveUpAt: base.now + estimateTransferMs(500_000, DEFAULT_PEER_BPS) + MIN_WAIT_MS - 1,
    });
    expect(late).toEqual({ kind: "http", reason: "no-time" });
  });

  it("never plans past giveUpAt (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.option(fc.integer({ min: 1, max: 32_000_000 }), { nil: undefined }),
        fc.boolean(),
        fc.boolean(),
        fc.array(
          fc.record({
            peerId: fc.string({ minLength: 1, maxLength: 4 }),
            throughputBps: fc.integer({ min: 0, max: 50_000_000 }),
            activeDownloads: fc.integer({ min: 0, max: 4 }),
          }),
          { maxLength: 5 },
        ),
        fc.option(fc.integer({ min: 0, max: 20_000 }), { nil: undefined }),
        (now, budget, size, edge, fetcher, candidates, backupAt) => {
          const plan = planDownload({
            now,
            giveUpAt: now + budget,
            size,
            nearLiveEdge: edge,
            selfIsFetcher: fetcher,
            backupAt,
            candidates,
            servingPeers: candidates.length,
          });
          if (plan.kind === "wait") expect(plan.until).toBeLessThan(now + budget);
          if (plan.kind === "peer") expect(plan.estimatedMs).toBeLessThanOrEqual(budget);
        },
      ),
      { numRuns: 2000, seed: 3 },
    );
  });
});

describe("live HTTP fetchers", () => {
  it("fetcherCount: a share of the group, rounded, at least one", () => {
    expect([0, 1, 2, 3, 4, 8, 10, 20, 100].map((n) => fetcherCount(n, 0.15))).toEqual([
      0, 1, 1, 1, 1, 1, 2, 3, 15,
    ]);
    expect(fetcherCount(10, 1)).toBe(10);
  });

  it("in a full mesh exactly fetcherCount viewers fetch each segment, and the role rotates", () => {
    const rnd = seeded(5);
    const ids = Array.from({ length: 12 }, () => makePeerId(rnd));
    const perViewer = new Map<string, number>();
    for (let sn = 0; sn < 200; sn++) {
      const seg = `live/seg-${sn}.ts`;
      const fetchers = ids.filter(
        (id) =>
          fetchRole(
            id,
            true,
            ids.filter((x) => x !== id),
            seg,
            0.15,
          ) === "fetcher",
      );
      expect(fetchers).toHaveLength(fetcherCount(12, 0.15));
      for (const f of fetchers) perViewer.set(f, (perViewer.get(f) ?? 0) + 1);
    }
    // spread: every viewer takes its turn, nobody carries most of the load
    expect(perViewer.size).toBe(12);
    for (const n of perViewer.values()) expect(n).toBeLessThan(200 * 0.5);
  });

  it("in a full mesh of four or more exactly one backup fetcher, never a fetcher; none below four", () => {
    const rnd = seeded(9);
    for (const n of [3, 4, 8]) {
      const ids = Array.from({ length: n }, () => makePeerId(rnd));
      for (let sn = 0; sn < 50; sn++) {
        const seg = `live/seg-${sn}.ts`;
        const others = (id: string): string[] => ids.filter((x) => x !== id);
        const backups = ids.filter((id) => fetchRole(id, true, others(id), seg, 0.15) === "backup");
        expect(backups).toHaveLength(n >= 4 ? 1 : 0);
        for (const b of backups)
          expect(fetchRole(b, true, others(b), seg, 0.15) === "fetcher").toBe(false);
      }
    }
    expect(fetchRole("me", false, ["a", "b", "c", "d"], "s", 0.15) === "backup").toBe(false);
  });

  it("the backup fetcher waits for a have until backupAt, then goes to HTTP; never past giveUpAt", () => {
    const live = { ...base, nearLiveEdge: true, giveUpAt: 9000 };
    expect(planDownload({ ...live, backupAt: 2500 })).toEqual({ kind: "wait", until: 2500 });
    expect(planDownload({ ...live, now: 2500, backupAt: 2500 })).toEqual({
      kind: "http",
      reason: "backup",
    });
    // A backup deadline beyond the peers' budget changes nothing: giveUpAt still rules.
    expect(planDownload({ ...live, backupAt: 20_000 })).toEqual({
      kind: "wait",
      until: 9000 - estimateTransferMs(500_000, DEFAULT_PEER_BPS),
    });
    // A peer that has it beats the backup role.
    const withPeer = { ...live, now: 2600, backupAt: 2500 };
    const c = [{ peerId: "p", throughputBps: 5_000_000, activeDownloads: 0 }];
    expect(planDownload({ ...withPeer, candidates: c }).kind).toBe("peer");
  });

  it("a download-only viewer fetches only when nobody around it serves", () => {
    expect(fetchRole("me", false, ["a", "b"], "s", 0.15) === "fetcher").toBe(false);
    expect(fetchRole("me", false, [], "s", 0.15) === "fetcher").toBe(true);
    expect(fetchRole("me", true, [], "s", 0.15) === "fetcher").toBe(true);
  });
});

describe("transfer monitoring", () => {
  it("flags a transfer that cannot finish by giveUpAt, not one that can", () => {
    const p = { giveUpAt: 3000, startedAt: 0, total: 1_000_000 };
    expect(isFallingBehind({ ...p, now: 1000, received: 200_000 })).toBe(true);
    expect(isFallingBehind({ ...p, now: 1000, received: 500_000 })).toBe(false);
    expect(isFallingBehind({ ...p, now: 100, received: 1 })).toBe(false); // too early to judge
    expect(isFallingBehind({ ...p, now: 3000, received: 999_999 })).toBe(true);
    expect(isFallingBehind({ ...p, now: 3500, received: 1_000_000 })).toBe(false);
  });
});

describe("backoff", () => {
  const retry = DEFAULT_CONFIG.p2p.trackerRetry;

  it("grows exponentially up to the cap, jittered within ±jitter", () => {
    const mid = (): number => 0.5;
    expect([0, 1, 2, 3, 10, 100].map((n) => backoffDelay(retry, n, mid))).toEqual([
      1000, 2000, 4000, 8000, 30_000, 30_000,
    ]);
    expect(backoffDelay(retry, 0, () => 0)).toBe(500);
    expect(backoffDelay(retry, 0, () => 1)).toBe(1500);
    expect(backoffDelay({ ...retry, backoff: "linear" }, 2, mid)).toBe(3000);
  });

  it("spreads clients that lost the same server", () => {
    const delays = Array.from({ length: 50 }, (_, i) => backoffDelay(retry, 3, seeded(i)));
    expect(new Set(delays).size).toBeGreaterThan(40);
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(4000);
      expect(d).toBeLessThanOrEqual(12_000);
    }
  });
});

describe("download-only", () => {
  it("auto: on for saveData, metered or cellular connections; booleans override", () => {
    expect(resolveDownloadOnly("auto", { connection: { saveData: true } })).toBe(true);
    expect(resolveDownloadOnly("auto", { connection: { metered: true } })).toBe(true);
    expect(resolveDownloadOnly("auto", { connection: { type: "cellular" } })).toBe(true);
    expect(resolveDownloadOnly("auto", { connection: { type: "wifi", saveData: false } })).toBe(
      false,
    );
    expect(resolveDownloadOnly("auto", {})).toBe(false);
    expect(resolveDownloadOnly("auto", undefined)).toBe(false);
    expect(resolveDownloadOnly(false, { connection: { saveData: true } })).toBe(false);
    expect(resolveDownloadOnly(true, {})).toBe(true);
  });
});
