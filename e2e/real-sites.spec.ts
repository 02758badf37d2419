import { test, expect, type Page } from "@playwright/test";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { signUrl, startOrigins, type OriginCluster } from "@hivecast/origin";
import { startPageServer, type PageServer } from "./page-server.js";

/**
 * Real-CDN shapes against the dev origins in Chromium with hls.js and the IIFE build:
 * per-origin signed URLs (each origin its own HMAC secret) signed in `requestSetup`, and HLS
 * content steering from the origins' steering endpoint.
 */

const mediaDir = fileURLToPath(new URL("../fixtures/media", import.meta.url));
const SECRETS = ["secret-0", "secret-1", "secret-2"];

const PAGE = `<!doctype html>
<meta charset="utf-8" />
<video id="v" muted playsinline></video>
<script src="/hls.js"></script>
<script src="/hivecast.iife.js"></script>`;

let pages: PageServer;
let origins: OriginCluster | undefined;
let dir: string | undefined;

test.beforeAll(async () => {
  pages = await startPageServer({ "/play.html": PAGE });
});
test.afterAll(async () => {
  await pages?.close();
});
test.afterEach(async () => {
  await origins?.close();
  origins = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

interface Seen {
  loaded: Array<{ origin?: string; url: string; at: number }>;
  errors: string[];
  hlsFatal: string[];
}

const currentTime = (page: Page): Promise<number> =>
  page.evaluate(() => document.querySelector("video")?.currentTime ?? 0);
const seen = (page: Page): Promise<Seen> =>
  page.evaluate(() => (window as unknown as { seen: Seen }).seen);

/** Starts playback of `src` in the page with a Hivecast config built in the page. */
async function play(
  page: Page,
  src: string,
  originUrls: string[],
  secrets: string[] | undefined,
  http: Record<string, number>,
): Promise<void> {
  await page.goto(`${pages.url}/play.html`);
  await page.evaluate(
    ({ src, originUrls, secrets, http }) => {
      type Ctx = { url: string; origin: string };
      const w = window as unknown as Record<string, unknown> & {
        Hivecast: new (c: unknown) => {
          on(e: string, f: (x: Record<string, unknown>) => void): void;
          hlsConfig(c: unknown): unknown;
          attach(h: unknown): void;
          stats: unknown;
        };
        Hls: {
          new (c: unknown): {
            on(e: string, f: (_: unknown, d: { fatal: boolean; details: string }) => void): void;
            loadSource(s: string): void;
            attachMedia(v: unknown): void;
          };
          Events: { ERROR: string };
        };
      };
      const enc = new TextEncoder();
      const keys = new Map<string, Promise<CryptoKey>>();
      const key = (secret: string): Promise<CryptoKey> => {
        let k = keys.get(secret);
        if (!k) {
          k = crypto.subtle.importKey(
            "raw",
            enc.encode(secret),
            { name: "HMAC", hash: "SHA-256" },
            false,
            ["sign"],
          );
          keys.set(secret, k);
        }
        return k;
      };
      const sign = async (ctx: Ctx) => {
        const i = originUrls.indexOf(ctx.origin);
        const secret = secrets?.[i];
        if (secret === undefined) return undefined;
        const u = new URL(ctx.url);
        const exp = String(Date.now() + 60_000);
        const sig = new Uint8Array(
          await crypto.subtle.sign("HMAC", await key(secret), enc.encode(`${exp}:${u.pathname}`)),
        );
        u.searchParams.set("hc_exp", exp);
        u.searchParams.set("hc_sig", [...sig].map((b) => b.toString(16).padStart(2, "0")).join(""));
        return { url: u.href };
      };
      const seen: Seen = { loaded: [], errors: [], hlsFatal: [] };
      w.seen = seen;
      const hivecast = new w.Hivecast({
        origins: originUrls,
        requestSetup: secrets ? sign : undefined,
        http,
      });
      hivecast.on("segmentLoaded", (e) =>
        seen.loaded.push({
          origin: e["origin"] as string | undefined,
          url: e["url"] as string,
          at: performance.now(),
        }),
      );
      hivecast.on("error", (e) =>
        seen.errors.push(`${String(e["code"])}: ${String(e["message"])}`),
      );
      const hls = new w.Hls(hivecast.hlsConfig({ maxBufferLength: 6, maxMaxBufferLength: 6 }));
      hivecast.attach(hls);
      hls.on(w.Hls.Events.ERROR, (_e, d) => {
        if (d.fatal) seen.hlsFatal.push(d.details);
      });
      hls.loadSource(src);
      const video = document.querySelector("video") as HTMLVideoElement;
      hls.attachMedia(video);
      void video.play().catch(() => undefined);
      w.hivecast = hivecast;
    },
    { src, originUrls, secrets, http },
  );
}

test("signed URLs per CDN: failover and range splits over three origins with three secrets", async ({
  page,
}) => {
  test.setTimeout(90_000);
  origins = await startOrigins({ dir: mediaDir, origins: 3, tokenSecrets: SECRETS });
  const urls = origins.urls;
  // The player starts on origin 0's signed URL, as a site's page would hand it out.
  const src = signUrl(`${urls[0]}master.m3u8`, SECRETS[0]!, Date.now() + 60_000);
  await play(page, src, urls, SECRETS, { splitThresholdBytes: 40_000, minRangeBytes: 16_384 });
  await expect.poll(() => currentTime(page), { timeout: 30_000 }).toBeGreaterThan(2);
  origins.setFaults(0, { down: true });
  const t = await currentTime(page);
  await expect.poll(() => currentTime(page), { timeout: 30_000 }).toBeGreaterThan(t + 6);
  const s = await seen(page);
  expect(s.hlsFatal).toEqual([]);
  expect(s.errors).toEqual([]);
  const stats = (await page.evaluate(
    () => (window as unknown as { hivecast: { stats: unknown } }).hivecast.stats,
  )) as { byOrigin: Record<string, { bytes: number; failures: number }> };
  // Origins 1 and 2 served bytes and never refused a token.
  for (const o of [urls[1]!, urls[2]!]) {
    expect(stats.byOrigin[o]?.bytes ?? 0).toBeGreaterThan(0);
    expect(stats.byOrigin[o]?.failures).toBe(0);
  }
});

test("content steering: the pool follows the steering server's order and its changes; the preferred pathway going down does not stall", async ({
  page,
}) => {
  test.setTimeout(120_000);
  dir = mkdtempSync(join(tmpdir(), "hivecast-steering-"));
  cpSync(mediaDir, dir, { recursive: true });
  origins = await startOrigins({
    dir,
    origins: 3,
    steering: { priority: ["p2", "p0", "p1"], ttl: 1 },
  });
  const urls = origins.urls;
  const lines = ["#EXTM3U", `#EXT-X-CONTENT-STEERING:SERVER-URI="/steering.json",PATHWAY-ID="p0"`];
  urls.forEach((u, i) =>
    lines.push(
      `#EXT-X-STREAM-INF:BANDWIDTH=510400,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2",PATHWAY-ID="p${i}"`,
      `${u}v0/index.m3u8`,
    ),
  );
  writeFileSync(join(dir, "master.m3u8"), lines.join("\n") + "\n");
  await play(page, `${urls[0]}master.m3u8`, urls, undefined, { splitThresholdBytes: 0 });
  await expect.poll(() => currentTime(page), { timeout: 30_000 }).toBeGreaterThan(2);
  const media = (s: Seen) => s.loaded.filter((e) => e.url.endsWith(".m4s"));
  /** Waits until the last two media segments came from `origin`. */
  const lastTwoFrom = (origin: string | undefined, timeout: number) =>
    expect
      .poll(
        async () =>
          media(await seen(page))
            .slice(-2)
            .map((e) => e.origin),
        { timeout },
      )
      .toEqual([origin, origin]);
  await lastTwoFrom(urls[2], 20_000);
  expect(origins.steeringRequests).toBeGreaterThan(0);

  origins.setSteering({ priority: ["p1", "p2", "p0"], ttl: 1 });
  await lastTwoFrom(urls[1], 30_000);

  origins.setFaults(1, { down: true });
  const before = media(await seen(page)).length;
  const t = await currentTime(page);
  await expect.poll(() => currentTime(page), { timeout: 30_000 }).toBeGreaterThan(t + 6);
  const s = await seen(page);
  const after = media(s).slice(before);
  expect(after.length).toBeGreaterThan(0);
  expect(after.every((e) => e.origin !== urls[1])).toBe(true);
  expect(s.hlsFatal).toEqual([]);
  expect(s.errors).toEqual([]);
});
