import { test, expect, type Browser, type Page } from "@playwright/test";
import { openLoggedPage, startSwarmEnv, type SwarmEnv } from "./swarm-env.js";

/**
 * Issue 6 interop: p2p-media-loader (core + hls.js integration, v2), unchanged, uses our
 * signaling server as its WebTorrent tracker. Two Chromium pages play the same VOD stream, meet
 * through the server, open a real WebRTC data channel (no ICE servers: loopback host
 * candidates) and the second page downloads segment bytes from the first.
 */

/**
 * A page with p2p-media-loader-hlsjs on our tracker. p2p-media-loader 2.3 hands hls.js the
 * buffer it keeps for peers, so hls.js's worker (which takes buffers over) stays off.
 */
const p2pmlPage = `<!doctype html><meta charset="utf-8">
<video id="v" muted playsinline></video>
<script src="/hls.js"></script>
<script type="importmap">{"imports":{"p2p-media-loader-core":"/p2pml-core.js"}}</script>
<script type="module">
  import { HlsJsP2PEngine } from "/p2pml-hlsjs.js";
  const q = new URL(location.href).searchParams;
  const rec = (window.rec = { peers: 0, disconnects: 0, http: 0, p2p: 0, uploaded: 0, errors: [], fatal: [] });
  const HlsWithP2P = HlsJsP2PEngine.injectMixin(Hls);
  const hls = new HlsWithP2P({
    enableWorker: false,
    p2p: {
      core: {
        swarmId: "hivecast-e2e-p2pml",
        announceTrackers: [q.get("tracker")],
        rtcConfig: { iceServers: [] },
      },
      onHlsJsCreated(h) {
        const e = h.p2pEngine;
        e.addEventListener("onPeerConnect", () => { rec.peers++; });
        e.addEventListener("onPeerClose", () => { rec.disconnects++; });
        e.addEventListener("onChunkDownloaded", (bytes, source) => {
          if (source === "p2p") rec.p2p += bytes; else rec.http += bytes;
        });
        e.addEventListener("onChunkUploaded", (bytes) => { rec.uploaded += bytes; });
        e.addEventListener("onSegmentError", (x) => { rec.errors.push(String(x && x.error && x.error.type)); });
      },
    },
  });
  hls.on(Hls.Events.ERROR, (_e, d) => { if (d.fatal) rec.fatal.push(d.details); });
  const video = document.getElementById("v");
  hls.loadSource(q.get("src"));
  hls.attachMedia(video);
  video.play().catch(() => {});
</script>`;

interface Recorded {
  peers: number;
  disconnects: number;
  http: number;
  p2p: number;
  uploaded: number;
  errors: string[];
  fatal: string[];
}

let env: SwarmEnv;

test.beforeAll(async () => {
  env = await startSwarmEnv({ "/p2pml.html": p2pmlPage });
});

test.afterAll(async () => {
  await env?.close();
});

const rec = (page: Page): Promise<Recorded> =>
  page.evaluate(() => (window as unknown as { rec: Recorded }).rec);

async function open(browser: Browser): Promise<Page> {
  const page = await openLoggedPage(browser);
  const { origins, signaling, pages } = env;
  const q = new URLSearchParams({
    src: `${origins.urls[0]}master.m3u8`,
    tracker: signaling.url,
  });
  await page.goto(`${pages.url}/p2pml.html?${q}`);
  return page;
}

test.describe.configure({ timeout: 90_000 });

test("p2p-media-loader in two pages meets through our server and moves segment bytes over WebRTC", async ({
  browser,
}) => {
  const first = await open(browser);
  // The first page buffers ahead (hls.js keeps 30 s) before the second arrives.
  await expect.poll(async () => (await rec(first)).http, { timeout: 20_000 }).toBeGreaterThan(0);
  const second = await open(browser);

  for (const page of [first, second])
    await expect.poll(async () => (await rec(page)).peers, { timeout: 30_000 }).toBeGreaterThan(0);
  // Segments beyond p2p-media-loader's high-demand window come from the first page.
  await expect.poll(async () => (await rec(second)).p2p, { timeout: 40_000 }).toBeGreaterThan(0);

  const a = await rec(first);
  const b = await rec(second);
  console.log(`p2p-media-loader pages: first ${JSON.stringify(a)}, second ${JSON.stringify(b)}`);
  expect(a.uploaded).toBeGreaterThan(0);
  expect([...a.fatal, ...b.fatal]).toEqual([]);
  // Our server did the introductions: an offer went one way and its answer came back.
  const s = env.signaling.stats();
  expect(s.peers).toBe(2);
  expect(s.swarms).toBe(1);
  expect(s.offersRelayed).toBeGreaterThan(0);
  expect(s.answersRelayed).toBeGreaterThan(0);
  await Promise.all([first, second].map((p) => p.context().close()));
});
