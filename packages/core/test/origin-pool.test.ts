import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type HttpConfig, resolveConfig } from "../src/config.js";
import { OriginPool, type PoolRequest } from "../src/origin-pool.js";
import { planRanges } from "../src/range-plan.js";
import type { OriginState } from "../src/types.js";
import {
  bytes,
  FAKE_TIMERS,
  FakeNet,
  ORIGINS,
  sameBytes,
  seededRandom,
  testClock,
  rejection,
} from "./fake-net.js";

function makePool(
  net: FakeNet,
  http: Partial<HttpConfig> = {},
  opts: { random?: () => number; origins?: readonly string[] } = {},
) {
  const events: Array<[string, OriginState]> = [];
  // These tests pin the ranking (fastest first); the spreading policies have their own tests.
  const config = resolveConfig({
    origins: [...(opts.origins ?? net.origins)],
    http: { originPolicy: "fastest", ...http },
  });
  const pool = new OriginPool({
    config,
    fetch: net.fetch,
    clock: testClock,
    random: opts.random ?? seededRandom(7),
    onStateChange: (o, s) => events.push([o, s]),
  });
  return { pool, events };
}

const signal = (): AbortSignal => new AbortController().signal;
const req = (path: string, extra: Partial<PoolRequest> = {}): PoolRequest => ({
  url: `${ORIGINS[0]}${path}`,
  kind: "segment",
  signal: signal(),
  ...extra,
});
const [A, B, C] = ORIGINS;

describe("OriginPool failover", () => {
  afterEach(() => vi.useRealTimers());

  it("maps a URL under a configured origin to the same path on every origin (its query only on its own origin), and fetches others as is", async () => {
    const net = new FakeNet();
    net.files.set("v/seg1.ts?tok=1", "x");
    net.files.set("v/seg1.ts", bytes(100));
    net.faults.set(A, () => ({ status: 500 }));
    const { pool } = makePool(net, {
      segmentRetry: {
        maxNumRetry: 2,
        retryDelayMs: 1,
        maxRetryDelayMs: 1,
        backoff: "linear",
        jitter: 0,
      },
    });
    const res = await pool.fetch(req("v/seg1.ts?tok=1"));
    // A's token is A's: the query is not copied to B (origins' default `query: "drop"`).
    expect(net.calls.map((c) => c.url)).toEqual([`${A}v/seg1.ts?tok=1`, `${B}v/seg1.ts`]);
    expect(res.origin).toBe(B);
    expect(sameBytes(res.data, bytes(100))).toBe(true);

    const other = new FakeNet(["http://elsewhere.test/"]);
    other.files.set("s.ts", bytes(10));
    const single = makePool(other, {}, { origins: ORIGINS });
    const r2 = await single.pool.fetch({
      url: "http://elsewhere.test/s.ts",
      kind: "segment",
      signal: signal(),
    });
    expect(r2.origin).toBe("http://elsewhere.test");
    expect(other.calls).toHaveLength(1);
  });

  it("r06 one origin 5xx mid-play fails over within the same segment; the origin is marked open", async () => {
    vi.useFakeTimers(FAKE_TIMERS); // frozen clock: equal speed estimates, so config order decides
    const net = new FakeNet();
    for (let i = 0; i < 4; i++) net.files.set(`seg${i}.ts`, bytes(50_000, i));
    const { pool, events } = makePool(net);
    expect((await pool.fetch(req("seg0.ts"))).origin).toBe(A);
    net.faults.set(A, () => ({ status: 503 }));
    for (let i = 1; i < 4; i++) {
      const res = await pool.fetch(req(`seg${i}.ts`));
      expect(sameBytes(res.data, bytes(50_000, i))).toBe(true);
      expect(res.origin).not.toBe(A);
    }
    // Each failure costs one failed attempt on A, never a second one within the same segment.
    for (let i = 1; i < 4; i++)
      expect(net.callsTo(`seg${i}.ts`).filter((c) => c.origin === A).length).toBeLessThanOrEqual(1);
    // Three consecutive failures (threshold) open A's breaker; the segments never failed.
    expect(events).toEqual([[A, "open"]]);
    expect(pool.stats()[A]).toMatchObject({ state: "open", failures: 3 });
    net.calls.length = 0;
    await pool.fetch(req("seg0.ts"));
    expect(net.calls.map((c) => c.origin)).toEqual([B]); // open origins are skipped
    pool.destroy();
  });

  it("r06 an origin refusing connections mid-transfer (reset) fails over and the segment is byte-identical", async () => {
    const net = new FakeNet();
    net.files.set("seg.ts", bytes(300_000));
    net.faults.set(A, () => ({ resetAt: 100_000, chunkBytes: 50_000 }));
    const { pool } = makePool(net, { splitThresholdBytes: 0 });
    const res = await pool.fetch(req("seg.ts"));
    expect(sameBytes(res.data, bytes(300_000))).toBe(true);
    expect(res.origin).toBe(B);
    net.faults.set(B, () => ({ refuse: true }));
    expect((await pool.fetch(req("seg.ts"))).origin).toBe(C);
  });

  it("r06 an origin refusing connections is marked open at once, though traffic moved elsewhere", async () => {
    vi.useFakeTimers(FAKE_TIMERS);
    const net = new FakeNet();
    net.files.set("seg.ts", bytes(1000));
    net.faults.set(A, () => ({ refuse: true }));
    const { pool, events } = makePool(net, { splitThresholdBytes: 0, breakerThreshold: 3 });
    expect((await pool.fetch(req("seg.ts"))).origin).toBe(B);
    // One refused connection is enough: a dead origin must not show "healthy" in stats.
    expect(pool.stats()[A]?.state).toBe("open");
    expect(events).toEqual([[A, "open"]]);
    // A 5xx, by contrast, is a bad response: below the threshold the origin stays healthy.
    const { pool: p2 } = makePool(net, { splitThresholdBytes: 0, breakerThreshold: 3 });
    net.faults.set(A, () => ({ status: 503 }));
    expect((await p2.fetch(req("seg.ts"))).origin).toBe(B);
    expect(p2.stats()[A]?.state).toBe("healthy");
    pool.destroy();
    p2.destroy();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("r06 open breaker is probed after a jittered exponential backoff, reopens on failure and closes on success", async () => {
    vi.useFakeTimers(FAKE_TIMERS);
    try {
      const net = new FakeNet();
      net.files.set("seg.ts", bytes(1000));
      let aDown = false;
      net.faults.set(A, () => (aDown ? { refuse: true } : undefined));
      // random() = 0 → the low edge of the ±25 % jitter: delays are exactly 0.75 × base × 2^n.
      const { pool, events } = makePool(
        net,
        { breakerThreshold: 3, breakerBaseMs: 2000, breakerMaxMs: 30_000 },
        { random: () => 0 },
      );
      await pool.fetch(req("seg.ts")); // A measured: it stays the first choice while failing
      aDown = true;
      for (let i = 0; i < 3; i++) expect((await pool.fetch(req("seg.ts"))).origin).toBe(B);
      expect(events).toEqual([[A, "open"]]);
      expect(pool.stats()[A]?.state).toBe("open");
      const aCalls = (): number => net.calls.filter((c) => c.origin === A).length;
      const before = aCalls();

      await vi.advanceTimersByTimeAsync(1499);
      expect(events).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(1);
      expect(events.slice(1)).toEqual([
        [A, "half-open"],
        [A, "open"],
      ]);
      expect(aCalls()).toBe(before + 1); // the probe

      await vi.advanceTimersByTimeAsync(2999); // second backoff: 0.75 × 4000
      expect(events).toHaveLength(3);
      aDown = false;
      await vi.advanceTimersByTimeAsync(1);
      expect(events.slice(3)).toEqual([
        [A, "half-open"],
        [A, "healthy"],
      ]);
      expect((await pool.fetch(req("seg.ts"))).origin).toBe(A);
      pool.destroy();
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it("r07 403/404/410 are not retried on that origin; other origins are tried", async () => {
    const net = new FakeNet();
    net.files.set("seg.ts", bytes(1000));
    for (const status of [403, 404, 410]) {
      net.calls.length = 0;
      net.faults.set(A, () => ({ status }));
      const { pool } = makePool(net);
      const res = await pool.fetch(req("seg.ts"));
      expect(res.origin).toBe(B);
      expect(net.calls.filter((c) => c.origin === A)).toHaveLength(1);
    }
  });

  it("r07 a clear fatal error when every origin answers 404, each asked once", async () => {
    const net = new FakeNet();
    const { pool } = makePool(net);
    const e = await rejection(pool.fetch(req("missing.ts")));
    expect(e.code).toBe("ALL_ORIGINS_FAILED");
    expect(e.fatal).toBe(true);
    expect(e.details["status"]).toBe(404);
    expect(e.message).toContain("HTTP 404");
    expect(e.message).toContain("missing.ts");
    expect(net.calls.map((c) => c.origin)).toEqual([A, B, C]);

    const one = new FakeNet([A]);
    one.faults.set(A, () => ({ status: 410 }));
    const single = makePool(one);
    const e1 = await rejection(single.pool.fetch(req("x.ts")));
    expect([e1.code, e1.details["status"], e1.details["origin"]]).toEqual(["HTTP_STATUS", 410, A]);
    expect(one.calls).toHaveLength(1);
  });

  it("5xx on a single origin is retried with backoff and jitter, then fails with its status", async () => {
    vi.useFakeTimers(FAKE_TIMERS);
    try {
      const one = new FakeNet([A]);
      one.faults.set(A, () => ({ status: 502 }));
      const { pool } = makePool(
        one,
        {
          segmentRetry: {
            maxNumRetry: 3,
            retryDelayMs: 100,
            maxRetryDelayMs: 1000,
            backoff: "exponential",
            jitter: 0.5,
          },
        },
        { random: () => 1 },
      );
      const p = rejection(pool.fetch(req("x.ts", { split: false })));
      await vi.advanceTimersByTimeAsync(2000);
      const e = await p;
      expect([e.code, e.details["status"]]).toEqual(["HTTP_STATUS", 502]);
      expect(one.calls).toHaveLength(4);
      // random() = 1 → +50 %: 150, 300, 600 ms between attempts.
      const at = one.calls.map((c) => c.at);
      expect(at.slice(1).map((t, i) => t - (at[i] ?? 0))).toEqual([150, 300, 600]);
      expect(pool.retries).toBe(3);
    } finally {
      vi.useRealTimers();
    }
  });

  it("playlists get the same failover", async () => {
    const net = new FakeNet();
    net.files.set("index.m3u8", "#EXTM3U\n");
    net.faults.set(A, () => ({ status: 500 }));
    net.faults.set(B, () => ({ refuse: true }));
    const { pool } = makePool(net);
    const res = await pool.fetch(req("index.m3u8", { kind: "playlist" }));
    expect(new TextDecoder().decode(res.data)).toBe("#EXTM3U\n");
    expect(res.origin).toBe(C);
  });
});

describe("OriginPool timeouts, truncation, hedging (r08)", () => {
  beforeEach(() => vi.useFakeTimers(FAKE_TIMERS));
  afterEach(() => vi.useRealTimers());

  it("r08 slow-loris origin (headers then a trickle) is hedged to another origin and the loser is aborted", async () => {
    const net = new FakeNet();
    net.files.set("seg.ts", bytes(200_000));
    net.faults.set(A, () => ({ chunkBytes: 100, chunkDelayMs: 1000 }));
    const { pool } = makePool(net, {
      hedgeFactor: 2,
      minHedgeDelayMs: 800,
      splitThresholdBytes: 0,
    });
    const p = pool.fetch(req("seg.ts"));
    await vi.advanceTimersByTimeAsync(1599); // unmeasured origin: hedge at hedgeFactor × minHedgeDelayMs
    expect(net.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(net.calls.map((c) => c.origin)).toEqual([A, B]);
    const res = await p;
    expect(res.origin).toBe(B);
    expect(sameBytes(res.data, bytes(200_000))).toBe(true);
    expect(pool.hedges).toBe(1);
    expect(net.calls[0]?.signal?.aborted).toBe(true);
    expect(pool.stats()[A]?.failures).toBe(0); // a hedge loser is not a failure
    pool.destroy();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("r08 first-byte and stall timeouts abort the attempt and refetch elsewhere", async () => {
    for (const fault of [{ headerDelayMs: 60_000 }, { stallAt: 10_000, chunkBytes: 5000 }]) {
      const net = new FakeNet();
      net.files.set("seg.ts", bytes(100_000));
      net.faults.set(A, () => fault);
      // Hedging pushed out of the way so only the timeouts act.
      const { pool } = makePool(net, {
        firstByteTimeoutMs: 4000,
        stallTimeoutMs: 3000,
        minHedgeDelayMs: 60_000,
        splitThresholdBytes: 0,
      });
      const p = pool.fetch(req("seg.ts"));
      const t0 = Date.now();
      await vi.advanceTimersByTimeAsync(5000);
      const res = await p;
      expect(res.origin).toBe(B);
      expect(sameBytes(res.data, bytes(100_000))).toBe(true);
      expect(net.calls[0]?.signal?.aborted).toBe(true);
      expect(net.calls[1]?.url).toBe(`${B}seg.ts`);
      expect(res.startedAt - t0).toBeLessThanOrEqual(4000);
      expect(pool.stats()[A]?.failures).toBe(1);
    }
  });

  it("a blocking LL-HLS reload held past the first-byte timeout is not hedged, timed out or timed", async () => {
    const net = new FakeNet();
    net.files.set("live/v0.m3u8", "#EXTM3U\n");
    net.faults.set(A, () => ({ headerDelayMs: 6000 })); // the origin holds until the part exists
    const http = { firstByteTimeoutMs: 4000, hedgeFactor: 2, minHedgeDelayMs: 800 };
    const blocking = makePool(net, http).pool;
    const p = blocking.fetch({
      url: `${A}live/v0.m3u8?_HLS_msn=12&_HLS_part=2`,
      kind: "playlist",
      signal: signal(),
      blockingHoldMs: 9000,
    });
    await vi.advanceTimersByTimeAsync(6000);
    const res = await p;
    expect(res.origin).toBe(A);
    expect(net.calls).toHaveLength(1);
    expect(blocking.hedges).toBe(0);
    expect(blocking.stats()[A]).toMatchObject({ failures: 0, ttfbMs: 0, state: "healthy" });

    // The same wait on an ordinary playlist request: hedged at 1600 ms, B answers.
    const plain = makePool(net, http).pool;
    const q = plain.fetch({ url: `${A}live/v0.m3u8`, kind: "playlist", signal: signal() });
    await vi.advanceTimersByTimeAsync(1600);
    expect((await q).origin).toBe(B);
    expect(plain.hedges).toBe(1);
    blocking.destroy();
    plain.destroy();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a blocking reload whose hold runs out moves to the next origin without a strike against the first", async () => {
    const net = new FakeNet();
    net.files.set("live/v0.m3u8", "#EXTM3U\n");
    net.faults.set(A, (call) => (call.url.includes("_HLS_msn") ? { headerDelayMs: 60_000 } : {}));
    const { pool } = makePool(net, { firstByteTimeoutMs: 1000, breakerThreshold: 2 });
    for (let msn = 1; msn <= 3; msn++) {
      const p = pool.fetch({
        url: `${A}live/v0.m3u8?_HLS_msn=${msn}`,
        kind: "playlist",
        signal: signal(),
        blockingHoldMs: 5000,
      });
      await vi.advanceTimersByTimeAsync(5000);
      expect((await p).origin).toBe(B);
    }
    // Three holds ran out on A, with a breaker threshold of 2: A is still healthy.
    expect(pool.stats()[A]).toMatchObject({ failures: 0, state: "healthy" });
    // A real first-byte timeout on an ordinary request is still one.
    net.faults.set(A, () => ({ headerDelayMs: 60_000 }));
    const p = pool.fetch({ url: `${A}live/v0.m3u8`, kind: "playlist", signal: signal() });
    await vi.advanceTimersByTimeAsync(1000);
    await p;
    expect(pool.stats()[A]?.failures).toBe(1);
    pool.destroy();
  });

  it("a blocking reload's URL is never used as a breaker probe (the probe would be held)", async () => {
    const net = new FakeNet();
    net.files.set("seg.ts", bytes(1000));
    net.files.set("live/v0.m3u8", "#EXTM3U\n");
    let aDown = false;
    net.faults.set(A, () => (aDown ? { refuse: true } : undefined));
    const { pool } = makePool(net, { breakerBaseMs: 2000 }, { random: () => 0 });
    await pool.fetch(req("seg.ts"));
    aDown = true;
    // The reload that finds A down (refused: A opens at once) and is served by B.
    const reload = `${A}live/v0.m3u8?_HLS_msn=3`;
    const held = { kind: "playlist", signal: signal(), blockingHoldMs: 5000 } as const;
    expect((await pool.fetch({ url: reload, ...held })).origin).toBe(B);
    expect(pool.stats()[A]?.state).toBe("open");
    await vi.advanceTimersByTimeAsync(1500); // 0.75 × breakerBaseMs
    const probe = net.calls.filter((c) => c.origin === A).at(-1);
    expect(probe?.url).toBe(`${A}seg.ts`);
    pool.destroy();
  });

  it("r08 a truncated body or a wrong Content-Length is never passed on", async () => {
    const size = 80_000;
    for (const fault of [
      { truncateAt: 30_000 },
      { contentLength: size + 10 },
      { contentLength: size - 10 },
    ]) {
      const net = new FakeNet();
      net.files.set("seg.ts", bytes(size));
      net.faults.set(A, () => fault);
      const { pool } = makePool(net, { splitThresholdBytes: 0 });
      const res = await pool.fetch(req("seg.ts"));
      expect(res.origin).toBe(B);
      expect(sameBytes(res.data, bytes(size))).toBe(true);
    }
    // One origin that always truncates: the load fails, it never resolves with short bytes.
    const one = new FakeNet([A]);
    one.files.set("seg.ts", bytes(size));
    one.faults.set(A, () => ({ truncateAt: 1000 }));
    const { pool } = makePool(one, {
      segmentRetry: {
        maxNumRetry: 2,
        retryDelayMs: 10,
        maxRetryDelayMs: 10,
        backoff: "linear",
        jitter: 0,
      },
    });
    const p = rejection(pool.fetch(req("seg.ts")));
    await vi.advanceTimersByTimeAsync(100);
    const e = await p;
    expect(e.code).toBe("HTTP_TRUNCATED");
    expect(one.calls).toHaveLength(3);
  });

  it("hedges after hedgeFactor × the measured expected time", async () => {
    const net = new FakeNet();
    net.files.set("seg.ts", bytes(1000));
    net.faults.set(A, () => ({ headerDelayMs: 1000 }));
    const { pool } = makePool(net, {
      hedgeFactor: 3,
      minHedgeDelayMs: 100,
      splitThresholdBytes: 0,
    });
    // Measure A: TTFB 1000 ms (the hedge would fire at 300 ms, unmeasured → B answers first).
    const first = pool.fetch(req("seg.ts"));
    await vi.advanceTimersByTimeAsync(1000);
    expect((await first).origin).toBe(B);
    // B is now measured at ~0 ms; A stays unmeasured. Next request goes to B.
    net.calls.length = 0;
    await pool.fetch(req("seg.ts"));
    expect(net.calls.map((c) => c.origin)).toEqual([B]);
    expect(pool.hedges).toBe(1);
  });
  it("a measured slow origin ranks behind an unmeasured one, is hedged against the best healthy origin, and loses its place", async () => {
    const net = new FakeNet([A, B, C]);
    net.files.set("seg.ts", bytes(1000));
    net.faults.set(A, () => ({ headerDelayMs: 2000 }));
    net.faults.set(B, () => ({ status: 500 }));
    net.faults.set(C, () => ({ status: 500 }));
    const { pool } = makePool(net, {
      hedgeFactor: 2,
      minHedgeDelayMs: 100,
      splitThresholdBytes: 0,
    });
    // Round 1: B and C fail, so only A gets measured — at 2000 ms.
    const first = pool.fetch(req("seg.ts"));
    await vi.advanceTimersByTimeAsync(2000);
    expect((await first).origin).toBe(A);
    // Round 2: B has recovered. Unmeasured, it is assumed to take minHedgeDelayMs /
    // hedgeFactor = 50 ms, so it goes before A's measured 2000 ms and gets measured.
    net.faults.delete(B);
    net.calls.length = 0;
    expect((await pool.fetch(req("seg.ts"))).origin).toBe(B);
    expect(net.calls.map((c) => c.origin)).toEqual([B]);
    // Round 3: B (measured fast) turns slow. The hedge fires at minHedgeDelayMs and the
    // unmeasured C takes over; the loser is aborted.
    net.faults.delete(C);
    net.faults.set(B, () => ({ headerDelayMs: 5000 }));
    net.calls.length = 0;
    const third = pool.fetch(req("seg.ts"));
    await vi.advanceTimersByTimeAsync(99);
    expect(net.calls.map((c) => c.origin)).toEqual([B]);
    await vi.advanceTimersByTimeAsync(1);
    expect(net.calls.map((c) => c.origin)).toEqual([B, C]);
    expect((await third).origin).toBe(C);
    expect(net.calls[0]?.signal?.aborted).toBe(true);
    pool.destroy();
  });
});

describe("OriginPool split ranges", () => {
  it("planRanges sizes ranges by throughput, tiles the whole, respects minRangeBytes", () => {
    const plan = planRanges(
      { start: 0, end: 4000 },
      [
        { origin: "a", bps: 3 },
        { origin: "b", bps: 1 },
      ],
      100,
    );
    expect(plan).toEqual([
      { origin: "a", start: 0, end: 3000 },
      { origin: "b", start: 3000, end: 4000 },
    ]);
    // c's share (1 %) would be under the minimum: it is dropped.
    const dropped = planRanges(
      { start: 10, end: 1010 },
      [
        { origin: "a", bps: 50 },
        { origin: "b", bps: 49 },
        { origin: "c", bps: 1 },
      ],
      100,
    );
    expect(dropped.map((r) => r.origin)).toEqual(["a", "b"]);
    expect(dropped[0]?.start).toBe(10);
    expect(dropped.at(-1)?.end).toBe(1010);
  });

  it("splits a large segment over origins, learning the size from the first response", async () => {
    const net = new FakeNet();
    const size = 3 * 1024 * 1024;
    net.files.set("big.ts", bytes(size));
    const { pool } = makePool(net, { splitThresholdBytes: 1024 * 1024, minRangeBytes: 256 * 1024 });
    const res = await pool.fetch(req("big.ts"));
    expect(sameBytes(res.data, bytes(size))).toBe(true);
    expect(new Set(res.origins)).toEqual(new Set(ORIGINS));
    expect(net.calls[0]?.range).toBeUndefined(); // the plain GET became range 0
    expect(net.calls.slice(1).every((c) => c.range !== undefined)).toBe(true);
    // Second time the size is known: ranges from the start.
    net.calls.length = 0;
    await pool.fetch(req("big.ts"));
    expect(net.calls.every((c) => c.range !== undefined)).toBe(true);
  });

  it("property: range split + merge gives byte-identical segments, also with a failing range refetched", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 5 }),
        fc.integer({ min: 1000, max: 60_000 }),
        fc.integer({ min: 50, max: 2000 }),
        fc.boolean(),
        fc.option(fc.nat(), { nil: undefined }),
        fc.boolean(),
        async (originCount, size, minRange, knownSize, failingOrigin, asByteRange) => {
          const origins = Array.from({ length: originCount }, (_, i) => `http://o${i}.test/`);
          const net = new FakeNet(origins);
          const data = bytes(size, size);
          net.files.set("s.ts", data);
          const bad =
            failingOrigin === undefined ? undefined : origins[failingOrigin % originCount];
          // The failing origin resets every range request halfway through.
          if (bad)
            net.faults.set(bad, (c) =>
              c.range
                ? { resetAt: Math.floor((c.range.end - c.range.start) / 2), chunkBytes: 64 }
                : undefined,
            );
          const { pool } = makePool(
            net,
            { splitThresholdBytes: 1000, minRangeBytes: minRange },
            { origins },
          );
          const url = `${origins[0]}s.ts`;
          if (knownSize) await pool.fetch({ url, kind: "segment", signal: signal(), split: false });
          const start = asByteRange ? Math.floor(size / 3) : 0;
          const range = asByteRange ? { start, end: size } : undefined;
          const res = await pool.fetch({ url, kind: "segment", signal: signal(), range });
          expect(sameBytes(res.data, data.subarray(start))).toBe(true);
          pool.destroy();
        },
      ),
      { numRuns: 60, seed: 42 },
    );
  });
});
