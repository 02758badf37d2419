import { test, expect, type Page } from "@playwright/test";
import { fileURLToPath } from "node:url";
import { startOrigins, type OriginCluster } from "@hivecast/origin";
import { startPageServer, type PageServer } from "./page-server.js";

const mediaDir = fileURLToPath(new URL("../fixtures/media", import.meta.url));

/** Plain hls.js (no Hivecast): the baseline every other e2e test builds on. */
const plainPage = `<!doctype html><meta charset="utf-8">
<video id="v" muted playsinline></video>
<script src="/hls.js"></script>
<script>
  window.fatalErrors = [];
  const src = new URL(location.href).searchParams.get("src");
  const video = document.getElementById("v");
  const hls = new Hls();
  hls.on(Hls.Events.ERROR, (_e, d) => { if (d.fatal) window.fatalErrors.push(d.details); });
  hls.loadSource(src);
  hls.attachMedia(video);
  video.play().catch(() => {});
</script>`;

let origins: OriginCluster;
let pages: PageServer;

test.beforeAll(async () => {
  origins = await startOrigins({ dir: mediaDir, origins: 1, port: 0, host: "127.0.0.1" });
  pages = await startPageServer({ "/plain.html": plainPage });
});

test.afterAll(async () => {
  await pages?.close();
  await origins?.close();
});

/** Asserts playback starts and then advances by `seconds` of media time with no fatal error. */
async function playsFor(page: Page, src: string, seconds: number): Promise<void> {
  await page.goto(`${pages.url}/plain.html?src=${encodeURIComponent(src)}`);
  const currentTime = (): Promise<number> =>
    page.evaluate(() => document.querySelector("video")!.currentTime);
  await expect.poll(currentTime, { timeout: 30_000 }).toBeGreaterThan(0);
  // Live starts far into the timeline, so measure progress from the first position seen.
  const first = await currentTime();
  await expect.poll(currentTime, { timeout: 30_000 }).toBeGreaterThan(first + seconds);
  expect(
    await page.evaluate(() => (window as unknown as { fatalErrors: string[] }).fatalErrors),
  ).toEqual([]);
}

test("plain hls.js plays the VOD fixture from an origin", async ({ page }) => {
  await playsFor(page, `${origins.urls[0]}master.m3u8`, 3);
});

test("plain hls.js plays the simulated live stream from an origin", async ({ page }) => {
  await playsFor(page, `${origins.urls[0]}live/master.m3u8`, 3);
});
