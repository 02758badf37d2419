import { test, expect } from "@playwright/test";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startOrigins, watchHls, type HlsWatcher, type OriginCluster } from "@hivecast/origin";
import { startPageServer, type PageServer } from "./page-server.js";
import { openLoggedPage } from "./swarm-env.js";
import { exited, freePort, startPublisher } from "../packages/origin/test/media-helpers.js";
import { startNginx, type NginxProcess } from "../packages/origin/test/nginx-helpers.js";

/**
 * Issue 17, the nginx-rtmp recipe of deploy/nginx-rtmp: an RTMP push to nginx-rtmp (`hls on`,
 * MPEG-TS), `hash --watch` publishes a hashed copy, an origin serves it, and Hivecast with
 * `integrity: "required"` (a segment without a matching hash is never played) plays it live.
 */

const page = `<!doctype html><meta charset="utf-8">
<video id="v" muted playsinline></video>
<script src="/hls.js"></script>
<script src="/hivecast.iife.js"></script>
<script>
  const q = new URL(location.href).searchParams;
  const rec = (window.rec = { fatal: [], integrity: [], loaded: 0 });
  const hivecast = new Hivecast({ origins: [q.get("origin")], integrity: "required" });
  hivecast.on("integrityFailure", (e) => rec.integrity.push(e.url));
  hivecast.on("segmentLoaded", () => rec.loaded++);
  const hls = new Hls(hivecast.hlsConfig());
  hivecast.attach(hls);
  hls.on(Hls.Events.ERROR, (_e, d) => { if (d.fatal) rec.fatal.push(d.details); });
  const video = document.getElementById("v");
  hls.loadSource(q.get("src"));
  hls.attachMedia(video);
  video.play().catch(() => {});
</script>`;

let work = "";
let nginx: NginxProcess | undefined;
let watcher: HlsWatcher | undefined;
let origins: OriginCluster | undefined;
let pages: PageServer | undefined;
const publishers: Array<ReturnType<typeof startPublisher>> = [];

test.afterAll(async () => {
  for (const p of publishers) p.kill("SIGKILL");
  await watcher?.stop();
  await nginx?.stop();
  await origins?.close();
  await pages?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

test("nginx-rtmp + hash --watch: Hivecast plays the live stream with every segment verified", async ({
  browser,
}) => {
  test.setTimeout(90_000);
  work = await mkdtemp(join(tmpdir(), "hivecast-nginx-rtmp-e2e-"));
  const hls = join(work, "hls");
  const out = join(work, "out");
  await mkdir(hls, { recursive: true });
  await mkdir(out, { recursive: true });
  const port = await freePort();
  nginx = await startNginx(
    "nginx-rtmp/nginx-rtmp.conf.template",
    { RTMP_LISTEN: `127.0.0.1:${port}`, HLS_PATH: hls },
    { host: "127.0.0.1", port },
  );
  watcher = await watchHls({ dir: hls, out, intervalMs: 100 });
  origins = await startOrigins({ dir: out, origins: 1 });
  pages = await startPageServer({ "/play.html": page });

  const pub = startPublisher(`rtmp://127.0.0.1:${port}/live/stream`, 18);
  publishers.push(pub);
  const origin = origins.urls[0] ?? "";
  await expect
    .poll(async () => (await fetch(`${origin}stream.m3u8`)).status, { timeout: 20_000 })
    .toBe(200);

  const p = await openLoggedPage(browser);
  const q = new URLSearchParams({ src: `${origin}stream.m3u8`, origin });
  await p.goto(`${pages.url}/play.html?${q}`);
  await expect
    .poll(() => p.evaluate(() => document.querySelector("video")?.currentTime ?? 0), {
      timeout: 30_000,
    })
    .toBeGreaterThan(4);
  const rec = await p.evaluate(
    () =>
      (window as unknown as { rec: { fatal: string[]; integrity: string[]; loaded: number } }).rec,
  );
  expect(rec.fatal).toEqual([]);
  expect(rec.integrity).toEqual([]);
  expect(rec.loaded).toBeGreaterThanOrEqual(3);
  expect(watcher.published).toBeGreaterThanOrEqual(3);
  pub.kill("SIGKILL");
  await exited(pub, 5_000);
  await p.context().close();
});
