/**
 * Smoke run of the scale simulation (10 viewers, 20 virtual seconds) so it cannot rot: the
 * result has the fields the benchmark reports, obeys the invariants of any live swarm (every
 * segment leaves the CDN at least once, offload never beats 1 − 1/N, every viewer starts), and
 * the simulation is deterministic for a seed. No performance goals here.
 */
import { describe, expect, it } from "vitest";
import { simulate, VirtualClock, type SimOptions } from "../scale/sim.js";

const base: SimOptions = {
  viewers: 10,
  seconds: 20,
  joinSpreadS: 4,
  segmentS: 2,
  liveWindow: 6,
  liveSyncCount: 3,
  segmentBytes: 64 * 1024,
  httpRttMs: 40,
  httpBytesPerSec: 2_500_000,
  peerLatencyMs: 20,
  peerLinkBytesPerSec: 1_250_000,
  uploadBytesPerSec: 1_250_000,
  trackerLatencyMs: 20,
  seed: 7,
};

describe("scale simulation smoke", () => {
  it("virtual clock runs timers in time order and skips cleared ones", async () => {
    const clock = new VirtualClock();
    const seen: string[] = [];
    clock.setTimeout(() => seen.push("b@20"), 20);
    clock.setTimeout(() => seen.push("a@10"), 10);
    const h = clock.setTimeout(() => seen.push("never"), 15);
    clock.clearTimeout(h);
    clock.setTimeout(() => {
      seen.push("c@30");
      clock.setTimeout(() => seen.push(`d@${clock.now()}`), 5);
    }, 30);
    await clock.runUntil(100);
    expect(seen).toEqual(["a@10", "b@20", "c@30", "d@35"]);
    expect(clock.now()).toBe(100);
  });

  it("10 viewers: sane result, swarm invariants hold, deterministic per seed", async () => {
    const r = await simulate(base);
    expect(r.viewers).toBe(10);
    expect(r.segmentsCounted).toBeGreaterThan(0);
    expect(r.corruptSegments).toBe(0);
    // Every counted segment came from the CDN at least once; nobody beats the live limit.
    expect(r.cdnCopiesPerSegmentMean).toBeGreaterThanOrEqual(1);
    expect(r.offload).toBeGreaterThanOrEqual(0);
    expect(r.offload).toBeLessThanOrEqual(r.limit + 1e-9);
    expect(r.p2pBytes + r.cdnBytes).toBe(r.segmentsCounted * r.viewers * base.segmentBytes);
    expect(Number.isFinite(r.startupMsMedian)).toBe(true);
    expect(Number.isFinite(r.latencySMedian)).toBe(true);
    for (const k of [
      "stalls",
      "stallMsTotal",
      "viewersStalled",
      "events",
      "peersMedian",
    ] as const) {
      expect(typeof r[k]).toBe("number");
    }
    const again = await simulate(base);
    expect({ ...again, wallS: 0 }).toEqual({ ...r, wallS: 0 });
  });
});
