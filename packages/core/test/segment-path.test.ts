import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Engine } from "../src/engine.js";
import { HivecastError } from "../src/errors.js";
import type { HivecastEvents } from "../src/events.js";
import {
  actionFor,
  FAILURE_POLICY,
  httpFailureKind,
  type FailureKind,
} from "../src/failure-policy.js";
import type { SegmentRequest } from "../src/types.js";
import { pick, PLAYLIST, seg, setup } from "./engine-harness.js";
import { bytes, FAKE_TIMERS, ORIGINS, rejection, sameBytes, sha } from "./fake-net.js";

const [A] = ORIGINS;

/** Records every payload of one engine event. */
function listen<K extends keyof HivecastEvents>(
  engine: Engine,
  name: K,
): Array<Parameters<HivecastEvents[K]>[0]> {
  const out: Array<Parameters<HivecastEvents[K]>[0]> = [];
  engine.on(name, ((e: Parameters<HivecastEvents[K]>[0]) => void out.push(e)) as HivecastEvents[K]);
  return out;
}

async function slowSegment(
  net: ReturnType<typeof setup>["net"],
  size = 40_000,
): Promise<SegmentRequest> {
  const data = bytes(size, 7);
  net.files.set("v/seg0.ts", data);
  // A trickle from every origin: the load is still running when the second caller arrives.
  for (const o of ORIGINS) net.faults.set(o, () => ({ chunkBytes: 4000, chunkDelayMs: 100 }));
  return { url: seg(0), kind: "segment", playlistUrl: PLAYLIST, hash: await sha(data) };
}

describe("segment path: concurrent loads of the same bytes", () => {
  beforeEach(() => vi.useFakeTimers(FAKE_TIMERS));
  afterEach(() => vi.useRealTimers());

  it("joins a second load of the same segment: one download, both callers get verified copies, counted once as HTTP and once as cache", async () => {
    const { engine, net, events } = setup({ http: { hedgeFactor: 100 } });
    const starts = listen(engine, "segmentStart");
    const req = await slowSegment(net);
    const progress: number[] = [];
    const first = engine.loadSegment(req);
    await vi.advanceTimersByTimeAsync(150);
    const second = engine.loadSegment(req, { onProgress: (n) => progress.push(n) });
    await vi.advanceTimersByTimeAsync(5000);
    const [a, b] = await Promise.all([first, second]);
    expect(net.callsTo("v/seg0.ts")).toHaveLength(1);
    expect(sameBytes(a.data, b.data)).toBe(true);
    expect(a.data).not.toBe(b.data); // each caller owns its copy
    expect([a.source, b.source]).toEqual(["http", "cache"]);
    expect([a.verified, b.verified]).toEqual([true, true]);
    expect(progress.length).toBeGreaterThan(0); // the joiner sees the shared transfer's progress
    expect(engine.stats.bytes).toEqual({ http: 40_000, p2p: 0, cache: 40_000 });
    expect(starts).toHaveLength(2);
    expect(pick(events, "segmentLoaded").map((e) => e.source)).toEqual(["http", "cache"]);
    engine.destroy();
  });

  it("a caller that aborts leaves the shared load running for the other", async () => {
    const { engine, net } = setup({ http: { hedgeFactor: 100 } });
    const aborted = listen(engine, "segmentAborted");
    const req = await slowSegment(net);
    const ctl = new AbortController();
    const first = engine.loadSegment(req, { signal: ctl.signal });
    const firstOutcome = rejection(first);
    await vi.advanceTimersByTimeAsync(150);
    const second = engine.loadSegment(req);
    await vi.advanceTimersByTimeAsync(100);
    ctl.abort();
    expect((await firstOutcome)?.code).toBe("ABORTED");
    await vi.advanceTimersByTimeAsync(5000);
    const b = await second;
    expect(b.source).toBe("http"); // the remaining caller is credited with the real source
    expect(net.callsTo("v/seg0.ts")).toHaveLength(1);
    expect(aborted).toHaveLength(1);
    expect(engine.stats.bytes.http).toBe(40_000);
    engine.destroy();
  });

  it("when every caller aborts, the shared download is aborted too and a later load starts afresh", async () => {
    const { engine, net } = setup({ http: { hedgeFactor: 100 } });
    const req = await slowSegment(net);
    const c1 = new AbortController();
    const c2 = new AbortController();
    const r1 = rejection(engine.loadSegment(req, { signal: c1.signal }));
    const r2 = rejection(engine.loadSegment(req, { signal: c2.signal }));
    await vi.advanceTimersByTimeAsync(150);
    c1.abort();
    c2.abort();
    expect([(await r1)?.code, (await r2)?.code]).toEqual(["ABORTED", "ABORTED"]);
    await vi.advanceTimersByTimeAsync(10);
    expect(net.pending()).toHaveLength(0); // nothing still downloading for nobody
    const again = engine.loadSegment(req);
    await vi.advanceTimersByTimeAsync(5000);
    expect((await again).source).toBe("http");
    expect(net.callsTo("v/seg0.ts")).toHaveLength(2);
    engine.destroy();
  });

  it("a failed shared load fails every caller with the same fatal error", async () => {
    const { engine, net } = setup({ http: { hedgeFactor: 100 } });
    const data = bytes(40_000, 7);
    net.files.set("v/seg0.ts", bytes(40_000, 8)); // every origin serves other bytes
    const req: SegmentRequest = {
      url: seg(0),
      kind: "segment",
      playlistUrl: PLAYLIST,
      hash: await sha(data),
    };
    // The second call joins the first synchronously: one load, two callers.
    const r1 = rejection(engine.loadSegment(req));
    const r2 = rejection(engine.loadSegment(req));
    await vi.advanceTimersByTimeAsync(30_000);
    expect([(await r1)?.code, (await r2)?.code]).toEqual([
      "INTEGRITY_MISMATCH",
      "INTEGRITY_MISMATCH",
    ]);
    expect(net.callsTo("v/seg0.ts").length).toBeLessThanOrEqual(3); // one load's tries, not two
    expect(engine.stats.segments.failed).toBe(2);
    engine.destroy();
  });

  it("destroy() under a shared load rejects every caller with DESTROYED", async () => {
    const { engine, net } = setup({ http: { hedgeFactor: 100 } });
    const req = await slowSegment(net);
    const r1 = rejection(engine.loadSegment(req));
    const r2 = rejection(engine.loadSegment(req));
    await vi.advanceTimersByTimeAsync(150);
    engine.destroy();
    expect([(await r1)?.code, (await r2)?.code]).toEqual(["DESTROYED", "DESTROYED"]);
    await vi.advanceTimersByTimeAsync(10);
    expect(net.pending()).toHaveLength(0);
  });
});

describe("failure policy", () => {
  const err = (code: string, details: Record<string, string | number> = {}) =>
    new HivecastError(code as "HTTP_STATUS", "x", { details });

  it("classifies HTTP failures by status, stage and circumstance", () => {
    const cases: Array<[unknown, Parameters<typeof httpFailureKind>[1], FailureKind]> = [
      [err("HTTP_STATUS", { status: 404 }), {}, "http-refused"],
      [err("HTTP_STATUS", { status: 404 }), { optional: true }, "http-absent"],
      [err("HTTP_STATUS", { status: 403 }), { signed: true }, "http-auth"],
      [err("HTTP_STATUS", { status: 401 }), {}, "http-refused"],
      [err("HTTP_STATUS", { status: 429 }), {}, "http-transient"],
      [err("HTTP_STATUS", { status: 408 }), {}, "http-transient"],
      [err("HTTP_STATUS", { status: 503 }), {}, "http-transient"],
      [err("HTTP_TIMEOUT", { timeout: "first-byte" }), {}, "http-timeout"],
      [err("HTTP_TIMEOUT", { timeout: "first-byte" }), { held: true }, "http-hold-expired"],
      [err("HTTP_TIMEOUT", { timeout: "stall" }), { held: true }, "http-timeout"],
      [err("HTTP_NETWORK", { stage: "connect" }), {}, "http-unreachable"],
      [err("HTTP_NETWORK", { stage: "body" }), {}, "http-network"],
      [err("REQUEST_SETUP"), {}, "request-setup"],
      [err("ALL_ORIGINS_FAILED", { status: 404 }), {}, "http-refused"],
      [err("ALL_ORIGINS_FAILED"), {}, "http-network"],
      [new TypeError("fetch failed"), {}, "http-network"],
      [err("HTTP_STATUS", { status: 500 }), { aborted: true }, "aborted"],
    ];
    for (const [e, ctx, kind] of cases) expect([e, httpFailureKind(e, ctx)]).toEqual([e, kind]);
  });

  it("has one complete row per kind, and bad bytes are never simply retried on the same source", () => {
    for (const [kind, action] of Object.entries(FAILURE_POLICY)) {
      expect(actionFor(kind as FailureKind)).toBe(action);
      expect([
        "retry",
        "skip-source",
        "fresh-credentials",
        "refetch-whole",
        "absent",
        "stop",
      ]).toContain(action.load);
    }
    expect(actionFor("origin-bad-bytes")).toMatchObject({
      load: "skip-source",
      origin: "penalise",
    });
    expect(actionFor("peer-bad-bytes")).toMatchObject({ load: "skip-source", peer: "ban" });
    expect(actionFor("split-bad-bytes").load).toBe("refetch-whole");
    expect(actionFor("peer-unsupported-version").peer).toBe("drop");
  });

  it("an origin caught serving bad bytes is penalised and skipped for the rest of the load, as its row says", async () => {
    vi.useFakeTimers(FAKE_TIMERS);
    try {
      const { engine, net, events } = setup({ http: { splitThresholdBytes: 1e9 } });
      const data = bytes(20_000, 3);
      net.files.set("v/seg0.ts", data);
      net.faults.set(A, () => ({ corrupt: true }));
      const req: SegmentRequest = {
        url: seg(0),
        kind: "segment",
        playlistUrl: PLAYLIST,
        hash: await sha(data),
      };
      const p = engine.loadSegment(req);
      await vi.advanceTimersByTimeAsync(5000);
      const r = await p;
      expect(sameBytes(r.data, data)).toBe(true);
      expect(r.origin).not.toBe(A);
      const blamed = pick(events, "integrityFailure");
      expect(blamed.map((e) => e.origin)).toContain(A);
      expect(net.callsTo("v/seg0.ts").filter((c) => c.origin === A).length).toBeLessThanOrEqual(1);
      expect(engine.stats.byOrigin[A]?.failures ?? 0).toBeGreaterThan(0);
      engine.destroy();
    } finally {
      vi.useRealTimers();
    }
  });
});
