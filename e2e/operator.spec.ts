import { test, expect, type Page } from "@playwright/test";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  exportRecording,
  startOrigins,
  startPackager,
  type OriginCluster,
  type Packager,
} from "@hivecast/origin";
import { startSignalingServer, type SignalingServer } from "@hivecast/signaling-server";
import { startPageServer, type PageServer } from "./page-server.js";
import { openLoggedPage } from "./swarm-env.js";
import {
  checkMediaPlaylist,
  exited,
  freePort,
  listedSegments,
  probeDuration,
  startPublisher,
} from "../packages/origin/test/media-helpers.js";
import { startNginx, type NginxProcess } from "../packages/origin/test/nginx-helpers.js";

/**
 * Issue 17, the operator's chain end to end: an RTMP publisher (ffmpeg testsrc + sine, 26 s)
 * → `hivecast-origin package` (2 renditions, 1 s segments, hashes) → 2 mirror directories →
 * 2 origins → the nginx edge of deploy/nginx → 2 Chromium pages with Hivecast (P2P on, our
 * signaling server) playing live. One origin is killed mid-stream: nobody stalls. At the end
 * the recording is VOD in each mirror, every hash matches, it plays from each mirror, and
 * `export` produces an MP4 whose duration matches the playlist.
 */

const PUBLISH_SECONDS = 26;

const playerPage = `<!doctype html><meta charset="utf-8">
<video id="v" muted playsinline></video>
<script src="/hls.js"></script>
<script src="/hivecast.iife.js"></script>
<script>
  const q = new URL(location.href).searchParams;
  const rec = (window.rec = { fatal: [], integrity: [], peers: 0, p2pBytes: 0, stalls: [], playing: false, loaded: 0, endlistAt: 0, log: [] });
  const hivecast = new Hivecast({
    origins: q.get("origins").split(","),
    p2p: q.get("tracker")
      ? { enabled: true, trackers: [q.get("tracker")], rtcConfig: { iceServers: [] } }
      : { enabled: false },
  });
  window.hivecast = hivecast;
  hivecast.on("peerConnected", () => rec.peers++);
  hivecast.on("integrityFailure", (e) => rec.integrity.push(e.url));
  const t0 = (rec.t0 = Date.now());
  const log = (m) => { rec.log.push(((Date.now() - t0) / 1000).toFixed(2) + " " + m); if (rec.log.length > 400) rec.log.shift(); };
  const name = (u) => u.split("/").slice(-2).join("/");
  hivecast.on("segmentStart", (e) => log("start " + name(e.url)));
  hivecast.on("segmentError", (e) => log("error " + name(e.url) + " " + JSON.stringify(e)));
  hivecast.on("originStateChanged", (e) => log("origin " + e.origin + " " + e.state));
  hivecast.on("warning", (w) => log("warning " + w.kind + " " + w.message));
  hivecast.on("segmentLoaded", (e) => {
    log("loaded " + name(e.url) + " " + e.source + " " + e.ms + " ms");
    rec.loaded++;
    if (e.source === "p2p") rec.p2pBytes += e.bytes;
  });
  const hls = new Hls(hivecast.hlsConfig());
  hivecast.attach(hls);
  hls.on(Hls.Events.ERROR, (_e, d) => { if (d.fatal) rec.fatal.push(d.details); });
  hls.on(Hls.Events.LEVEL_UPDATED, (_e, d) => { if (!d.details.live && !rec.endlistAt) rec.endlistAt = Date.now(); });
  const video = document.getElementById("v");
  video.addEventListener("playing", () => { rec.playing = true; });
  hls.on(Hls.Events.LEVEL_LOADED, (_e, d) => log("level " + d.level + " edge " + d.details.edge.toFixed(2) + " latency " + hls.latency.toFixed(2) + " target " + hls.targetLatency + " t " + video.currentTime.toFixed(2)));
  video.addEventListener("ratechange", () => log("rate " + video.playbackRate));
  hls.on(Hls.Events.FRAG_BUFFERED, (_e, d) => log("buffered " + d.frag.sn + " t " + video.currentTime.toFixed(2)));
  video.addEventListener("waiting", () => {
    log("waiting at " + video.currentTime.toFixed(2));
    if (!rec.playing || video.ended) return;
    const b = video.buffered;
    rec.stalls.push({
      at: video.currentTime,
      wall: Date.now(),
      bufferedEnd: b.length ? b.end(b.length - 1) : 0,
      rate: video.playbackRate,
      latency: hls.latency,
      endlistAt: rec.endlistAt,
    });
  });
  hls.loadSource(q.get("src"));
  hls.attachMedia(video);
  video.play().catch(() => {});
</script>`;

interface Rec {
  fatal: string[];
  integrity: string[];
  peers: number;
  p2pBytes: number;
  stalls: Array<{
    at: number;
    wall: number;
    bufferedEnd: number;
    rate: number;
    latency: number;
    endlistAt: number;
  }>;
  /** The page's timeline (seconds since load): segment starts, loads, errors, stalls. */
  log: string[];
  t0: number;
  playing: boolean;
  loaded: number;
  /** When the page first saw the playlist end (ENDLIST), ms since the epoch; 0 before. */
  endlistAt: number;
}

let work = "";
let packager: Packager | undefined;
let nginx: NginxProcess | undefined;
const clusters: OriginCluster[] = [];
let signaling: SignalingServer | undefined;
let pages: PageServer | undefined;
const publishers: Array<ReturnType<typeof startPublisher>> = [];

test.afterAll(async () => {
  for (const p of publishers) p.kill("SIGKILL");
  await packager?.stop();
  await nginx?.stop();
  for (const c of clusters) await c.close();
  await pages?.close();
  await signaling?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

const rec = (page: Page): Promise<Rec> =>
  page.evaluate(() => (window as unknown as { rec: Rec }).rec);
const currentTime = (page: Page): Promise<number> =>
  page.evaluate(() => document.querySelector("video")?.currentTime ?? 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("RTMP → packager → 2 mirrors → nginx edge → 2 P2P viewers; an origin dies mid-stream; VOD + export at the end", async ({
  browser,
}) => {
  test.setTimeout(150_000);
  work = await mkdtemp(join(tmpdir(), "hivecast-operator-e2e-"));
  const mirrors = [join(work, "m1"), join(work, "m2")];
  for (const m of mirrors) await mkdir(m, { recursive: true });
  const rtmpPort = await freePort();
  const rtmpUrl = `rtmp://127.0.0.1:${rtmpPort}/live/stream`;
  const logs: string[] = [];
  packager = await startPackager({
    input: rtmpUrl,
    mirrors,
    segmentSeconds: 1,
    window: 6,
    renditions: [
      { width: 320, height: 180, videoKbps: 300 },
      { width: 160, height: 90, videoKbps: 120 },
    ],
    once: true,
    log: (l) => logs.push(l),
  });
  for (const m of mirrors) clusters.push(await startOrigins({ dir: m, origins: 1 }));
  const edgePort = await freePort();
  nginx = await startNginx(
    "nginx/edge.conf.template",
    {
      LISTEN: `127.0.0.1:${edgePort}`,
      ORIGIN_1: new URL(clusters[0]?.urls[0] ?? "").host,
      ORIGIN_2: new URL(clusters[1]?.urls[0] ?? "").host,
      CACHE_MAX: "256m",
    },
    { host: "127.0.0.1", port: edgePort },
  );
  const edge = `http://127.0.0.1:${edgePort}/`;
  signaling = await startSignalingServer({ port: 0, host: "127.0.0.1", logLevel: "warn" });
  pages = await startPageServer({ "/player.html": playerPage });

  // The publisher: ffmpeg needs a moment after spawning before it accepts.
  await expect
    .poll(() => logs.some((l) => l.startsWith("waiting")), { timeout: 15_000 })
    .toBe(true);
  let pub = startPublisher(rtmpUrl, PUBLISH_SECONDS);
  for (let i = 0; i < 10; i++) {
    await sleep(1_000);
    if (pub.exitCode === null) break;
    pub = startPublisher(rtmpUrl, PUBLISH_SECONDS);
  }
  publishers.push(pub);
  const published = exited(pub, 90_000);

  // Live in both mirrors (through the edge).
  await expect
    .poll(async () => (await fetch(`${edge}master.m3u8`)).status, { timeout: 20_000 })
    .toBe(200);
  // Viewers join a running stream: once the live playlist lists 4 segments, so hls.js starts
  // its target latency (3 segments) behind the edge. Opened at the stream's first segments,
  // hls.js starts at 0, 2 s behind the edge, and stays there; with the edge's playlist cache
  // moving the playlist 2 segments at a time (see deploy/nginx), that stalls every 2 s before
  // any origin dies.
  const firstMedia = async (): Promise<number> => {
    const master = await (await fetch(`${edge}master.m3u8`)).text();
    const media = master.split("\n").find((l) => l.trim() !== "" && !l.startsWith("#"));
    if (!media) return 0;
    return listedSegments(await (await fetch(new URL(media.trim(), edge))).text()).length;
  };
  await expect.poll(firstMedia, { timeout: 20_000 }).toBeGreaterThanOrEqual(4);

  const open = async (): Promise<Page> => {
    const page = await openLoggedPage(browser);
    const q = new URLSearchParams({
      src: `${edge}master.m3u8`,
      origins: edge,
      tracker: signaling?.url ?? "",
    });
    await page.goto(`${pages?.url ?? ""}/player.html?${q}`);
    return page;
  };
  const viewers = await Promise.all([open(), open()]);
  for (const v of viewers) {
    await expect.poll(() => currentTime(v), { timeout: 20_000 }).toBeGreaterThan(0.5);
  }

  // Kill origin 1 mid-stream (its port is closed: connection refused at the edge).
  await sleep(2_000);
  expect(pub.exitCode, "the publisher is still live when the origin dies").toBeNull();
  const killedAt = Date.now();
  await clusters[0]?.close();
  const times = await Promise.all(viewers.map(currentTime));
  expect(await published).toBe(0);
  await packager.done;
  // The viewers play the live stream to its end (ENDLIST).
  for (const v of viewers) {
    await expect
      .poll(() => v.evaluate(() => document.querySelector("video")?.ended ?? false), {
        timeout: 30_000,
      })
      .toBe(true);
  }
  const after = await Promise.all(viewers.map(currentTime));
  const records = await Promise.all(viewers.map(rec));
  for (let i = 0; i < viewers.length; i++) {
    const r = records[i];
    expect(r?.fatal).toEqual([]);
    expect(r?.integrity).toEqual([]);
    // No stall at all once playing: not at the start, not when the origin dies.
    const stalled = r?.stalls ?? [];
    if (stalled.length > 0) {
      const kill = ((killedAt - (r?.t0 ?? 0)) / 1000).toFixed(2);
      console.log(`viewer ${i} timeline (origin killed at ${kill}):\n${r?.log.join("\n")}`);
    }
    expect(
      stalled,
      `viewer ${i} stalled (origin killed at ${killedAt}, media ${times[i]} s then)`,
    ).toEqual([]);
    // Media kept advancing after the kill.
    expect((after[i] ?? 0) - (times[i] ?? 0)).toBeGreaterThan(8);
  }
  // P2P was on: the viewers found each other through our signaling server.
  expect(records.reduce((a, r) => a + r.peers, 0)).toBeGreaterThan(0);

  // The recording is VOD in each mirror, every hash matches, mirrors are identical.
  const id = packager.recordings[0] ?? "";
  expect(packager.recordings).toHaveLength(1);
  const playlists: string[] = [];
  for (const m of mirrors) {
    for (const v of ["v0", "v1"]) {
      const path = join(m, id, v, "index.m3u8");
      const text = await readFile(path, "utf8");
      expect(text).toContain("#EXT-X-ENDLIST");
      expect(await checkMediaPlaylist(path)).toEqual([]);
      if (v === "v0") playlists.push(text);
    }
  }
  expect(playlists[0]).toBe(playlists[1]);
  const segments = listedSegments(playlists[0] ?? "").length;
  expect(segments).toBeGreaterThanOrEqual(PUBLISH_SECONDS - 4);

  // It plays as VOD from each mirror (origin 1 again, then origin 2), P2P off.
  const again = await startOrigins({ dir: mirrors, origins: 2 });
  clusters.push(again);
  for (const url of again.urls) {
    const page = await openLoggedPage(browser);
    const q = new URLSearchParams({ src: `${url}${id}/master.m3u8`, origins: url, tracker: "" });
    await page.goto(`${pages.url}/player.html?${q}`);
    await expect.poll(() => currentTime(page), { timeout: 20_000 }).toBeGreaterThan(2);
    const r = await rec(page);
    expect(r.fatal).toEqual([]);
    expect(r.integrity).toEqual([]);
    await page.context().close();
  }

  // export: verified merge, duration as in the playlist.
  const out = join(work, "recording.mp4");
  const report = await exportRecording({
    playlist: join(mirrors[1] ?? "", id, "master.m3u8"),
    out,
  });
  expect(report.segments).toBe(segments);
  expect(Math.abs(probeDuration(out) - report.playlistDuration)).toBeLessThan(0.3);
  for (const v of viewers) await v.context().close();
});
