import { test, expect, type Page } from "@playwright/test";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startOrigins, type OriginCluster } from "@hivecast/origin";
import { startPageServer, type PageServer } from "./page-server.js";

/**
 * Streams of the kinds an integrator brings, made with plain ffmpeg by fixtures/make-streams.sh
 * (MPEG-TS with two renditions, single-file byte-range fMP4, audio-only fMP4; 6 s each), each
 * played through Hivecast from three origins in real Chromium with real hls.js. Then r23: one
 * segment corrupt on every origin → a clear fatal error from hls.js within a bounded number of
 * downloads, never a silent freeze.
 */

const streamsDir = fileURLToPath(new URL("../fixtures/streams", import.meta.url));

interface PageState {
  loaded: {
    url: string;
    origin: string | null;
    bytes: number;
    verified: boolean;
    origins: { origin: string; bytes: number }[];
  }[];
  hivecastErrors: { code: string; fatal: boolean; message: string }[];
  hlsErrors: { details: string; fatal: boolean }[];
  fatal: string[];
  requests: { url: string; range: string | null; status: number }[];
}

/** window.__hc of e2e/pages/engine.html, as far as this spec reads it. */
type PageWindow = { __hc: PageState & { stats(): { integrityFailures: number } } };

let dir: string;
let origins: OriginCluster;
let pages: PageServer;

test.beforeAll(async () => {
  // A private copy: the r23 case corrupts one segment of it on disk (so every origin serves it).
  dir = await mkdtemp(join(tmpdir(), "hivecast-streams-"));
  await cp(streamsDir, dir, { recursive: true });
  await cp(join(dir, "audio"), join(dir, "audio-bad"), { recursive: true });
  const bad = join(dir, "audio-bad", "a0", "seg_001.m4s");
  const bytes = await readFile(bad);
  bytes[bytes.length - 10] = (bytes[bytes.length - 10] ?? 0) ^ 0xff;
  await writeFile(bad, bytes);
  origins = await startOrigins({ dir, origins: 3, port: 0, host: "127.0.0.1" });
  const html = await readFile(new URL("./pages/engine.html", import.meta.url), "utf8");
  pages = await startPageServer({ "/engine.html": html });
});

test.afterAll(async () => {
  await pages?.close();
  await origins?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test.beforeEach(() => {
  test.setTimeout(60_000);
});

async function open(page: Page, src: string, hls: Record<string, unknown> = {}): Promise<void> {
  const cfg = { src, origins: origins.urls, hls: { maxBufferLength: 8, ...hls } };
  await page.goto(`${pages.url}/engine.html?cfg=${encodeURIComponent(JSON.stringify(cfg))}`);
}

const state = (page: Page): Promise<PageState & { integrityFailures: number; t: number }> =>
  page.evaluate(() => {
    const t = (window as unknown as PageWindow).__hc;
    return {
      loaded: t.loaded,
      hivecastErrors: t.hivecastErrors,
      hlsErrors: t.hlsErrors,
      fatal: t.fatal,
      requests: t.requests,
      integrityFailures: t.stats().integrityFailures,
      t: document.querySelector("video")?.currentTime ?? 0,
    };
  });

for (const name of ["ts", "byterange", "audio"] as const) {
  test(`plays the ${name} stream through Hivecast from three origins, every segment verified`, async ({
    page,
  }) => {
    await open(page, `${origins.urls[0]}${name}/master.m3u8`);
    // 6 s of media: most of it must play.
    await expect
      .poll(async () => (await state(page)).t, { timeout: 40_000 })
      .toBeGreaterThanOrEqual(4);
    const s = await state(page);
    expect(s.fatal).toEqual([]);
    expect(s.hivecastErrors.filter((e) => e.fatal)).toEqual([]);
    expect(s.integrityFailures).toBe(0);
    expect(s.loaded.length).toBeGreaterThanOrEqual(3);
    expect(s.loaded.filter((l) => !l.verified)).toEqual([]);
    for (const l of s.loaded)
      expect(
        l.origins.reduce((sum, o) => sum + o.bytes, 0),
        l.url,
      ).toBe(l.bytes);
    // Load is spread: more than one origin served segments.
    expect(new Set(s.loaded.map((l) => l.origin)).size).toBeGreaterThanOrEqual(2);
    if (name === "byterange") expect(s.requests.some((r) => r.range !== null)).toBe(true);
    // The sidecar manifest (for the untagged init segment) is asked for once per playlist.
    const manifests = s.requests
      .filter((r) => r.url.endsWith("segments-sha256.json"))
      .map((r) => new URL(r.url).pathname);
    expect(new Set(manifests).size).toBe(manifests.length);
  });
}

test("r23 one segment bad on every origin, single rendition: hls.js raises a fatal error after bounded downloads", async ({
  page,
}) => {
  const retries = 3;
  await open(page, `${origins.urls[0]}audio-bad/master.m3u8`, {
    fragLoadPolicy: {
      default: {
        maxTimeToFirstByteMs: 10_000,
        maxLoadTimeMs: 20_000,
        timeoutRetry: { maxNumRetry: 2, retryDelayMs: 0, maxRetryDelayMs: 0 },
        errorRetry: { maxNumRetry: retries, retryDelayMs: 250, maxRetryDelayMs: 1000 },
      },
    },
  });
  await expect
    .poll(async () => (await state(page)).fatal, { timeout: 40_000 })
    .toContain("fragLoadError");
  const s = await state(page);
  const bad = s.requests.filter((r) => r.url.endsWith("audio-bad/a0/seg_001.m4s"));
  // One download per origin; hls.js's retries were answered from the engine's memory.
  expect(bad.length).toBeGreaterThanOrEqual(1);
  expect(bad.length).toBeLessThanOrEqual(3);
  const nonFatal = s.hlsErrors.filter((e) => e.details === "fragLoadError" && !e.fatal);
  expect(nonFatal).toHaveLength(retries);
  expect(s.hivecastErrors.filter((e) => e.code === "INTEGRITY_MISMATCH").length).toBe(retries + 1);
  // The good first segment played; the bad one never reached the player.
  expect(s.loaded.some((l) => l.url.endsWith("seg_000.m4s") && l.verified)).toBe(true);
  expect(s.loaded.filter((l) => l.url.endsWith("seg_001.m4s"))).toEqual([]);
});
