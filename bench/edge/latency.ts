/**
 * Live latency of the operator's chain: an RTMP publisher (ffmpeg testsrc) → `package` (the
 * given preset) → one origin → Chromium pages: plain hls.js and Hivecast with P2P (two pages,
 * our signaling server). Latency = wall clock − `hls.playingDate` (the EXT-X-PROGRAM-DATE-TIME
 * the packager stamps from the same clock, interpolated to the playhead), sampled every 500 ms.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "@playwright/test";
import { startOrigins, startPackager, type OriginCluster, type Packager } from "@hivecast/origin";
import { startSignalingServer, type SignalingServer } from "@hivecast/signaling-server";
import { startPageServer, type PageServer } from "../../e2e/page-server.js";
import { exited, freePort, startPublisher } from "../../packages/origin/test/media-helpers.js";
import { percentile, round } from "../lib/stats.js";

const PAGE = `<!doctype html><meta charset="utf-8">
<video id="v" muted playsinline></video>
<script src="/hls.js"></script>
<script src="/hivecast.iife.js"></script>
<script>
  const q = new URL(location.href).searchParams;
  window.samples = [];
  window.stalls = 0;
  let hls;
  if (q.get("arm") === "plain") {
    hls = new Hls();
  } else {
    const hivecast = new Hivecast({
      origins: [q.get("origin")],
      p2p: { enabled: true, trackers: [q.get("tracker")], rtcConfig: { iceServers: [] } },
    });
    hls = new Hls(hivecast.hlsConfig());
    hivecast.attach(hls);
  }
  const video = document.getElementById("v");
  let playing = false;
  video.addEventListener("playing", () => { playing = true; });
  video.addEventListener("waiting", () => { if (playing) window.stalls++; });
  setInterval(() => {
    const d = hls.playingDate;
    if (playing && d) window.samples.push(Date.now() - d.getTime());
  }, 500);
  hls.loadSource(q.get("src"));
  hls.attachMedia(video);
  video.play().catch(() => {});
</script>`;

/** Latency of one viewer. */
export interface ViewerLatency {
  arm: "plain" | "hivecast";
  p50Ms: number;
  p95Ms: number;
  samples: number;
  stalls: number;
}

/** Latency per preset and arm. */
export interface LatencyResult {
  preset: string;
  segmentSeconds: number;
  viewers: ViewerLatency[];
  /** Pooled over the arm's viewers. */
  arms: Array<{ arm: string; p50Ms: number; p95Ms: number }>;
}

/** Runs one preset: publishes for `seconds`, plays it in 3 pages, returns latencies. */
export async function measureLatency(
  browser: Browser,
  preset: { name: string; segmentSeconds: number; window: number },
  seconds: number,
): Promise<LatencyResult> {
  const work = await mkdtemp(join(tmpdir(), "hivecast-latency-"));
  let packager: Packager | undefined;
  let origins: OriginCluster | undefined;
  let signaling: SignalingServer | undefined;
  let pages: PageServer | undefined;
  const opened: Page[] = [];
  const pub: Array<ReturnType<typeof startPublisher>> = [];
  try {
    const mirror = join(work, "m1");
    const port = await freePort();
    const url = `rtmp://127.0.0.1:${port}/live/stream`;
    const logs: string[] = [];
    packager = await startPackager({
      input: url,
      mirrors: [mirror],
      segmentSeconds: preset.segmentSeconds,
      window: preset.window,
      renditions: [
        { width: 320, height: 180, videoKbps: 300 },
        { width: 160, height: 90, videoKbps: 120 },
      ],
      once: true,
      log: (l) => logs.push(l),
    });
    origins = await startOrigins({ dir: mirror, origins: 1 });
    signaling = await startSignalingServer({ port: 0, host: "127.0.0.1", logLevel: "warn" });
    pages = await startPageServer({ "/latency.html": PAGE });
    for (let i = 0; i < 100 && !logs.some((l) => l.startsWith("waiting")); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    let p = startPublisher(url, seconds);
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 800));
      if (p.exitCode === null) break;
      p = startPublisher(url, seconds);
    }
    pub.push(p);
    const origin = origins.urls[0] ?? "";
    for (let i = 0; i < 200; i++) {
      if ((await fetch(`${origin}master.m3u8`)).status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // Viewers join a running stream, not its first segment: with one or two segments listed,
    // hls.js starts at the first, so a page opened later would sit further behind for good.
    await waitForWindow(`${origin}master.m3u8`, Math.min(preset.window, 4));
    const arms: Array<"plain" | "hivecast"> = ["plain", "hivecast", "hivecast"];
    for (let i = 0; i < arms.length; i++) opened.push(await (await browser.newContext()).newPage());
    // All pages load at once, so none gets a head start on the live edge.
    await Promise.all(
      arms.map((arm, i) => {
        const q = new URLSearchParams({
          arm,
          src: `${origin}master.m3u8`,
          origin,
          tracker: signaling?.url ?? "",
        });
        return opened[i]?.goto(`${pages?.url ?? ""}/latency.html?${q}`);
      }),
    );
    await exited(p, (seconds + 30) * 1000);
    const viewers: ViewerLatency[] = [];
    for (let i = 0; i < opened.length; i++) {
      const r = await opened[i]?.evaluate(() => {
        const w = window as unknown as { samples: number[]; stalls: number };
        return { samples: w.samples, stalls: w.stalls };
      });
      const s = r?.samples ?? [];
      viewers.push({
        arm: arms[i] ?? "plain",
        p50Ms: round(percentile(s, 50), 0),
        p95Ms: round(percentile(s, 95), 0),
        samples: s.length,
        stalls: r?.stalls ?? 0,
      });
      (viewers[viewers.length - 1] as ViewerLatency & { raw?: number[] }).raw = s;
    }
    const pooled = (arm: string) =>
      viewers
        .filter((v) => v.arm === arm)
        .flatMap((v) => (v as ViewerLatency & { raw?: number[] }).raw ?? []);
    const result: LatencyResult = {
      preset: preset.name,
      segmentSeconds: preset.segmentSeconds,
      viewers: viewers.map(({ arm, p50Ms, p95Ms, samples, stalls }) => ({
        arm,
        p50Ms,
        p95Ms,
        samples,
        stalls,
      })),
      arms: ["plain", "hivecast"].map((arm) => ({
        arm,
        p50Ms: round(percentile(pooled(arm), 50), 0),
        p95Ms: round(percentile(pooled(arm), 95), 0),
      })),
    };
    return result;
  } finally {
    for (const x of pub) x.kill("SIGKILL");
    for (const pg of opened) await pg.context().close();
    await packager?.stop();
    await origins?.close();
    await pages?.close();
    await signaling?.close();
    await rm(work, { recursive: true, force: true });
  }
}

/** Waits until the first rendition's live playlist lists at least `segments` segments. */
async function waitForWindow(master: string, segments: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const text = await (await fetch(master)).text();
    const media = text.split("\n").find((l) => l.trim() !== "" && !l.startsWith("#"));
    if (media) {
      const list = await (await fetch(new URL(media.trim(), master))).text();
      if (list.split("#EXTINF").length - 1 >= segments) return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the live playlist never listed ${segments} segments`);
}
