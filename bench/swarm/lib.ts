/**
 * Helpers for the swarm benchmark: a byte-counting proxy in front of the origins, the player
 * pages for each arm, validation of what the pages report, and small statistics.
 */
import { createServer, request as httpRequest, Agent, type Server } from "node:http";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { AddressInfo } from "node:net";

/** The arms of the swarm benchmark, in run order. */
export const ARMS = ["plain", "p2pml-default", "p2pml-live", "hivecast", "hivecast-b"] as const;

/** One arm of the swarm benchmark. */
export type ArmName = (typeof ARMS)[number];

/** Type guard for {@link ArmName}. */
export function isArmName(s: string): s is ArmName {
  return (ARMS as readonly string[]).includes(s);
}

// ---------------------------------------------------------------------------------------------
// Statistics

/** Median, min and max of a sample (all NaN for an empty sample). */
export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

/** Median of finite values; NaN when there are none. */
export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** Median and range of the finite values in `values`. */
export function spread(values: readonly number[]): Spread {
  const v = values.filter((x) => Number.isFinite(x));
  if (v.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 };
  return { median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length };
}

/** Rounds to `digits` decimals, keeping NaN as null-friendly NaN. */
export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

// ---------------------------------------------------------------------------------------------
// Byte-counting proxy

/** Bytes one viewer pulled from the origins (through the proxy). */
export interface ViewerOriginBytes {
  /** Media + init segment response bytes. */
  segments: number;
  /** Playlist response bytes. */
  playlists: number;
  /** Responses with status >= 400, or upstream errors. */
  errors: number;
  /** Requests seen. */
  requests: number;
}

/** A loopback reverse proxy that counts response bytes per viewer and origin. */
export interface CountingProxy {
  /** Base URL (ending "/") through which `viewer` reaches origin number `origin`. */
  baseFor(viewer: number, origin: number): string;
  /** Snapshot of the counters of one viewer. */
  viewer(viewer: number): ViewerOriginBytes;
  /** Sum over all viewers. */
  total(): ViewerOriginBytes;
  /**
   * How many times each media segment left the origins (bytes served ÷ segment size, all
   * viewers and origins; byte ranges add up), by path. Init segments and playlists excluded.
   */
  segmentCopies(): Map<string, number>;
  close(): Promise<void>;
}

const zeroBytes = (): ViewerOriginBytes => ({ segments: 0, playlists: 0, errors: 0, requests: 0 });

/**
 * Starts a proxy on `host` (loopback by default) port 0. A request for `/v<viewer>/o<origin>/<path>` is forwarded to
 * `origins[origin] + <path>`; the response is streamed back unchanged (plus CORS and
 * Timing-Allow-Origin headers) while its body bytes are counted for that viewer. Counting at
 * the network layer measures every arm the same way, whatever its own statistics claim.
 */
export async function startCountingProxy(
  origins: readonly string[],
  host = "127.0.0.1",
): Promise<CountingProxy> {
  const counters = new Map<number, ViewerOriginBytes>();
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const perPath = new Map<string, { bytes: number; size: number }>();
  const get = (v: number): ViewerOriginBytes => {
    let c = counters.get(v);
    if (!c) {
      c = zeroBytes();
      counters.set(v, c);
    }
    return c;
  };
  const server: Server = createServer((req, res) => {
    const m = /^\/v(\d+)\/o(\d+)\/(.*)$/.exec(req.url ?? "");
    const target = m ? origins[Number(m[2])] : undefined;
    if (!m || target === undefined) {
      res.writeHead(404).end();
      return;
    }
    const counter = get(Number(m[1]));
    counter.requests++;
    const rest = m[3] ?? "";
    const isPlaylist = /\.m3u8(\?|$)/.test(rest);
    const upstreamUrl = new URL(rest, target);
    const headers = { ...req.headers };
    delete headers.host;
    const upstream = httpRequest(upstreamUrl, { method: req.method, headers, agent }, (up) => {
      const status = up.statusCode ?? 502;
      if (status >= 400) counter.errors++;
      const outHeaders = { ...up.headers };
      outHeaders["access-control-allow-origin"] ??= "*";
      outHeaders["timing-allow-origin"] = "*";
      res.writeHead(status, outHeaders);
      const path = rest.replace(/\?.*$/, "");
      const media = !isPlaylist && !/init[^/]*\.mp4$/.test(path);
      const entry = media ? (perPath.get(path) ?? { bytes: 0, size: 0 }) : undefined;
      if (entry) {
        perPath.set(path, entry);
        const total = /\/(\d+)$/.exec(String(up.headers["content-range"] ?? ""));
        const size = total
          ? Number(total[1])
          : status === 200
            ? Number(up.headers["content-length"])
            : 0;
        if (Number.isFinite(size) && size > entry.size) entry.size = size;
      }
      up.on("data", (chunk: Buffer) => {
        if (isPlaylist) counter.playlists += chunk.length;
        else counter.segments += chunk.length;
        if (entry) entry.bytes += chunk.length;
      });
      up.pipe(res);
      up.on("error", () => res.destroy());
    });
    upstream.on("error", () => {
      counter.errors++;
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.on("aborted", () => upstream.destroy());
    res.on("close", () => upstream.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const addr = server.address();
  if (addr === null || typeof addr === "string") throw new Error("proxy: no address");
  const { port } = addr satisfies AddressInfo;
  return {
    baseFor: (viewer, origin) => `http://${host}:${port}/v${viewer}/o${origin}/`,
    viewer: (v) => ({ ...get(v) }),
    total: () => {
      const t = zeroBytes();
      for (const c of counters.values()) {
        t.segments += c.segments;
        t.playlists += c.playlists;
        t.errors += c.errors;
        t.requests += c.requests;
      }
      return t;
    },
    segmentCopies: () => {
      const out = new Map<string, number>();
      for (const [path, e] of perPath) if (e.size > 0) out.set(path, e.bytes / e.size);
      return out;
    },
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// Pages

/** What a page is told about its arm (passed as JSON in the `cfg` query parameter). */
export interface PageConfig {
  arm: ArmName;
  /** Master playlist URL (through the proxy). */
  src: string;
  /** Origin base URLs for Hivecast (through the proxy). */
  origins: string[];
  tracker: string;
  swarmId: string;
  /** hls.js config overrides (only keys the arm sets; absent keys keep hls.js defaults). */
  hls: Record<string, number | boolean | string>;
  /** p2p-media-loader core config overrides. */
  p2pml: Record<string, number | boolean | string>;
  /** ICE servers of both P2P arms (absent: none, host candidates only). */
  iceServers?: RTCIceServer[];
  /** Extra `p2p` settings of the Hivecast arm (`--hivecast-p2p`), for A/B runs. */
  hivecastP2p?: Record<string, number | boolean | string>;
}

/**
 * Shared in-page instrumentation. Defines `window.__bench` and `instrument(hls, video)`.
 * Times are `performance.now()` ms, i.e. since the navigation started.
 */
const INSTRUMENT = String.raw`
const cfg = JSON.parse(new URLSearchParams(location.search).get("cfg"));
const B = (window.__bench = {
  arm: cfg.arm, startupMs: null, firstFrameMs: null, stalls: 0, stallMs: 0,
  bytesPlayed: 0, fragsLoaded: 0, fragErrors: 0, fatalErrors: 0, errorDetails: {},
  latency: [], levels: {}, lib: { http: 0, p2p: 0, uploaded: 0, segErrors: 0, peers: 0 },
  libStats: null, snapshotAtMs: null, pageErrors: [], errorSamples: [], segLog: [], trace: [],
  stallAtMs: [], peerAtMs: [],
});
// Start-up trace: what happened (hls.js events, library events) and when, until first playback.
const T = (what) => { if (B.startupMs === null && B.trace.length < 80) B.trace.push([what, Math.round(performance.now())]); };
window.addEventListener("error", (e) => B.pageErrors.push(String(e.message).slice(0, 200)));
window.addEventListener("unhandledrejection", (e) => B.pageErrors.push(String(e.reason).slice(0, 200)));
let waitingSince = null;
// Main-thread lag: how late a 250 ms timer fires, sampled after start-up while the page is
// visible (hidden pages' timers are throttled on purpose). At each stall, the worst lag of the
// 3 s before it: whether a starved main thread announces the stall.
B.lag = { samples: 0, over50: 0, over100: 0, over250: 0, maxMs: 0, beforeStall: [] };
const lagRing = [];
let lagDue = performance.now() + 250;
(function lagTick() {
  const now = performance.now();
  const late = Math.max(0, now - lagDue);
  if (B.startupMs !== null && document.visibilityState === "visible") {
    const L = B.lag;
    L.samples++;
    if (late > 50) L.over50++;
    if (late > 100) L.over100++;
    if (late > 250) L.over250++;
    L.maxMs = Math.max(L.maxMs, Math.round(late));
    lagRing.push([now, late]);
    while (lagRing.length > 0 && now - lagRing[0][0] > 3000) lagRing.shift();
  }
  lagDue = now + 250;
  setTimeout(lagTick, 250);
})();
function instrument(hls, video) {
  T("boot");
  video.addEventListener("playing", () => {
    T("playing");
    const now = performance.now();
    if (B.startupMs === null) B.startupMs = now;
    if (waitingSince !== null) { B.stalls++; B.stallMs += now - waitingSince; waitingSince = null; }
  });
  video.addEventListener("waiting", () => {
    if (B.startupMs !== null && waitingSince === null) {
      waitingSince = performance.now();
      if (B.stallAtMs.length < 20) B.stallAtMs.push(Math.round(waitingSince));
      if (B.lag.beforeStall.length < 20)
        B.lag.beforeStall.push(Math.round(lagRing.reduce((m, [, l]) => Math.max(m, l), 0)));
    }
  });
  if (video.requestVideoFrameCallback) {
    video.requestVideoFrameCallback(() => { B.firstFrameMs = performance.now(); });
  }
  hls.on(Hls.Events.MANIFEST_LOADED, () => T("manifest"));
  hls.on(Hls.Events.LEVEL_LOADED, (_e, d) => T("level " + d.level));
  hls.on(Hls.Events.FRAG_LOADING, (_e, d) => T("loading " + d.frag.type[0] + d.frag.sn));
  hls.on(Hls.Events.FRAG_BUFFERED, (_e, d) => T("buffered " + d.frag.type[0] + d.frag.sn));
  hls.on(Hls.Events.FRAG_LOADED, (_e, d) => {
    T("loaded " + d.frag.type[0] + d.frag.sn);
    // The payload may already be transferred to the transmuxer worker (byteLength 0): use the
    // loader's byte count, which every loader (hls.js, p2p-media-loader, Hivecast) fills in.
    const st = d.frag.stats || {};
    const n = Math.max(d.payload ? d.payload.byteLength : 0, st.loaded || 0, st.total || 0);
    B.bytesPlayed += n;
    B.fragsLoaded++;
    const lv = String(d.frag.level);
    B.levels[lv] = (B.levels[lv] || 0) + 1;
  });
  hls.on(Hls.Events.ERROR, (_e, d) => {
    B.errorDetails[d.details] = (B.errorDetails[d.details] || 0) + 1;
    if (B.errorSamples.length < 5) {
      const why = (d.error && d.error.message) || d.reason || "";
      B.errorSamples.push(d.details + (d.frag ? " sn=" + d.frag.sn + " level=" + d.frag.level : "") + ": " + String(why).slice(0, 160));
    }
    if (d.frag && /^frag(LoadError|LoadTimeOut|ParsingError|DecryptError)$/.test(d.details)) B.fragErrors++;
    if (d.fatal) {
      B.fatalErrors++;
      if (d.type === Hls.ErrorTypes.NETWORK_ERROR) hls.startLoad();
      else if (d.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
    }
  });
  setInterval(() => {
    if (B.startupMs === null) return;
    const l = hls.latency;
    if (typeof l === "number" && Number.isFinite(l) && l > 0) B.latency.push(l);
  }, 1000);
  B.snapshot = () => {
    const now = performance.now();
    const s = JSON.parse(JSON.stringify(B));
    if (waitingSince !== null) { s.stalls++; s.stallMs += now - waitingSince; }
    s.snapshotAtMs = now;
    s.rtc = window.__rtc;
    s.targetLatency = typeof hls.targetLatency === "number" ? hls.targetLatency : null;
    s.liveSyncDurationCount = hls.config.liveSyncDurationCount;
    // Resource timing of the start-up requests (scripts, playlists, first segments): network
    // time (start → responseEnd) apart from main-thread delays in the trace.
    s.resources = performance.getEntriesByType("resource").slice(0, 12).map((r) => [
      r.name.slice(r.name.lastIndexOf("/") + 1).split("?")[0], Math.round(r.startTime),
      Math.round(r.responseStart), Math.round(r.responseEnd),
    ]);
    if (B.libStatsFn) { try { s.libStats = JSON.parse(JSON.stringify(B.libStatsFn())); } catch (e) { s.libStats = String(e); } }
    return s;
  };
  video.muted = true;
  hls.loadSource(cfg.src);
  hls.attachMedia(video);
  hls.on(Hls.Events.MANIFEST_PARSED, () => { video.play().catch(() => {}); });
}
`;

/**
 * Counts the page's WebRTC peer connections (created, and those that reached "connected"),
 * before any library loads: what each arm spends on link set-up against the links it gets.
 */
const RTC_COUNT = String.raw`<script>
window.__rtc = { created: 0, connected: 0 };
if (window.RTCPeerConnection) {
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      window.__rtc.created++;
      let up = false;
      this.addEventListener("connectionstatechange", () => {
        if (!up && this.connectionState === "connected") { up = true; window.__rtc.connected++; }
      });
    }
  };
}
</script>`;

const shell = (head: string, body: string): string =>
  `<!doctype html><html><head><meta charset="utf-8"><title>swarm bench</title>${RTC_COUNT}${head}</head>` +
  `<body><video id="v" muted playsinline width="320" height="180"></video>${body}</body></html>`;

/** Plain hls.js: every byte from the origin. */
export const plainPage = shell(
  `<script src="/hls.js"></script>`,
  `<script>${INSTRUMENT}
const hls = new Hls(cfg.hls);
instrument(hls, document.getElementById("v"));
</script>`,
);

/** p2p-media-loader-hlsjs v2 (ES modules) on our tracker, config from `cfg.p2pml`. */
export const p2pmlPage = shell(
  `<script src="/hls.js"></script>` +
    `<script type="importmap">{"imports":{"p2p-media-loader-core":"/p2pml-core.js"}}</script>`,
  `<script type="module">
import { HlsJsP2PEngine } from "/p2pml-hlsjs.js";
${INSTRUMENT}
const HlsWithP2P = HlsJsP2PEngine.injectMixin(Hls);
const hls = new HlsWithP2P({
  ...cfg.hls,
  p2p: {
    core: { ...cfg.p2pml, swarmId: cfg.swarmId, announceTrackers: [cfg.tracker], rtcConfig: { iceServers: cfg.iceServers || [] } },
    onHlsJsCreated(h) {
      const e = h.p2pEngine;
      e.addEventListener("onChunkDownloaded", (bytes, source) => {
        if (source === "http") B.lib.http += bytes; else if (source === "p2p") B.lib.p2p += bytes;
      });
      e.addEventListener("onChunkUploaded", (bytes) => { B.lib.uploaded += bytes; });
      e.addEventListener("onSegmentError", () => { B.lib.segErrors++; });
      e.addEventListener("onPeerConnect", () => { B.lib.peers++; });
    },
  },
});
instrument(hls, document.getElementById("v"));
</script>`,
);

/** Hivecast (IIFE build, global `Hivecast`) from the script at `src`. */
const hivecastPageFor = (src: string): string =>
  shell(
    `<script src="/hls.js"></script><script src="${src}"></script>`,
    `<script>${INSTRUMENT}
const hivecast = new Hivecast.Hivecast({
  origins: cfg.origins,
  p2p: { enabled: true, trackers: [cfg.tracker], swarmId: cfg.swarmId, rtcConfig: { iceServers: cfg.iceServers || [] }, ...(cfg.hivecastP2p || {}) },
});
const hls = new Hls(hivecast.hlsConfig(cfg.hls));
hivecast.attach(hls);
B.libStatsFn = () => hivecast.stats;
// Per segment: name, source (h/p/c), wall-clock ms (comparable across pages of one machine).
hivecast.on("segmentLoaded", (e) => {
  T("hc " + e.source + " " + Math.round(e.ms) + "ms " + e.url.slice(e.url.lastIndexOf("/") + 1));
  if (e.url.includes("/seg/"))
    B.segLog.push([e.url.slice(e.url.lastIndexOf("/seg/") + 5), e.source[0], Math.round(performance.timeOrigin + performance.now())]);
});
// When each peer link came up (at most 20), ms since navigation.
hivecast.on("peerConnected", () => { if (B.peerAtMs.length < 20) B.peerAtMs.push(Math.round(performance.now())); });
instrument(hls, document.getElementById("v"));
</script>`,
  );

/** Hivecast, this workspace's build. */
export const hivecastPage = hivecastPageFor("/hivecast.iife.js");

/** Hivecast, another build for A/B runs (`--hivecast-b`). */
export const hivecastBPage = hivecastPageFor("/hivecast-b.iife.js");

/** Page path per arm. */
export const PAGE_PATH: Record<ArmName, string> = {
  plain: "/plain.html",
  "p2pml-default": "/p2pml.html",
  "p2pml-live": "/p2pml.html",
  hivecast: "/hivecast.html",
  "hivecast-b": "/hivecast-b.html",
};

/** All pages, for the page server. */
export const PAGES: Record<string, string> = {
  "/plain.html": plainPage,
  "/p2pml.html": p2pmlPage,
  "/hivecast.html": hivecastPage,
  "/hivecast-b.html": hivecastBPage,
};

/** Player scripts by URL path (the same paths as e2e's page server). */
function scriptFiles(hivecastB: string | undefined): Record<string, string> {
  const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
  // p2p-media-loader's `exports` hide dist/: locate the packages through their ESM entry.
  const beside = (pkg: string, file: string): string =>
    fileURLToPath(new URL(`../dist/${file}`, import.meta.resolve(pkg)));
  return {
    "/hls.js": fileURLToPath(
      new URL("dist/hls.min.js", import.meta.resolve("hls.js/package.json")),
    ),
    "/hivecast.iife.js": here("../../packages/hlsjs/dist/hivecast.iife.js"),
    ...(hivecastB === undefined ? {} : { "/hivecast-b.iife.js": hivecastB }),
    "/p2pml-core.js": beside("p2p-media-loader-core", "p2p-media-loader-core.es.min.js"),
    "/p2pml-hlsjs.js": beside("p2p-media-loader-hlsjs", "p2p-media-loader-hlsjs.es.min.js"),
  };
}

/** A loopback server for the bench pages and the player scripts. */
export interface PageServer {
  url: string;
  close(): Promise<void>;
}

/** Serves {@link PAGES} and the player scripts on 127.0.0.1:0. */
export async function startBenchPageServer(opts: { hivecastB?: string } = {}): Promise<PageServer> {
  const files = scriptFiles(opts.hivecastB);
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const page = PAGES[path];
    if (page !== undefined) {
      res.writeHead(200, {
        "content-type": "text/html; charset=utf-8",
        "cache-control": "no-store",
      });
      res.end(page);
      return;
    }
    const file = files[path];
    if (file === undefined) {
      res.writeHead(404).end();
      return;
    }
    readFile(file).then(
      (body) => {
        res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" });
        res.end(body);
      },
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  if (addr === null || typeof addr === "string") throw new Error("page server: no address");
  return {
    url: `http://127.0.0.1:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// Validation of what a page reports

/** What one page measured, validated. */
export interface PageMetrics {
  startupMs: number | null;
  firstFrameMs: number | null;
  stalls: number;
  stallMs: number;
  bytesPlayed: number;
  fragsLoaded: number;
  fragErrors: number;
  fatalErrors: number;
  errorDetails: Record<string, number>;
  latency: number[];
  targetLatency: number | null;
  liveSyncDurationCount: number | null;
  levels: Record<string, number>;
  /** Library-reported bytes (p2p-media-loader events; zero for other arms). */
  lib: { http: number; p2p: number; uploaded: number; segErrors: number; peers: number };
  /** Library's own stats object (Hivecast `stats`), numbers picked out. */
  libBytes: {
    http: number | null;
    p2p: number | null;
    offload: number | null;
    /** Bytes uploaded to peers. */
    uploaded: number | null;
  };
  snapshotAtMs: number;
  /** WebRTC peer connections the page created, and how many of them reached "connected". */
  rtc: { created: number; connected: number };
  pageErrors: string[];
  /** First few hls.js errors, as text. */
  errorSamples: string[];
  /** Hivecast only: every media segment as [name, source h/p/c, wall-clock ms]. */
  segLog: Array<[string, string, number]>;
  /** Start-up trace until first playback: [what, ms since navigation]. */
  trace: Array<[string, number]>;
  /** The page's first requests: [file, start, response start, response end], ms since navigation. */
  resources: Array<[string, number, number, number]>;
  /** Main-thread lag after start-up while visible: a 250 ms timer's lateness. */
  lag: PageLag;
  /** When each stall began (at most 20), ms since navigation. */
  stallAtMs: number[];
  /** Hivecast only: when each peer link came up (at most 20), ms since navigation. */
  peerAtMs: number[];
}

/** How late a page's 250 ms timer fired, sampled after start-up while the page was visible. */
export interface PageLag {
  samples: number;
  /** Samples later than 50 / 100 / 250 ms. */
  over50: number;
  over100: number;
  over250: number;
  maxMs: number;
  /** At each stall (at most 20): the worst lag of the 3 s before it, ms. */
  beforeStall: number[];
}

/** The `lag` object of a page snapshot; zeros when the page has none. */
export function parseLag(x: unknown): PageLag {
  const o = isRecord(x) ? x : {};
  return {
    samples: numOrNull(o, "samples") ?? 0,
    over50: numOrNull(o, "over50") ?? 0,
    over100: numOrNull(o, "over100") ?? 0,
    over250: numOrNull(o, "over250") ?? 0,
    maxMs: numOrNull(o, "maxMs") ?? 0,
    beforeStall: finiteNumbers(o.beforeStall),
  };
}

/** The finite numbers of what may be an array. */
function finiteNumbers(x: unknown): number[] {
  return Array.isArray(x)
    ? x.filter((v): v is number => typeof v === "number" && Number.isFinite(v))
    : [];
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}
function num(o: Record<string, unknown>, k: string): number {
  const v = o[k];
  if (typeof v !== "number" || !Number.isFinite(v))
    throw new Error(`page metrics: ${k} is not a number`);
  return v;
}
function numOrNull(o: Record<string, unknown>, k: string): number | null {
  const v = o[k];
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}
function numRecord(x: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (!isRecord(x)) return out;
  for (const [k, v] of Object.entries(x))
    if (typeof v === "number" && Number.isFinite(v)) out[k] = v;
  return out;
}
function pickPath(x: unknown, path: readonly string[]): number | null {
  let cur: unknown = x;
  for (const p of path) {
    if (!isRecord(cur)) return null;
    cur = cur[p];
  }
  return typeof cur === "number" && Number.isFinite(cur) ? cur : null;
}

/**
 * Reads a page's `window.__bench.snapshot()` and validates it; null when the page has no bench
 * instrumentation (it did not initialise). Rejects when the page is gone or the object is bad.
 */
export async function readPageMetrics(page: {
  evaluate<R>(fn: () => R): Promise<R>;
}): Promise<PageMetrics | null> {
  const raw: unknown = await page.evaluate(() => {
    const w = window as unknown as { __bench?: { snapshot?: () => unknown } };
    return typeof w.__bench?.snapshot === "function" ? w.__bench.snapshot() : null;
  });
  return raw === null ? null : parsePageMetrics(raw);
}

/** Validates the `window.__bench.snapshot()` object of a page. */
export function parsePageMetrics(x: unknown): PageMetrics {
  if (!isRecord(x)) throw new Error("page metrics: not an object");
  const lib = isRecord(x.lib) ? x.lib : {};
  const latency = Array.isArray(x.latency)
    ? x.latency.filter((v): v is number => typeof v === "number" && Number.isFinite(v))
    : [];
  const pageErrors = Array.isArray(x.pageErrors)
    ? x.pageErrors.filter((v): v is string => typeof v === "string")
    : [];
  const stats = x.libStats;
  return {
    startupMs: numOrNull(x, "startupMs"),
    firstFrameMs: numOrNull(x, "firstFrameMs"),
    stalls: num(x, "stalls"),
    stallMs: num(x, "stallMs"),
    bytesPlayed: num(x, "bytesPlayed"),
    fragsLoaded: num(x, "fragsLoaded"),
    fragErrors: num(x, "fragErrors"),
    fatalErrors: num(x, "fatalErrors"),
    errorDetails: numRecord(x.errorDetails),
    latency,
    targetLatency: numOrNull(x, "targetLatency"),
    liveSyncDurationCount: numOrNull(x, "liveSyncDurationCount"),
    levels: numRecord(x.levels),
    lib: {
      http: numOrNull(lib, "http") ?? 0,
      p2p: numOrNull(lib, "p2p") ?? 0,
      uploaded: numOrNull(lib, "uploaded") ?? 0,
      segErrors: numOrNull(lib, "segErrors") ?? 0,
      peers: numOrNull(lib, "peers") ?? 0,
    },
    libBytes: {
      http: pickPath(stats, ["bytes", "http"]),
      p2p: pickPath(stats, ["bytes", "p2p"]),
      offload: pickPath(stats, ["offload"]),
      uploaded: pickPath(stats, ["uploadedBytes"]),
    },
    snapshotAtMs: num(x, "snapshotAtMs"),
    rtc: {
      created: pickPath(x, ["rtc", "created"]) ?? 0,
      connected: pickPath(x, ["rtc", "connected"]) ?? 0,
    },
    pageErrors,
    errorSamples: Array.isArray(x.errorSamples)
      ? x.errorSamples.filter((v): v is string => typeof v === "string")
      : [],
    segLog: Array.isArray(x.segLog)
      ? x.segLog.filter(
          (v): v is [string, string, number] =>
            Array.isArray(v) &&
            v.length === 3 &&
            typeof v[0] === "string" &&
            typeof v[1] === "string" &&
            typeof v[2] === "number",
        )
      : [],
    trace: Array.isArray(x.trace)
      ? x.trace.filter(
          (v): v is [string, number] =>
            Array.isArray(v) &&
            v.length === 2 &&
            typeof v[0] === "string" &&
            typeof v[1] === "number",
        )
      : [],
    resources: Array.isArray(x.resources)
      ? x.resources.filter(
          (v): v is [string, number, number, number] =>
            Array.isArray(v) &&
            v.length === 4 &&
            typeof v[0] === "string" &&
            v.slice(1).every((n) => typeof n === "number"),
        )
      : [],
    lag: parseLag(x.lag),
    stallAtMs: finiteNumbers(x.stallAtMs),
    peerAtMs: finiteNumbers(x.peerAtMs),
  };
}
