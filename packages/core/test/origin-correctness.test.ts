/**
 * Blame under split ranges (r24), every source bad (r23), load spreading, origin health after
 * bad bytes, splitting by deadline, and a missing optional hash manifest.
 */
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { resolveConfig, type HttpConfig } from "../src/config.js";
import { OriginPool } from "../src/origin-pool.js";
import type { OriginState } from "../src/types.js";
import { pick, PLAYLIST, seg, setup } from "./engine-harness.js";
import {
  bytes,
  FAKE_TIMERS,
  FakeNet,
  mediaPlaylist,
  ORIGINS,
  rejection,
  sameBytes,
  seededRandom,
  sha,
  testClock,
} from "./fake-net.js";

const [A, B, C] = ORIGINS;

/** seg0..seg{n-1} of `size` bytes on every origin, and a playlist tagging their hashes. */
async function hashedStream(
  net: FakeNet,
  n: number,
  size: number,
): Promise<{ data: Uint8Array[]; hashes: string[] }> {
  const data: Uint8Array[] = [];
  const hashes: string[] = [];
  for (let i = 0; i < n; i++) {
    const d = bytes(size, i + 1);
    net.files.set(`v/seg${i}.ts`, d);
    data.push(d);
    hashes.push(await sha(d));
  }
  net.files.set(
    "v/index.m3u8",
    mediaPlaylist(hashes.map((hash, i) => ({ name: `seg${i}.ts`, hash }))),
  );
  return { data, hashes };
}

const segReq = (i: number, extra = {}) => ({
  url: seg(i),
  kind: "segment" as const,
  playlistUrl: PLAYLIST,
  sn: i,
  ...extra,
});

afterEach(() => {
  vi.useRealTimers();
});

describe("r24 split ranges, one origin corrupts its range", () => {
  it("r24 property: whichever origin corrupts whichever range, only that origin is blamed", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 }), // rotation of the origin list: which range each gets
        fc.integer({ min: 0, max: 2 }), // the culprit
        fc.boolean(), // the culprit corrupts whole responses too, or only ranges
        fc.integer({ min: 30_000, max: 90_000 }),
        async (rotation, culpritIndex, corruptsWhole, size) => {
          const origins = [...ORIGINS.slice(rotation), ...ORIGINS.slice(0, rotation)];
          const culprit = ORIGINS[culpritIndex] ?? A;
          const net = new FakeNet();
          const { data } = await hashedStream(net, 1, size);
          net.faults.set(culprit, (c) =>
            c.path.endsWith(".ts") && (corruptsWhole || c.range !== undefined)
              ? { corrupt: true }
              : undefined,
          );
          const { engine, events } = setup(
            {
              origins,
              http: { splitThresholdBytes: 10_000, minRangeBytes: 5_000 },
            },
            { net },
          );
          try {
            await engine.loadPlaylist(`${origins[0]}v/index.m3u8`);
            // Twice: the second load knows the size and splits from the start.
            for (let n = 0; n < 2; n++) {
              const r = await engine.loadSegment(segReq(0, { url: `${origins[0]}v/seg0.ts` }));
              expect(r.verified).toBe(true);
              expect(sameBytes(r.data, data[0] ?? new Uint8Array())).toBe(true);
              // The next load must not be served from the store.
              engine["store"].clear();
            }
            const failures = pick(events, "integrityFailure");
            expect(failures.every((f) => f.origin === culprit)).toBe(true);
            const splits = net.calls.filter((c) => c.range !== undefined);
            expect(splits.length).toBeGreaterThan(0); // the segment really was split
            // Every range the culprit served was corrupt: it is blamed, nobody else is.
            if (splits.some((c) => c.origin === culprit))
              expect(failures.length).toBeGreaterThan(0);
            for (const o of ORIGINS)
              if (o !== culprit) expect(engine.stats.byOrigin[o]?.failures ?? 0).toBe(0);
          } finally {
            engine.destroy();
          }
        },
      ),
      { numRuns: 40, seed: 24 },
    );
  });

  it("r24 a split that fails is resolved by one whole copy; segmentLoaded names every contributor", async () => {
    const net = new FakeNet();
    const { data } = await hashedStream(net, 1, 60_000);
    // B corrupts only the ranges it serves; a whole copy from it would be fine.
    net.faults.set(B, (c) => (c.range ? { corrupt: true } : undefined));
    const { engine, events } = setup(
      { http: { splitThresholdBytes: 10_000, minRangeBytes: 5_000 } },
      { net },
    );
    await engine.loadPlaylist(PLAYLIST);
    const r = await engine.loadSegment(segReq(0));
    expect(sameBytes(r.data, data[0] ?? new Uint8Array())).toBe(true);
    expect(pick(events, "integrityFailure").map((f) => f.origin)).toEqual([B]);
    expect(engine.stats.byOrigin[A]?.failures).toBe(0);
    expect(engine.stats.byOrigin[C]?.failures).toBe(0);
    expect(engine.stats.byOrigin[B]?.failures).toBe(1);
    const loaded = pick(events, "segmentLoaded")[0];
    expect(loaded?.verified).toBe(true);
    expect(loaded?.origins?.reduce((s, o) => s + o.bytes, 0)).toBe(60_000);
    engine.destroy();
  });
});

describe("r23 every source serves bad bytes for one segment", () => {
  it("r23 a clear fatal error after one download per origin; retries within the memory window download nothing", async () => {
    vi.useFakeTimers(FAKE_TIMERS);
    const net = new FakeNet();
    await hashedStream(net, 2, 20_000);
    for (const o of ORIGINS)
      net.faults.set(o, (c) => (c.path === "v/seg0.ts" ? { corrupt: true } : undefined));
    const { engine, events } = setup({ http: { badSegmentMemoryMs: 30_000 } }, { net });
    await engine.loadPlaylist(PLAYLIST);
    const e = await rejection(engine.loadSegment(segReq(0)));
    expect([e.code, e.fatal]).toEqual(["INTEGRITY_MISMATCH", true]);
    expect(net.callsTo("v/seg0.ts")).toHaveLength(3);
    // The player retries (hls.js: up to fragLoadPolicy's maxNumRetry): each fails at once.
    for (let i = 0; i < 6; i++) {
      await vi.advanceTimersByTimeAsync(4000);
      const again = await rejection(engine.loadSegment(segReq(0)));
      expect([again.code, again.fatal, again.details["knownBad"]]).toEqual([
        "INTEGRITY_MISMATCH",
        true,
        true,
      ]);
    }
    expect(net.callsTo("v/seg0.ts")).toHaveLength(3);
    // Every failure reached the app as an error event, none silently.
    expect(pick(events, "error").filter((x) => x.code === "INTEGRITY_MISMATCH")).toHaveLength(7);
    // Other segments are unaffected.
    expect((await engine.loadSegment(segReq(1))).verified).toBe(true);
    // After the memory window the segment is tried again (the origins may have been fixed).
    await vi.advanceTimersByTimeAsync(30_000);
    net.faults.clear();
    expect((await engine.loadSegment(segReq(0))).verified).toBe(true);
    expect(net.callsTo("v/seg0.ts")).toHaveLength(4);
    engine.destroy();
  });
});

function makePool(http: Partial<HttpConfig>, weights?: Record<string, number>) {
  const net = new FakeNet();
  const events: Array<[string, OriginState]> = [];
  const pool = new OriginPool({
    // Weights come with the origins, as users configure them.
    config: resolveConfig({
      origins: ORIGINS.map((url) => ({ url, weight: weights?.[url] ?? 1 })),
      http,
    }),
    fetch: net.fetch,
    clock: testClock,
    random: seededRandom(5),
    onStateChange: (o, s) => events.push([o, s]),
  });
  return { net, pool, events };
}

const fetchSeg = (pool: OriginPool, i: number) =>
  pool.fetch({ url: `${A}s${i}.ts`, kind: "segment", signal: new AbortController().signal });

describe("load spreading over healthy origins", () => {
  const shares = async (
    http: Partial<HttpConfig>,
    weights?: Record<string, number>,
  ): Promise<Record<string, number>> => {
    const { net, pool } = makePool(http, weights);
    const n = 300;
    for (let i = 0; i < n; i++) net.files.set(`s${i}.ts`, bytes(2000, i));
    const count: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const r = await fetchSeg(pool, i);
      count[r.origin] = (count[r.origin] ?? 0) + 1;
    }
    pool.destroy();
    return Object.fromEntries(ORIGINS.map((o) => [o, (count[o] ?? 0) / n]));
  };

  it("weighted (the default) spreads evenly without weights and by weight with them", async () => {
    const even = await shares({});
    for (const o of ORIGINS) expect(Math.abs((even[o] ?? 0) - 1 / 3)).toBeLessThan(0.05);
    const weighted = await shares({ originPolicy: "weighted" }, { [A]: 2, [B]: 1, [C]: 1 });
    expect(Math.abs((weighted[A] ?? 0) - 0.5)).toBeLessThan(0.05);
    expect(Math.abs((weighted[B] ?? 0) - 0.25)).toBeLessThan(0.05);
    expect(Math.abs((weighted[C] ?? 0) - 0.25)).toBeLessThan(0.05);
  });

  it("a weight of 0 keeps an origin out of the rotation; it still serves as failover", async () => {
    const backup = await shares({}, { [A]: 0, [B]: 1, [C]: 1 });
    expect(backup[A]).toBeLessThan(0.02); // only while B and C warm up, if at all
    const { net, pool } = makePool({ originPolicy: "weighted" }, { [A]: 0, [B]: 1, [C]: 1 });
    net.files.set("s0.ts", bytes(2000, 0));
    net.faults.set(B, () => ({ status: 503 }));
    net.faults.set(C, () => ({ status: 503 }));
    const r = await fetchSeg(pool, 0);
    expect(r.origin).toBe(A);
  });

  it("round-robin ignores weights; fastest sends everything to the best origin", async () => {
    const rr = await shares({ originPolicy: "round-robin" }, { [A]: 5, [B]: 1, [C]: 1 });
    for (const o of ORIGINS) expect(Math.abs((rr[o] ?? 0) - 1 / 3)).toBeLessThan(0.05);
    const fastest = await shares({ originPolicy: "fastest" });
    expect(Math.max(...Object.values(fastest))).toBeGreaterThan(0.9);
  });

  it("keeps failover: a failing origin drops out of the rotation, the others share its load", async () => {
    vi.useFakeTimers(FAKE_TIMERS);
    const { net, pool } = makePool({ breakerMaxMs: 30_000 });
    for (let i = 0; i < 60; i++) net.files.set(`s${i}.ts`, bytes(2000, i));
    net.faults.set(B, () => ({ status: 503 }));
    const count: Record<string, number> = {};
    for (let i = 0; i < 60; i++) {
      const r = await fetchSeg(pool, i);
      expect(sameBytes(r.data, bytes(2000, i))).toBe(true);
      count[r.origin] = (count[r.origin] ?? 0) + 1;
    }
    expect(count[B]).toBeUndefined();
    // After its first 503, B sits out of the rotation: asked once, not once per turn.
    expect(net.calls.filter((c) => c.origin === B)).toHaveLength(1);
    // breakerMaxMs later it gets its turn again; recovered, it takes its share.
    await vi.advanceTimersByTimeAsync(30_000);
    net.faults.clear();
    const later: Record<string, number> = {};
    for (let i = 0; i < 30; i++) {
      const r = await fetchSeg(pool, i);
      later[r.origin] = (later[r.origin] ?? 0) + 1;
    }
    expect(later[B]).toBeGreaterThanOrEqual(8);
    expect(Math.abs((count[A] ?? 0) - (count[C] ?? 0))).toBeLessThanOrEqual(6);
    pool.destroy();
  });
});

describe("load spreading and a slow origin", () => {
  it("an origin slower than the hedge threshold gets no share once it lost a hedge", async () => {
    vi.useFakeTimers(FAKE_TIMERS);
    const { net, pool } = makePool({ minHedgeDelayMs: 200, hedgeFactor: 2 });
    for (let i = 0; i < 30; i++) net.files.set(`s${i}.ts`, bytes(2000, i));
    net.faults.set(B, () => ({ headerDelayMs: 3000 }));
    const count: Record<string, number> = {};
    for (let i = 0; i < 30; i++) {
      const p = fetchSeg(pool, i);
      await vi.advanceTimersByTimeAsync(250);
      const r = await p;
      count[r.origin] = (count[r.origin] ?? 0) + 1;
    }
    expect(count[B]).toBeUndefined();
    // B was tried (it had no measurement), lost its hedge once, and was left out after that.
    expect(net.calls.filter((c) => c.origin === B)).toHaveLength(1);
    expect(pool.hedges).toBe(1);
    pool.destroy();
  });
});

describe("an origin that serves bad bytes loses health", () => {
  it("a corrupting origin ranks last after its first bad response", async () => {
    for (const originPolicy of ["fastest", "weighted"] as const) {
      const net = new FakeNet();
      await hashedStream(net, 4, 20_000);
      net.faults.set(A, (c) => (c.path.endsWith(".ts") ? { corrupt: true } : undefined));
      // B and C answer 30 ms later: A is clearly the fastest, so only its bad bytes demote it.
      net.faults.set(B, () => ({ headerDelayMs: 30 }));
      net.faults.set(C, () => ({ headerDelayMs: 30 }));
      const { engine, events } = setup({ http: { originPolicy } }, { net });
      await engine.loadPlaylist(PLAYLIST);
      const first = await engine.loadSegment(segReq(0));
      expect(first.verified).toBe(true);
      const aCalls = net.calls.filter((c) => c.origin === A && c.path.endsWith(".ts")).length;
      expect(aCalls).toBe(1); // served seg0 first (it also served the playlist)
      for (let i = 1; i < 4; i++) expect((await engine.loadSegment(segReq(i))).origin).not.toBe(A);
      // No further segment request went to A: its bad bytes cost it its rank.
      expect(net.calls.filter((c) => c.origin === A && c.path.endsWith(".ts"))).toHaveLength(1);
      expect(pick(events, "integrityFailure").map((f) => f.origin)).toEqual([A]);
      engine.destroy();
    }
  });

  it("breakerThreshold corrupt responses in a row open the breaker, though each transfer succeeded", async () => {
    vi.useFakeTimers(FAKE_TIMERS);
    const { net, pool, events } = makePool({ breakerThreshold: 3, originPolicy: "fastest" });
    net.files.set("s0.ts", bytes(2000));
    for (let i = 0; i < 3; i++) {
      const r = await pool.fetch({
        url: `${A}s0.ts`,
        kind: "segment",
        signal: new AbortController().signal,
        exclude: new Set([B, C]),
      });
      expect(r.origin).toBe(A);
      pool.penalise(A); // the engine found its bytes bad
      if (i < 2) expect(events).toEqual([]);
    }
    expect(events).toEqual([[A, "open"]]);
    expect(pool.stats()[A]).toMatchObject({ state: "open", failures: 3 });
    pool.destroy();
  });

  it("verified bytes clear the suspicion: an origin is not demoted for an old mistake", async () => {
    const { net, pool } = makePool({ originPolicy: "round-robin" });
    for (let i = 0; i < 9; i++) net.files.set(`s${i}.ts`, bytes(2000, i));
    pool.penalise(A);
    const before: string[] = [];
    for (let i = 0; i < 3; i++) before.push((await fetchSeg(pool, i)).origin);
    expect(before).not.toContain(A);
    pool.confirm([A]);
    const after: string[] = [];
    for (let i = 3; i < 9; i++) after.push((await fetchSeg(pool, i)).origin);
    expect(after).toContain(A);
    pool.destroy();
  });
});

describe("splitting decided by the deadline", () => {
  it("splits when the best origin alone is too slow for the deadline, not otherwise", async () => {
    vi.useFakeTimers(FAKE_TIMERS);
    const net = new FakeNet();
    const size = 200_000;
    const { data } = await hashedStream(net, 3, size);
    // Every origin trickles 20 KB per 100 ms: about 200 KB/s, so one origin needs ~1 s.
    for (const o of ORIGINS)
      net.faults.set(o, (c) =>
        c.path.endsWith(".ts") ? { chunkBytes: 20_000, chunkDelayMs: 100 } : undefined,
      );
    const { engine, events } = setup(
      {
        http: {
          originPolicy: "fastest",
          splitThresholdBytes: 10 * 1024 * 1024, // the size rule alone would never split
          minRangeBytes: 20_000,
          minHedgeDelayMs: 60_000,
        },
      },
      { net },
    );
    const load = async (i: number, deadlineMs?: number) => {
      const p = engine.loadSegment(segReq(i, deadlineMs === undefined ? {} : { deadlineMs }));
      await vi.advanceTimersByTimeAsync(5000);
      return p;
    };
    await engine.loadPlaylist(PLAYLIST);
    await load(0); // measures A
    const relaxed = await load(1, 10_000); // ~1 s of a 10 s deadline: one origin is enough
    expect(sameBytes(relaxed.data, data[1] ?? new Uint8Array())).toBe(true);
    const tight = await load(2, 1200); // ~1 s of 1.2 s: split
    expect(sameBytes(tight.data, data[2] ?? new Uint8Array())).toBe(true);
    const loaded = pick(events, "segmentLoaded");
    expect(loaded[1]?.origins).toHaveLength(1);
    const split = loaded[2]?.origins ?? [];
    expect(split.length).toBeGreaterThanOrEqual(2);
    expect(split.reduce((s, o) => s + o.bytes, 0)).toBe(size);
    expect(loaded[2]?.verified).toBe(true);
    engine.destroy();
  });
});

describe("a missing optional hash manifest", () => {
  it("is asked for once per playlist from one origin, and the 404 counts against no origin", async () => {
    const net = new FakeNet();
    for (const dir of ["v", "w"]) {
      net.files.set(`${dir}/index.m3u8`, mediaPlaylist([{ name: "seg0.ts" }, { name: "seg1.ts" }]));
      net.files.set(`${dir}/seg0.ts`, bytes(3000, 1));
      net.files.set(`${dir}/seg1.ts`, bytes(3000, 2));
    }
    const { engine, events } = setup({ integrity: "optional" }, { net });
    for (const dir of ["v", "w"]) {
      const playlistUrl = `${A}${dir}/index.m3u8`;
      await engine.loadPlaylist(playlistUrl);
      for (const i of [0, 1]) {
        const r = await engine.loadSegment({
          url: `${A}${dir}/seg${i}.ts`,
          kind: "segment",
          playlistUrl,
        });
        expect(r.verified).toBe(false);
      }
      await engine.loadPlaylist(playlistUrl); // a reload does not ask again
    }
    expect(net.callsTo("v/segments-sha256.json")).toHaveLength(1);
    expect(net.callsTo("w/segments-sha256.json")).toHaveLength(1);
    for (const o of ORIGINS) expect(engine.stats.byOrigin[o]?.failures).toBe(0);
    expect(pick(events, "originStateChanged")).toEqual([]);
    engine.destroy();
  });

  it("a guessed manifest that fails (503) is asked again only after a back-off, not per live segment", async () => {
    vi.useFakeTimers(FAKE_TIMERS);
    const net = new FakeNet();
    const names = Array.from({ length: 6 }, (_, i) => ({ name: `seg${i}.ts` }));
    net.files.set("v/index.m3u8", mediaPlaylist(names, { live: true }));
    for (let i = 0; i < 6; i++) net.files.set(`v/seg${i}.ts`, bytes(3000, i));
    for (const o of ORIGINS)
      net.faults.set(o, (c) => (c.path.endsWith(".json") ? { status: 503 } : undefined));
    const { engine } = setup(
      {
        integrity: "optional",
        integrityManifestRetries: 3,
        http: { playlistRetry: { ...resolveConfig().http.playlistRetry, maxNumRetry: 0 } },
      },
      { net },
    );
    await engine.loadPlaylist(PLAYLIST);
    for (let i = 0; i < 6; i++) {
      const p = engine.loadSegment(segReq(i, { live: true }));
      await vi.advanceTimersByTimeAsync(5000); // a segment every 5 s (each waits out its refetches)
      expect((await p).verified).toBe(false);
    }
    // Without the back-off: one load, then 3 refetches for each of the 6 segments (19); with
    // it (2, 4, 8, 16 s…), about one per doubling of the 30 s.
    const asked = net.callsTo("v/segments-sha256.json").length;
    expect(asked).toBeGreaterThanOrEqual(2);
    expect(asked).toBeLessThanOrEqual(5);
    engine.destroy();
  });
});
