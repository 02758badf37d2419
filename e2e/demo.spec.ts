import { test, expect, type Page } from "@playwright/test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDemoServers, type DemoServers } from "../demo/server.js";

/**
 * The demo as `npm start` runs it (fresh production build, origins, tracker, page server), on
 * free ports, driven like a viewer would: watch it play, read the charts, break an origin.
 */
let demo: DemoServers;
let dir: string;

test.beforeAll(async () => {
  test.setTimeout(120_000);
  dir = await mkdtemp(join(tmpdir(), "hivecast-demo-e2e-"));
  // A file beside the build that the page server must never hand out.
  await writeFile(join(dir, "secret.txt"), "not for the web\n");
  demo = await startDemoServers({
    port: 0,
    originPort: 0,
    signalingPort: 0,
    distDir: join(dir, "dist"),
    build: "always",
  });
});

test.afterAll(async () => {
  await demo?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const currentTime = (page: Page): Promise<number> =>
  page.evaluate(() => document.querySelector("video")?.currentTime ?? 0);

/** Pixels of the bytes chart painted in one of the legend's series colours. */
function seriesPixels(page: Page): Promise<number> {
  return page.evaluate(() => {
    const canvas = document.getElementById("bytes-chart");
    if (!(canvas instanceof HTMLCanvasElement)) return -1;
    const ctx = canvas.getContext("2d");
    if (!ctx || canvas.width === 0) return -1;
    const colors = [...document.querySelectorAll<HTMLElement>("#legend .swatch")].map((s) =>
      (getComputedStyle(s).backgroundColor.match(/\d+/g) ?? []).slice(0, 3).map(Number),
    );
    const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      if ((data[i + 3] ?? 0) < 100) continue;
      const [r, g, b] = [data[i] ?? 0, data[i + 1] ?? 0, data[i + 2] ?? 0];
      if (
        colors.some(
          ([cr = 0, cg = 0, cb = 0]) => Math.abs(r - cr) + Math.abs(g - cg) + Math.abs(b - cb) < 40,
        )
      )
        n++;
    }
    return n;
  });
}

test("config.json names the servers the launcher started", async ({ request }) => {
  const res = await request.get(`${demo.url}config.json`);
  expect(res.ok()).toBe(true);
  const json: unknown = await res.json();
  expect(json).toEqual({
    origins: demo.origins,
    tracker: demo.tracker,
    live: `${demo.origins[0]}live/master.m3u8`,
    vod: `${demo.origins[0]}master.m3u8`,
  });
  expect((await request.get(`${demo.url}index.html`)).ok()).toBe(true);
  expect((await request.get(`${demo.url}%2e%2e%2fsecret.txt`)).status()).toBe(404);
});

test("r06 player page plays live, draws its charts, and keeps playing when origin 0 is killed", async ({
  page,
}) => {
  test.setTimeout(120_000);
  const pageErrors: string[] = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(demo.url);

  await expect.poll(() => currentTime(page), { timeout: 30_000 }).toBeGreaterThan(2);
  // The stacked area chart has painted bytes from at least one source.
  await expect.poll(() => seriesPixels(page), { timeout: 20_000 }).toBeGreaterThan(200);
  await expect(page.locator('article.origin[data-index="0"]')).toHaveAttribute(
    "data-state",
    "healthy",
  );
  await expect(page.locator("#log li").first()).toBeVisible();

  await page.locator('article.origin[data-index="0"] button[data-fault="kill"]').click();
  await expect(page.locator('article.origin[data-index="0"] .faults')).toContainText("down", {
    timeout: 10_000,
  });
  await expect(page.locator('article.origin[data-index="0"]')).toHaveAttribute(
    "data-state",
    /^(open|half-open|degraded)$/,
    { timeout: 30_000 },
  );
  const atKill = await currentTime(page);
  await expect.poll(() => currentTime(page), { timeout: 30_000 }).toBeGreaterThan(atKill + 6);
  await expect(page.locator("#v-failed")).toHaveText("0");

  await page.locator('article.origin[data-index="0"] button[data-fault="reset"]').click();
  await expect(page.locator('article.origin[data-index="0"] .faults')).toHaveText(
    "no faults injected",
    { timeout: 10_000 },
  );
  expect(pageErrors).toEqual([]);
});

test("swarm page runs two viewers that both play and share segments over P2P", async ({ page }) => {
  test.setTimeout(90_000);
  await page.goto(`${demo.url}swarm.html?n=2`);
  await expect(page.locator("iframe.viewer")).toHaveCount(2, { timeout: 10_000 });
  await expect(page.locator("#swarm-totals")).toContainText("2/2 viewers reporting", {
    timeout: 30_000,
  });
  for (const frame of page.frames().filter((f) => f.url().includes("embed.html"))) {
    await expect
      .poll(() => frame.evaluate(() => document.querySelector("video")?.currentTime ?? 0), {
        timeout: 30_000,
      })
      .toBeGreaterThan(2);
  }
  // The viewers found each other through the tracker and moved verified bytes peer to peer.
  await expect
    .poll(async () => Number(await page.locator("#swarm-totals").getAttribute("data-p2p")), {
      timeout: 45_000,
    })
    .toBeGreaterThan(0);
});
