import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DemoServerError, startDemoServers, type DemoServers } from "../server.js";

/** Raw GET that keeps the path exactly as written (no URL normalisation). */
function rawGet(
  base: string,
  path: string,
  method = "GET",
): Promise<{ status: number; body: string }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("startDemoServers (prebuilt page, real origins and tracker on port 0)", () => {
  let dir: string;
  let demo: DemoServers;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "hivecast-demo-test-"));
    await mkdir(join(dir, "dist", "assets"), { recursive: true });
    await writeFile(join(dir, "dist", "index.html"), "<!doctype html><title>demo</title>");
    await writeFile(join(dir, "dist", "assets", "a-123.js"), "export {};");
    await writeFile(join(dir, "secret.txt"), "beside the build");
    demo = await startDemoServers({
      port: 0,
      originPort: 0,
      signalingPort: 0,
      origins: 2,
      distDir: join(dir, "dist"),
      build: "never",
    });
  });

  afterAll(async () => {
    await demo?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("serves config.json naming the origins, the tracker and both streams", async () => {
    const res = await fetch(`${demo.url}config.json`);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await res.json()).toEqual({
      origins: demo.origins,
      tracker: demo.tracker,
      live: `${demo.origins[0]}live/master.m3u8`,
      vod: `${demo.origins[0]}master.m3u8`,
    });
    expect(demo.origins).toHaveLength(2);
    expect(demo.tracker).toMatch(/^ws:\/\/127\.0\.0\.1:\d+/);
  });

  it("serves the build: pages revalidated, hashed assets cached for good", async () => {
    const page = await fetch(demo.url);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(page.headers.get("cache-control")).toBe("no-cache");
    const asset = await fetch(`${demo.url}assets/a-123.js`);
    expect(asset.headers.get("content-type")).toContain("javascript");
    expect(asset.headers.get("cache-control")).toContain("immutable");
  });

  it("never serves files outside the build, nor its build stamp", async () => {
    for (const path of [
      "/../secret.txt",
      "/%2e%2e/secret.txt",
      "/%2e%2e%2fsecret.txt",
      "/..%5csecret.txt",
    ]) {
      expect((await rawGet(demo.url, path)).status, path).toBe(404);
    }
    expect((await rawGet(demo.url, "/%E0%A4%A")).status).toBe(400);
    expect((await rawGet(demo.url, "/.hivecast-build")).status).toBe(404);
    expect((await rawGet(demo.url, "/index.html", "POST")).status).toBe(405);
  });

  it("the origins it started play the fixture and take fault changes", async () => {
    const master = await fetch(`${demo.origins[1]}master.m3u8`);
    expect(master.status).toBe(200);
    expect(await master.text()).toContain("#EXTM3U");
    demo.setFaults(1, { down: true });
    await expect(fetch(`${demo.origins[1]}master.m3u8`)).rejects.toThrow();
    const reset = await fetch(`${demo.origins[0]}__faults/1`, { method: "DELETE" });
    expect(reset.ok).toBe(true);
    expect((await fetch(`${demo.origins[1]}master.m3u8`)).status).toBe(200);
  });
});

describe("startDemoServers option checks", () => {
  it("refuses a bad port and a missing fixture with typed errors", async () => {
    await expect(startDemoServers({ port: 70000, build: "never" })).rejects.toMatchObject({
      code: "BAD_OPTION",
    });
    const err = await startDemoServers({ mediaDir: tmpdir(), build: "never", port: 0 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DemoServerError);
    expect(err).toMatchObject({ code: "NO_MEDIA" });
  });
});
