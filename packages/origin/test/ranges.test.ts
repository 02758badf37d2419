import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startOrigins, type OriginCluster } from "../src/index.js";
import { parseRange } from "../src/http-util.js";
import { FIXTURE_DIR, rawRequest } from "./helpers.js";

const SEG = "v0/seg_003.m4s";
let cluster: OriginCluster;
let base: string;
let file: Buffer;

beforeAll(async () => {
  cluster = await startOrigins({ dir: FIXTURE_DIR, origins: 1, port: 0 });
  base = cluster.urls[0] ?? "";
  file = await readFile(join(FIXTURE_DIR, SEG));
});
afterAll(() => cluster.close());

describe("parseRange", () => {
  it("parses single, open-ended and suffix ranges and clamps the end", () => {
    expect(parseRange("bytes=0-9", 100)).toEqual({ kind: "partial", start: 0, end: 9 });
    expect(parseRange("bytes=90-", 100)).toEqual({ kind: "partial", start: 90, end: 99 });
    expect(parseRange("bytes=-10", 100)).toEqual({ kind: "partial", start: 90, end: 99 });
    expect(parseRange("bytes=-500", 100)).toEqual({ kind: "partial", start: 0, end: 99 });
    expect(parseRange("bytes=50-1000", 100)).toEqual({ kind: "partial", start: 50, end: 99 });
  });
  it("answers full for no header, other units and multi-range", () => {
    expect(parseRange(undefined, 100)).toEqual({ kind: "full" });
    expect(parseRange("items=0-1", 100)).toEqual({ kind: "full" });
    expect(parseRange("bytes=0-1,5-6", 100)).toEqual({ kind: "full" });
  });
  it("flags unsatisfiable and malformed byte ranges", () => {
    for (const h of [
      "bytes=100-",
      "bytes=100-200",
      "bytes=5-2",
      "bytes=-0",
      "bytes=abc",
      "bytes=-",
    ]) {
      expect(parseRange(h, 100), h).toEqual({ kind: "unsatisfiable" });
    }
    expect(parseRange("bytes=-5", 0)).toEqual({ kind: "unsatisfiable" });
  });
});

describe("HTTP ranges", () => {
  it("serves the whole file with Accept-Ranges, type and CORS headers", async () => {
    const r = await rawRequest(base, `/${SEG}`);
    expect(r.status).toBe(200);
    expect(r.body.equals(file)).toBe(true);
    expect(r.headers["content-length"]).toBe(String(file.length));
    expect(r.headers["accept-ranges"]).toBe("bytes");
    expect(r.headers["content-type"]).toBe("video/mp4");
    expect(r.headers["access-control-allow-origin"]).toBe("*");
    expect(r.headers["access-control-expose-headers"]).toContain("Content-Range");
  });

  it("single range → 206 with Content-Range", async () => {
    const r = await rawRequest(base, `/${SEG}`, { headers: { Range: "bytes=100-1099" } });
    expect(r.status).toBe(206);
    expect(r.headers["content-range"]).toBe(`bytes 100-1099/${file.length}`);
    expect(r.headers["content-length"]).toBe("1000");
    expect(r.body.equals(file.subarray(100, 1100))).toBe(true);
  });

  it("open-ended range → rest of the file", async () => {
    const from = file.length - 777;
    const r = await rawRequest(base, `/${SEG}`, { headers: { Range: `bytes=${from}-` } });
    expect(r.status).toBe(206);
    expect(r.headers["content-range"]).toBe(`bytes ${from}-${file.length - 1}/${file.length}`);
    expect(r.body.equals(file.subarray(from))).toBe(true);
  });

  it("suffix range → last n bytes", async () => {
    const r = await rawRequest(base, `/${SEG}`, { headers: { Range: "bytes=-300" } });
    expect(r.status).toBe(206);
    expect(r.body.equals(file.subarray(file.length - 300))).toBe(true);
  });

  it("unsatisfiable and invalid ranges → 416 with bytes */size", async () => {
    for (const h of [`bytes=${file.length}-`, "bytes=10-5", "bytes=x-y"]) {
      const r = await rawRequest(base, `/${SEG}`, { headers: { Range: h } });
      expect(r.status, h).toBe(416);
      expect(r.headers["content-range"]).toBe(`bytes */${file.length}`);
      expect(r.body.length).toBe(0);
    }
  });

  it("multi-range → 200 with the full body", async () => {
    const r = await rawRequest(base, `/${SEG}`, { headers: { Range: "bytes=0-1,10-20" } });
    expect(r.status).toBe(200);
    expect(r.body.equals(file)).toBe(true);
  });

  it("HEAD → headers with length, no body; HEAD with a range → 206", async () => {
    const r = await rawRequest(base, `/${SEG}`, { method: "HEAD" });
    expect(r.status).toBe(200);
    expect(r.headers["content-length"]).toBe(String(file.length));
    expect(r.body.length).toBe(0);
    const rr = await rawRequest(base, `/${SEG}`, {
      method: "HEAD",
      headers: { Range: "bytes=0-9" },
    });
    expect(rr.status).toBe(206);
    expect(rr.headers["content-length"]).toBe("10");
    expect(rr.body.length).toBe(0);
  });

  it("ranges work on live segments and generated playlists too", async () => {
    const r = await rawRequest(base, "/live/v0/seg/3.m4s", { headers: { Range: "bytes=0-15" } });
    expect(r.status).toBe(206);
    expect(r.body.equals(file.subarray(0, 16))).toBe(true);
    const p = await rawRequest(base, "/live/v0/index.m3u8", { headers: { Range: "bytes=0-6" } });
    expect(p.status).toBe(206);
    expect(p.body.toString()).toBe("#EXTM3U");
  });

  it("content types and cache policy per file kind", async () => {
    const cases: Array<[string, string]> = [
      ["/master.m3u8", "application/vnd.apple.mpegurl"],
      ["/v0/index.m3u8", "application/vnd.apple.mpegurl"],
      ["/v0/init_0.mp4", "video/mp4"],
      ["/v0/segments-sha256.json", "application/json"],
    ];
    for (const [path, type] of cases) {
      const r = await rawRequest(base, path);
      expect(r.status, path).toBe(200);
      expect(r.headers["content-type"], path).toBe(type);
    }
    expect((await rawRequest(base, "/v0/index.m3u8")).headers["cache-control"]).toBe("no-cache");
    expect((await rawRequest(base, "/live/v0/index.m3u8")).headers["cache-control"]).toBe(
      "no-cache",
    );
    expect((await rawRequest(base, `/${SEG}`)).headers["cache-control"]).toBeUndefined();
  });

  it("answers CORS preflight including PUT for /__faults", async () => {
    for (const path of [`/${SEG}`, "/__faults", "/__faults/0"]) {
      const r = await rawRequest(base, path, {
        method: "OPTIONS",
        headers: { Origin: "http://example.test", "Access-Control-Request-Method": "PUT" },
      });
      expect(r.status, path).toBe(204);
      expect(r.headers["access-control-allow-origin"]).toBe("*");
      expect(r.headers["access-control-allow-methods"]).toContain("PUT");
      expect(r.headers["access-control-allow-headers"]).toContain("Range");
    }
  });

  it("rejects other methods with 405", async () => {
    const r = await rawRequest(base, `/${SEG}`, { method: "POST", body: "x" });
    expect(r.status).toBe(405);
    expect(r.headers["allow"]).toContain("GET");
  });
});
