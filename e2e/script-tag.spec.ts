import { test, expect, type Page } from "@playwright/test";
import { readFile, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { startOrigins, type OriginCluster } from "@hivecast/origin";
import { startPageServer, type PageServer } from "./page-server.js";

/**
 * The integrator path: a page with only `<script src=hls.js>` + `<script src=hivecast.iife.js>`
 * (no bundler, no modules), using the global `Hivecast`. Run twice: on the package's own example
 * page (packages/hlsjs/example/index.html, script URLs pointed at the page server) and on a
 * minimal page using `new Hivecast()` / `hlsConfig()` / `attach()`.
 */

const require = createRequire(import.meta.url);
const mediaDir = fileURLToPath(new URL("../fixtures/media", import.meta.url));
const exampleFile = new URL("../packages/hlsjs/example/index.html", import.meta.url);

let origins: OriginCluster;
let pages: PageServer;

/** The example page with its two relative script URLs swapped for the page server's. */
async function examplePage(): Promise<string> {
  const html = await readFile(exampleFile, "utf8");
  const swaps: [string, string][] = [
    ['src="../node_modules/hls.js/dist/hls.min.js"', 'src="/hls.js"'],
    ['src="../dist/hivecast.iife.js"', 'src="/hivecast.iife.js"'],
  ];
  let out = html;
  for (const [from, to] of swaps) {
    if (!out.includes(from)) throw new Error(`example page no longer loads ${from}`);
    out = out.replace(from, to);
  }
  return out;
}

test.beforeAll(async () => {
  origins = await startOrigins({ dir: mediaDir, origins: 3, port: 0, host: "127.0.0.1" });
  pages = await startPageServer({
    "/example.html": await examplePage(),
    "/script-tag.html": await readFile(new URL("./pages/script-tag.html", import.meta.url), "utf8"),
  });
});

test.afterAll(async () => {
  await pages?.close();
  await origins?.close();
});

test.beforeEach(() => {
  test.setTimeout(60_000);
});

const currentTime = (page: Page): Promise<number> =>
  page.evaluate(() => document.querySelector("video")?.currentTime ?? 0);

/** Waits for playback to start, then for `seconds` more of media time. */
async function advances(page: Page, seconds: number): Promise<void> {
  await expect.poll(() => currentTime(page), { timeout: 30_000 }).toBeGreaterThan(0);
  const first = await currentTime(page);
  await expect.poll(() => currentTime(page), { timeout: 30_000 }).toBeGreaterThan(first + seconds);
}

/** Version of the hls.js the page server hands out, from its package.json. */
async function hlsJsVersion(): Promise<string> {
  const pkg: unknown = JSON.parse(await readFile(require.resolve("hls.js/package.json"), "utf8"));
  const version =
    typeof pkg === "object" && pkg !== null && "version" in pkg ? pkg.version : undefined;
  if (typeof version !== "string") throw new Error("hls.js package.json has no version");
  return version;
}

/** Collects uncaught page errors and console errors for the whole test. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    // The browser's own favicon request is not the page's doing.
    if (m.type() === "error" && !m.location().url.endsWith("/favicon.ico"))
      errors.push(`console: ${m.text()} (${m.location().url})`);
  });
  return errors;
}

test("the example page plays through the global Hivecast and logs http segments with their origin", async ({
  page,
}) => {
  const errors = watchErrors(page);
  const src = `${origins.urls[0]}master.m3u8`;
  await page.goto(
    `${pages.url}/example.html?src=${encodeURIComponent(src)}&origins=${encodeURIComponent(origins.urls.join(","))}`,
  );
  await expect(page.locator("#mode")).toHaveText(
    /^hls\.js \S+ with Hivecast, 3 origin\(s\), P2P off\.$/,
  );
  await advances(page, 3);

  // The example's event log: one line per segmentLoaded, "http <file> <n> B in <ms> ms from <origin>".
  const log = (await page.locator("#log").textContent()) ?? "";
  const lines = [...log.matchAll(/ http (\S+\.m4s) (\d+) B in \d+ ms from (\S+)$/gm)];
  expect(lines.length).toBeGreaterThanOrEqual(2);
  for (const [, , bytes, origin] of lines) {
    expect(origins.urls).toContain(origin);
    expect(Number(bytes)).toBeGreaterThan(0);
  }
  expect(log).not.toMatch(/FATAL|ERROR|INTEGRITY/);

  // Its stats tables (redrawn each second) show http bytes and the three origins.
  await expect(page.locator("#origins tr")).toHaveCount(3, { timeout: 5_000 });
  const stats = await page.evaluate(() => {
    const pb = (
      window as unknown as {
        hivecastPlayback?: {
          native: boolean;
          hivecast?: { stats: { bytes: { http: number }; segments: { http: number } } };
        };
      }
    ).hivecastPlayback;
    return { native: pb?.native, stats: pb?.hivecast?.stats };
  });
  expect(stats.native).toBe(false);
  expect(stats.stats?.segments.http ?? 0).toBeGreaterThanOrEqual(lines.length);
  expect(stats.stats?.bytes.http ?? 0).toBeGreaterThan(0);
  expect(errors).toEqual([]);
});

test("two script tags and new Hivecast(): playback advances, segmentLoaded arrives from http with an origin", async ({
  page,
}) => {
  const errors = watchErrors(page);
  const src = `${origins.urls[0]}master.m3u8`;
  await page.goto(
    `${pages.url}/script-tag.html?src=${encodeURIComponent(src)}&origins=${encodeURIComponent(origins.urls.join(","))}`,
  );
  await advances(page, 3);

  const seen = await page.evaluate(() => {
    const w = window as unknown as {
      events: {
        segmentLoaded: {
          url: string;
          source: string;
          origin?: string;
          bytes: number;
          ms: number;
        }[];
        error: { code: string; fatal: boolean }[];
        hlsFatal: string[];
      };
      Hivecast: { playWithHivecast?: unknown; HivecastError?: unknown };
      Hls: { version: string };
    };
    return {
      events: w.events,
      globals: {
        playWithHivecast: typeof w.Hivecast.playWithHivecast,
        HivecastError: typeof w.Hivecast.HivecastError,
        hlsVersion: w.Hls.version,
      },
    };
  });
  // The IIFE adds `Hivecast` and leaves the page's own hls.js global alone.
  expect(seen.globals).toEqual({
    playWithHivecast: "function",
    HivecastError: "function",
    hlsVersion: await hlsJsVersion(),
  });
  expect(seen.events.hlsFatal).toEqual([]);
  expect(seen.events.error.filter((e) => e.fatal)).toEqual([]);

  const media = seen.events.segmentLoaded.filter((e) => e.url.endsWith(".m4s"));
  expect(media.length).toBeGreaterThanOrEqual(2);
  for (const e of media) {
    expect(e.source).toBe("http");
    expect(origins.urls).toContain(e.origin);
    // Delivered bytes are the whole fixture file.
    expect(e.bytes).toBe((await stat(`${mediaDir}${new URL(e.url).pathname}`)).size);
  }
  expect(errors).toEqual([]);
});
