import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { OriginError, startOrigins, type OriginCluster } from "../src/index.js";
import { createPrng, parseFaultFlag, validateFaultPatch } from "../src/faults.js";
import { FIXTURE_DIR, json, rawRequest, sha256 } from "./helpers.js";

const SEG = "v0/seg_003.m4s";
const SMALL_SEG = "v1/seg_003.m4s";
let cluster: OriginCluster;
let seg: Buffer;
let smallSeg: Buffer;
const url = (i: number): string => cluster.urls[i] ?? "";

beforeAll(async () => {
  cluster = await startOrigins({ dir: FIXTURE_DIR, origins: 3, port: 0 });
  seg = await readFile(join(FIXTURE_DIR, SEG));
  smallSeg = await readFile(join(FIXTURE_DIR, SMALL_SEG));
});
afterEach(() => cluster.resetFaults());
afterAll(() => cluster.close());

describe("fault settings validation", () => {
  it("accepts a valid partial patch", () => {
    expect(validateFaultPatch({ statusRate: 0.25, status: 502, down: false })).toEqual({
      statusRate: 0.25,
      status: 502,
      down: false,
    });
  });

  it("names the bad field for unknown fields, wrong types and ranges", () => {
    const cases: Array<[unknown, string]> = [
      [{ bogus: 1 }, "bogus"],
      [{ down: "yes" }, "down"],
      [{ statusRate: 1.5 }, "statusRate"],
      [{ statusRate: "0.5" }, "statusRate"],
      [{ status: 418 }, "status"],
      [{ latencyMs: -1 }, "latencyMs"],
      [{ bandwidthBps: Number.NaN }, "bandwidthBps"],
      [{ corruptRate: -0.1 }, "corruptRate"],
      [{ truncateRate: 2 }, "truncateRate"],
      [{ seed: 1.5 }, "seed"],
      [[1, 2], "body"],
      [null, "body"],
    ];
    for (const [input, field] of cases) {
      let caught: unknown;
      try {
        validateFaultPatch(input);
      } catch (e) {
        caught = e;
      }
      expect(caught, JSON.stringify(input)).toBeInstanceOf(OriginError);
      expect(caught).toMatchObject({ field, code: "invalid-faults" });
    }
  });

  it("parses CLI fault flags", () => {
    expect(parseFaultFlag("1:statusRate=0.5,status=503")).toEqual({
      index: 1,
      patch: { statusRate: 0.5, status: 503 },
    });
    expect(parseFaultFlag("0:down=true")).toEqual({ index: 0, patch: { down: true } });
    expect(() => parseFaultFlag("x:down=true")).toThrow(OriginError);
    expect(() => parseFaultFlag("0:nope=1")).toThrow(/nope/);
  });

  it("setFaults validates and rejects unknown origins", () => {
    expect(() => cluster.setFaults(0, { statusRate: 3 })).toThrow(/statusRate/);
    expect(() => cluster.setFaults(7, { down: true })).toThrow(OriginError);
    cluster.setFaults(1, { latencyMs: 5 });
    expect(cluster.getFaults(1).latencyMs).toBe(5);
  });
});

describe("/__faults HTTP control", () => {
  it("GET returns settings; PUT merges; DELETE resets", async () => {
    const g = await rawRequest(url(0), "/__faults");
    expect(g.status).toBe(200);
    expect(json(g)).toMatchObject({ down: false, statusRate: 0, status: 503 });
    const p = await rawRequest(url(0), "/__faults", {
      method: "PUT",
      body: JSON.stringify({ statusRate: 0.2 }),
    });
    expect(p.status).toBe(200);
    const p2 = await rawRequest(url(0), "/__faults", {
      method: "PUT",
      body: JSON.stringify({ status: 500 }),
    });
    expect(json(p2)).toMatchObject({ statusRate: 0.2, status: 500 });
    expect(cluster.getFaults(0)).toMatchObject({ statusRate: 0.2, status: 500 });
    const d = await rawRequest(url(0), "/__faults", { method: "DELETE" });
    expect(d.status).toBe(200);
    expect(cluster.getFaults(0)).toMatchObject({ statusRate: 0, status: 503 });
  });

  it("400 with {error, field} naming the bad field; nothing applied", async () => {
    const cases: Array<[string, string]> = [
      ['{"bogus":true}', "bogus"],
      ['{"statusRate":"high"}', "statusRate"],
      ['{"status":200}', "status"],
      ['{"down":1}', "down"],
      ["not json", "body"],
      ["[]", "body"],
    ];
    for (const [body, field] of cases) {
      const r = await rawRequest(url(0), "/__faults/1", { method: "PUT", body });
      expect(r.status, body).toBe(400);
      expect(json(r)).toMatchObject({ field, error: expect.any(String) });
    }
    expect(cluster.getFaults(1)).toMatchObject({ down: false, statusRate: 0, status: 503 });
  });

  it("unknown origin index → 404 naming the index", async () => {
    const r = await rawRequest(url(0), "/__faults/9", { method: "PUT", body: "{}" });
    expect(r.status).toBe(404);
    expect(json(r)).toMatchObject({ field: "index" });
  });

  it("a down origin is restored through another origin", async () => {
    const put = await rawRequest(url(2), "/__faults/0", {
      method: "PUT",
      body: JSON.stringify({ down: true }),
    });
    expect(put.status).toBe(200);
    const dead = await rawRequest(url(0), `/${SEG}`);
    expect(dead.status).toBeUndefined();
    expect(dead.error).toBeDefined();
    // /__faults, /healthz and /metrics are never faulted, even when down
    expect((await rawRequest(url(0), "/healthz")).status).toBe(200);
    expect((await rawRequest(url(0), "/__faults")).status).toBe(200);
    const del = await rawRequest(url(1), "/__faults/0", { method: "DELETE" });
    expect(del.status).toBe(200);
    const alive = await rawRequest(url(0), `/${SEG}`);
    expect(alive.status).toBe(200);
    expect(alive.body.equals(seg)).toBe(true);
  });
});

describe("fault kinds", () => {
  it("down → connection reset without a response", async () => {
    cluster.setFaults(1, { down: true });
    const r = await rawRequest(url(1), "/master.m3u8");
    expect(r.status).toBeUndefined();
    expect(String(r.error)).toMatch(/ECONNRESET|socket hang up/);
    const other = await rawRequest(url(0), "/master.m3u8");
    expect(other.status).toBe(200);
  });

  it("statusRate answers the seeded fraction with the status, reproducibly", async () => {
    const run = async (): Promise<Array<number | undefined>> => {
      cluster.setFaults(0, { statusRate: 0.5, status: 503, seed: 42 });
      const out: Array<number | undefined> = [];
      for (let i = 0; i < 24; i++) out.push((await rawRequest(url(0), "/master.m3u8")).status);
      return out;
    };
    const a = await run();
    const b = await run();
    expect(a).toEqual(b);
    // independently recomputed: 3 draws per request, the first decides the status
    const rng = createPrng(42);
    const expected = Array.from({ length: 24 }, () => {
      const d = rng();
      rng();
      rng();
      return d < 0.5 ? 503 : 200;
    });
    expect(a).toEqual(expected);
    expect(a).toContain(503);
    expect(a).toContain(200);
    const r = await rawRequest(url(0), "/healthz");
    expect(r.status).toBe(200);
  });

  it("statusRate=1 with each allowed status, CORS header kept", async () => {
    for (const status of [403, 404, 410, 429, 500, 502, 503, 504]) {
      cluster.setFaults(2, { statusRate: 1, status });
      const r = await rawRequest(url(2), `/${SEG}`);
      expect(r.status).toBe(status);
      expect(r.headers["access-control-allow-origin"]).toBe("*");
    }
  });

  it("latency delays the headers (ordering + loose lower bound)", async () => {
    cluster.setFaults(0, { latencyMs: 800 });
    const order: number[] = [];
    const slow = rawRequest(url(0), "/master.m3u8").then((r) => {
      order.push(0);
      return r;
    });
    const fast = rawRequest(url(1), "/master.m3u8").then((r) => {
      order.push(1);
      return r;
    });
    const [s, f] = await Promise.all([slow, fast]);
    expect(s.status).toBe(200);
    expect(f.status).toBe(200);
    expect(order).toEqual([1, 0]);
    expect(s.ms).toBeGreaterThanOrEqual(700);
  });

  it("bandwidth cap delivers the body intact in many timed chunks", async () => {
    const bps = 60_000;
    cluster.setFaults(1, { bandwidthBps: bps });
    const r = await rawRequest(url(1), `/${SMALL_SEG}`);
    expect(r.status).toBe(200);
    expect(r.body.equals(smallSeg)).toBe(true);
    const ideal = (smallSeg.length / bps) * 1000;
    expect(r.chunks).toBeGreaterThanOrEqual(5);
    expect(r.ms).toBeGreaterThanOrEqual(ideal * 0.5);
    const unthrottled = await rawRequest(url(0), `/${SMALL_SEG}`);
    expect(unthrottled.chunks).toBeLessThan(r.chunks);
  });

  it("the bandwidth cap is shared by concurrent responses of one origin", async () => {
    const bps = 120_000;
    cluster.setFaults(2, { bandwidthBps: bps });
    const t0 = performance.now();
    const rs = await Promise.all([
      rawRequest(url(2), `/${SMALL_SEG}`),
      rawRequest(url(2), `/${SMALL_SEG}`),
    ]);
    const ms = performance.now() - t0;
    for (const r of rs) expect(r.body.equals(smallSeg)).toBe(true);
    expect(ms).toBeGreaterThanOrEqual(((2 * smallSeg.length) / bps) * 1000 * 0.5);
  });

  it("corrupt flips bytes of segments (same length), never playlists", async () => {
    cluster.setFaults(2, { corruptRate: 1 });
    const r = await rawRequest(url(2), `/${SEG}`);
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(seg.length);
    expect(r.body.equals(seg)).toBe(false);
    expect(sha256(r.body)).not.toBe(sha256(seg));
    const ranged = await rawRequest(url(2), `/${SEG}`, { headers: { Range: "bytes=0-99" } });
    expect(ranged.body.length).toBe(100);
    expect(ranged.body.equals(seg.subarray(0, 100))).toBe(false);
    const playlist = await rawRequest(url(2), "/v0/index.m3u8");
    const original = await readFile(join(FIXTURE_DIR, "v0/index.m3u8"));
    expect(playlist.body.equals(original)).toBe(true);
  });

  it("truncate sends the full Content-Length but a shorter body, then resets", async () => {
    cluster.setFaults(0, { truncateRate: 1 });
    const r = await rawRequest(url(0), `/${SEG}`);
    expect(r.status).toBe(200);
    expect(r.headers["content-length"]).toBe(String(seg.length));
    expect(r.body.length).toBeLessThan(seg.length);
    expect(r.error).toBeDefined();
    expect(r.body.equals(seg.subarray(0, r.body.length))).toBe(true);
    // fetch() callers see a failed body read
    const res = await fetch(`${url(0)}${SEG}`);
    await expect(res.arrayBuffer()).rejects.toThrow();
  });

  it("faults configured at start apply per origin", async () => {
    const c = await startOrigins({
      dir: FIXTURE_DIR,
      origins: 2,
      faults: [{}, { statusRate: 1, status: 410 }],
    });
    try {
      expect((await rawRequest(c.urls[0] ?? "", "/master.m3u8")).status).toBe(200);
      expect((await rawRequest(c.urls[1] ?? "", "/master.m3u8")).status).toBe(410);
    } finally {
      await c.close();
    }
  });
});
