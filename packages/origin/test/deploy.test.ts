import { cp, mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { watchHls, type HlsWatcher } from "../src/hash-watch.js";
import { startOrigins, type OriginCluster } from "../src/server.js";
import { FIXTURE_DIR, rawRequest, removeDir, tempCopy } from "./helpers.js";
import {
  checkMediaPlaylist,
  exited,
  freePort,
  listedSegments,
  startPublisher,
} from "./media-helpers.js";
import { startNginx, type NginxProcess } from "./nginx-helpers.js";

let dir = "";
const nginxes: NginxProcess[] = [];
const clusters: OriginCluster[] = [];
const watchers: HlsWatcher[] = [];
const publishers: Array<ReturnType<typeof startPublisher>> = [];

beforeAll(async () => {
  dir = await tempCopy(false);
});

afterAll(async () => {
  for (const p of publishers) p.kill("SIGKILL");
  for (const w of watchers) await w.stop();
  for (const n of nginxes) await n.stop();
  for (const c of clusters) await c.close();
  await removeDir(dir);
});

/** Sum of an origin's request counter (all statuses), read from its /metrics. */
async function originRequests(url: string): Promise<number> {
  const text = (await rawRequest(url, "/metrics")).body.toString();
  let n = 0;
  for (const m of text.matchAll(
    /^hivecast_origin_requests_total\{[^}]*method="GET"[^}]*\} (\d+)/gm,
  )) {
    n += Number(m[1]);
  }
  return n;
}

describe("deploy/nginx-rtmp recipe", () => {
  it("nginx-rtmp packages an RTMP push; hash --watch publishes it with hashes, atomically", async () => {
    const port = await freePort();
    const hls = join(dir, "rtmp-hls");
    const out = join(dir, "rtmp-out");
    await mkdir(hls, { recursive: true });
    const nginx = await startNginx(
      "nginx-rtmp/nginx-rtmp.conf.template",
      { RTMP_LISTEN: `127.0.0.1:${port}`, HLS_PATH: hls },
      { host: "127.0.0.1", port },
    );
    nginxes.push(nginx);
    const watcher = await watchHls({ dir: hls, out, intervalMs: 50 });
    watchers.push(watcher);
    const pub = startPublisher(`rtmp://127.0.0.1:${port}/live/stream`, 4);
    publishers.push(pub);
    const done = exited(pub, 30_000);
    let finished = false;
    void done.then(() => (finished = true));
    const problems: string[] = [];
    let checks = 0;
    while (!finished) {
      const path = join(out, "stream.m3u8");
      const text = await readFile(path, "utf8").catch(() => undefined);
      if (text !== undefined) {
        problems.push(...(await checkMediaPlaylist(path)));
        checks++;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(await done).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    await watcher.scan();
    expect(problems).toEqual([]);
    expect(checks).toBeGreaterThan(20);
    const final = await readFile(join(out, "stream.m3u8"), "utf8");
    expect(listedSegments(final).length).toBeGreaterThanOrEqual(3);
    expect(listedSegments(final).every((s) => /^[0-9a-f]{64}$/.test(s.tag ?? ""))).toBe(true);
    expect(await checkMediaPlaylist(join(out, "stream.m3u8"))).toEqual([]);
    // The source stays untouched (nginx-rtmp owns it).
    expect(await readFile(join(hls, "stream.m3u8"), "utf8")).not.toContain("HIVECAST");
  }, 60_000);
});

describe("deploy/nginx edge", () => {
  let edge = "";
  let origins: string[] = [];
  let mirrors: string[] = [];

  beforeAll(async () => {
    mirrors = [join(dir, "mirror1"), join(dir, "mirror2")];
    for (const m of mirrors) await cp(FIXTURE_DIR, m, { recursive: true });
    origins = [];
    for (const m of mirrors) {
      const c = await startOrigins({ dir: m, origins: 1 });
      clusters.push(c);
      origins.push(c.urls[0] ?? "");
    }
    const port = await freePort();
    const hostPort = (u: string) => new URL(u).host;
    const nginx = await startNginx(
      "nginx/edge.conf.template",
      {
        LISTEN: `127.0.0.1:${port}`,
        ORIGIN_1: hostPort(origins[0] ?? ""),
        ORIGIN_2: hostPort(origins[1] ?? ""),
        CACHE_MAX: "256m",
      },
      { host: "127.0.0.1", port },
    );
    nginxes.push(nginx);
    edge = `http://127.0.0.1:${port}/`;
  });

  it("caches segments (MISS then HIT) and passes CORS through", async () => {
    const a = await rawRequest(edge, "/v0/seg_000.m4s");
    expect(a.status).toBe(200);
    expect(a.headers["x-cache-status"]).toBe("MISS");
    expect(a.headers["access-control-allow-origin"]).toBe("*");
    const file = await readFile(join(mirrors[0] ?? "", "v0", "seg_000.m4s"));
    expect(a.body.equals(file)).toBe(true);
    const b = await rawRequest(edge, "/v0/seg_000.m4s");
    expect(b.headers["x-cache-status"]).toBe("HIT");
    expect(b.body.equals(file)).toBe(true);
    const pre = await rawRequest(edge, "/v0/seg_000.m4s", {
      method: "OPTIONS",
      headers: { Origin: "http://example.test", "Access-Control-Request-Headers": "range" },
    });
    expect(pre.status).toBe(204);
    expect(String(pre.headers["access-control-allow-headers"])).toMatch(/Range/i);
  });

  it("caches playlists and the hash sidecar briefly, overriding the origins' no-cache", async () => {
    for (const path of ["/v0/index.m3u8", "/master.m3u8"]) {
      const a = await rawRequest(edge, path);
      expect(a.status).toBe(200);
      expect(a.headers["x-cache-status"]).toBe("MISS");
      const b = await rawRequest(edge, path);
      expect(b.headers["x-cache-status"]).toBe("HIT");
    }
  });

  it("serves Range requests (206 with the right bytes), also on a cache miss", async () => {
    const file = await readFile(join(mirrors[0] ?? "", "v0", "seg_003.m4s"));
    for (let i = 0; i < 2; i++) {
      const r = await rawRequest(edge, "/v0/seg_003.m4s", { headers: { Range: "bytes=100-299" } });
      expect(r.status).toBe(206);
      expect(r.headers["content-range"]).toBe(`bytes 100-299/${file.length}`);
      expect(r.body.equals(file.subarray(100, 300))).toBe(true);
    }
  });

  it("coalesces concurrent misses into one origin request (proxy_cache_lock)", async () => {
    const before =
      (await originRequests(origins[0] ?? "")) + (await originRequests(origins[1] ?? ""));
    const rs = await Promise.all(
      Array.from({ length: 10 }, () => rawRequest(edge, "/v1/seg_005.m4s")),
    );
    expect(rs.every((r) => r.status === 200)).toBe(true);
    const after =
      (await originRequests(origins[0] ?? "")) + (await originRequests(origins[1] ?? ""));
    // One segment fetch (the /metrics reads themselves are GETs too: 2 before the second read).
    expect(after - before - 2).toBe(1);
  });

  it("fails over to the other origin when one is killed: no failed request", async () => {
    const first = clusters[0];
    await first?.close();
    const statuses: Array<number | undefined> = [];
    for (let i = 6; i < 20; i++) {
      const seg = `/v0/seg_${String(i).padStart(3, "0")}.m4s`;
      statuses.push((await rawRequest(edge, seg)).status);
    }
    for (let i = 0; i < 5; i++) statuses.push((await rawRequest(edge, "/v1/index.m3u8")).status);
    expect(statuses.every((s) => s === 200)).toBe(true);
  });
});
