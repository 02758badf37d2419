import { test, expect } from "@playwright/test";
import { fileURLToPath } from "node:url";
import { startOrigins, type OriginCluster } from "@hivecast/origin";
import { chromiumArgs, chromiumPath } from "./chromium.js";
import { startPageServer, type PageServer } from "./page-server.js";

/**
 * A page served over plain http from a host name that is not localhost (mapped to 127.0.0.1 by
 * Chromium's resolver, so nothing leaves the machine): not a secure context, so no
 * `crypto.subtle`. Hashed playback (integrity "required") must still work — verified with the
 * pure-JS SHA-256 — and the app is told once with an `insecure-context` warning.
 */

const HOST = "hivecast.test";
const mediaDir = fileURLToPath(new URL("../fixtures/media", import.meta.url));

test.use({
  launchOptions: {
    executablePath: chromiumPath(),
    args: [...chromiumArgs, `--host-resolver-rules=MAP ${HOST} 127.0.0.1`],
  },
});

const PAGE = `<!doctype html>
<meta charset="utf-8" />
<video id="v" muted playsinline></video>
<script src="/hls.js"></script>
<script src="/hivecast.iife.js"></script>
<script>
  var params = new URLSearchParams(location.search);
  var seen = (window.seen = { loaded: 0, warnings: [], errors: [], hlsFatal: [] });
  var hivecast = new Hivecast({ origins: params.get("origins").split(","), integrity: "required" });
  hivecast.on("segmentLoaded", function () { seen.loaded++; });
  hivecast.on("warning", function (w) { seen.warnings.push(w.kind); });
  hivecast.on("error", function (e) { seen.errors.push(e.code + ": " + e.message); });
  var hls = new Hls(hivecast.hlsConfig({ maxBufferLength: 10 }));
  hivecast.attach(hls);
  hls.on(Hls.Events.ERROR, function (_e, d) { if (d.fatal) seen.hlsFatal.push(d.details); });
  hls.loadSource(params.get("src"));
  hls.attachMedia(document.getElementById("v"));
  document.getElementById("v").play().catch(function () {});
  window.hivecast = hivecast;
</script>`;

let origins: OriginCluster;
let pages: PageServer;

test.beforeAll(async () => {
  origins = await startOrigins({ dir: mediaDir, origins: 2, port: 0, host: "127.0.0.1" });
  pages = await startPageServer({ "/insecure.html": PAGE });
});

test.afterAll(async () => {
  await pages?.close();
  await origins?.close();
});

test("on an insecure http page (no crypto.subtle), hashed playback verifies with the pure-JS SHA-256 and warns once", async ({
  page,
}) => {
  test.setTimeout(60_000);
  const onHost = (u: string): string => u.replace("127.0.0.1", HOST);
  const originUrls = origins.urls.map(onHost);
  await page.goto(
    `${onHost(pages.url)}/insecure.html?src=${encodeURIComponent(`${originUrls[0]}master.m3u8`)}&origins=${encodeURIComponent(originUrls.join(","))}`,
  );
  const ctx = await page.evaluate(() => ({
    secure: window.isSecureContext,
    subtle: typeof globalThis.crypto?.subtle,
  }));
  expect(ctx).toEqual({ secure: false, subtle: "undefined" });
  const time = (): Promise<number> =>
    page.evaluate(() => document.querySelector("video")?.currentTime ?? 0);
  await expect.poll(time, { timeout: 30_000 }).toBeGreaterThan(2);
  const seen = await page.evaluate(() => {
    const w = window as unknown as {
      seen: { loaded: number; warnings: string[]; errors: string[]; hlsFatal: string[] };
      hivecast: {
        stats: { segments: { http: number; failed: number }; integrityFailures: number };
      };
    };
    return { ...w.seen, stats: w.hivecast.stats };
  });
  expect(seen.errors).toEqual([]);
  expect(seen.hlsFatal).toEqual([]);
  expect(seen.warnings).toEqual(["insecure-context"]);
  expect(seen.loaded).toBeGreaterThanOrEqual(2);
  expect(seen.stats.segments.failed).toBe(0);
  expect(seen.stats.integrityFailures).toBe(0);
});
