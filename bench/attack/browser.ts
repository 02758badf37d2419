/**
 * Attack benchmark with real browsers: N Chromium viewers (the swarm bench's Hivecast page,
 * `hivecast.iife.js` + hls.js) play the origin's simulated live stream through our signaling
 * server, and one attacker in Node joins the same swarm over real WebRTC (node-datachannel):
 * the real P2P layer with a misbehaving transport. Per mode: the viewers' offload (library
 * bytes), stalls, start-up, and each viewer's renderer main-thread busy share (DevTools
 * `Performance.getMetrics` TaskDuration ÷ wall time) relative to the control run.
 *
 *   npx tsx bench/attack/browser.ts [--viewers 2] [--seconds 40] [--modes control,size-liar,leech]
 *                                   [--out bench/results/attack-browser.json]
 *
 * Everything stays on loopback (`iceServers: []`). Never fails on a number.
 */
import type { BrowserContext, CDPSession, Page } from "@playwright/test";
import { createRequire } from "node:module";
import { loadavg } from "node:os";
import { fileURLToPath, pathToFileURL } from "node:url";
import { WebSocket as NodeWebSocket } from "ws";
import { resolveConfig } from "../../packages/core/src/config.js";
import { quietPeerHost, staticPeerStore } from "../../packages/core/src/testing/index.js";
import { startOrigins } from "../../packages/origin/src/index.js";
import {
  createPeerSegmentSource,
  type P2PSegmentSource,
} from "../../packages/core/src/p2p/index.js";
import { encodeHave, encodeLost } from "../../packages/core/src/p2p/peer-protocol.js";
import { EvilConn, MODES as SIM_MODES } from "./evil-conn.js";
import type {
  CreatePeerOptions,
  PeerConnection,
  PeerTransport,
} from "../../packages/core/src/p2p/peer-transport.js";
import type { WebSocketConstructor } from "../../packages/core/src/p2p/tracker-client.js";
import {
  WebRtcTransport,
  type RTCPeerConnectionConstructor,
} from "../../packages/core/src/p2p/webrtc-transport.js";
import { startSignalingServer } from "../../signaling-server/src/index.js";
import { launchChromium } from "../lib/browser.js";
import { Args, defaultOut, writeResult } from "../lib/cli.js";
import {
  PAGE_PATH,
  readPageMetrics,
  startBenchPageServer,
  type PageConfig,
  type PageMetrics,
} from "../swarm/lib.js";

/** The simulator's modes plus one only real connections show: corrupt bytes, a new id per ban. */
const MODES = [...SIM_MODES, "corrupt-rejoin"] as const;
type Mode = (typeof MODES)[number];
/** Flood messages per 10 ms per connection (1000/s, as in the issue's measurement). */
const FLOOD_PER_10MS = 10;
/** Idle identities of `sybil-idle`. */
const SYBILS = 20;
/** `trickle`: the attacker's serving rate, bytes/second. */
const TRICKLE_BYTES_PER_SEC = 700;
/** `corrupt-rejoin`: a banned attacker comes back under a new peer id after this long, ms. */
const REJOIN_MS = 3000;

const root = fileURLToPath(new URL("../../", import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface AttackerStats {
  floodSent: number;
  /** Links that opened, over all the attacker's identities. */
  connections: number;
  /** Peer ids the attacker used (corrupt-rejoin makes a new one after each ban). */
  identities: number;
  /** Segment bytes the attacker received from viewers (leech). */
  receivedBytes: number;
}

/** The data channel under a WebRtcTransport connection (bench only: to send text on it). */
function channelOf(c: PeerConnection): { send(s: string): void; readyState: string } | undefined {
  const ch: unknown = Reflect.get(c, "channel");
  if (typeof ch !== "object" || ch === null || !("send" in ch)) return undefined;
  return ch as { send(s: string): void; readyState: string };
}

/**
 * Follows the origin's live stream from Node, as the viewers name it: the newest segments of
 * every rendition (resource id = URL path after the origin), with their bytes.
 */
class LiveFollower {
  readonly bytes = new Map<string, Uint8Array>();
  private readonly order: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  constructor(
    private readonly origin: string,
    private readonly onSegment: (segmentId: string, bytes: Uint8Array) => void,
  ) {}
  start(): void {
    const tick = async (): Promise<void> => {
      await this.poll().catch(() => undefined);
      if (!this.stopped) this.timer = setTimeout(() => void tick(), 500);
    };
    void tick();
  }
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
  /** The newest segment ids known (up to `n` per poll order). */
  newest(n: number): string[] {
    return this.order.slice(-n);
  }
  private async poll(): Promise<void> {
    const master = new URL("live/master.m3u8", this.origin);
    const uris = (text: string): string[] =>
      text
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "" && !l.startsWith("#"));
    for (const variant of uris(await (await fetch(master)).text())) {
      const media = new URL(variant, master);
      for (const seg of uris(await (await fetch(media)).text()).slice(-3)) {
        const url = new URL(seg, media).href;
        const id = url.slice(this.origin.length);
        if (this.bytes.has(id) || this.stopped) continue;
        const res = await fetch(url);
        if (!res.ok) continue;
        const bytes = new Uint8Array(await res.arrayBuffer());
        this.bytes.set(id, bytes);
        this.order.push(id);
        while (this.order.length > 40) this.bytes.delete(this.order.shift() ?? "");
        this.onSegment(id, bytes);
      }
    }
  }
}

/** One attacker identity: the real P2P layer in Node on a transport that misbehaves. */
function attackerIdentity(
  mode: Mode,
  env: {
    tracker: string;
    swarmId: string;
    PC: RTCPeerConnectionConstructor;
    follower: LiveFollower;
  },
  stats: AttackerStats,
): P2PSegmentSource {
  const downloadOnly = mode === "leech" || mode === "sybil-idle" || mode.endsWith("flood");
  const config = resolveConfig({
    origins: ["http://origin.invalid/"],
    p2p: {
      enabled: true,
      trackers: [env.tracker],
      swarmId: env.swarmId,
      downloadOnly,
      rtcConfig: { iceServers: [] },
      joinDelayMaxMs: 0, // the attacker plays nothing: join at once
    },
  });
  const clock = {
    now: () => Date.now(),
    setTimeout: (fn: () => void, ms: number): unknown => setTimeout(fn, ms),
    clearTimeout: (h: unknown): void => clearTimeout(h as NodeJS.Timeout),
  };
  const inner = new WebRtcTransport({ RTCPeerConnection: env.PC, clock });
  const timers = new Set<NodeJS.Timeout>();
  const behaviour = {
    silent: mode === "slowloris",
    half: mode === "half",
    corrupt: mode === "corrupt-rejoin",
    ...(mode === "trickle" ? { trickleBytesPerSec: TRICKLE_BYTES_PER_SEC } : {}),
  };
  const transport: PeerTransport = {
    createPeer(o: CreatePeerOptions): PeerConnection {
      const c = new EvilConn(inner.createPeer(o), behaviour, clock);
      c.on("connect", () => {
        stats.connections++;
        if (mode !== "have-flood" && mode !== "text-flood") return;
        const id = env.follower.newest(1)[0] ?? "live/v0/seg/0.m4s";
        const [have] = encodeHave([{ segmentId: id, size: 1000 }]);
        const [lost] = encodeLost([id]);
        const text = JSON.stringify({ type: "ping", pad: "x".repeat(200) });
        const t = setInterval(() => {
          try {
            for (let k = 0; k < FLOOD_PER_10MS; k++) {
              if (mode === "have-flood" && have && lost) c.send(k % 2 === 0 ? have : lost);
              else if (mode === "text-flood") channelOf(c.inner)?.send(text);
              stats.floodSent++;
            }
          } catch {
            clearInterval(t); // closed (banned)
          }
        }, 10);
        timers.add(t);
        c.on("close", () => clearInterval(t));
      });
      return c;
    },
  };
  // What the attacker serves: the real bytes (the evil transport spoils them), or for the size
  // liar ten bytes under its 32 MiB claim.
  const store = staticPeerStore((key) => {
    if (downloadOnly) return undefined;
    const bytes = env.follower.bytes.get(key.segmentId);
    return bytes && mode === "size-liar" ? bytes.subarray(0, 10) : bytes;
  });
  const host = quietPeerHost();
  const src = createPeerSegmentSource({
    config,
    clock,
    random: Math.random,
    host,
    store,
    transport,
    WebSocket: NodeWebSocket as unknown as WebSocketConstructor,
    navigator: {},
  });
  stats.identities++;
  src.updatePlaylist({ swarmId: env.swarmId, live: true, targetDuration: 2, segments: [] });
  const destroy = src.destroy.bind(src);
  src.destroy = () => {
    for (const t of timers) clearInterval(t);
    destroy();
  };
  return src;
}

/** The attacker of a mode: its identities, the live follower and its own loops. */
function startAttacker(
  mode: Mode,
  tracker: string,
  swarmId: string,
  origin: string,
  PC: RTCPeerConnectionConstructor,
  stats: AttackerStats,
): { stop(): void } {
  const ids: P2PSegmentSource[] = [];
  let stopped = false;
  const announces = mode !== "leech" && mode !== "sybil-idle" && !mode.endsWith("flood");
  const follower = new LiveFollower(origin, (segmentId, bytes) => {
    if (!announces) return;
    const size = mode === "size-liar" ? 32 * 1024 * 1024 : bytes.byteLength;
    for (const s of ids) s.announce({ swarmId, segmentId }, size);
  });
  const env = { tracker, swarmId, PC, follower };
  follower.start();
  const count = mode === "sybil-idle" ? SYBILS : 1;
  for (let i = 0; i < count; i++) ids.push(attackerIdentity(mode, env, stats));
  const loops: Array<Promise<void>> = [];
  if (mode === "corrupt-rejoin") {
    // Once banned everywhere (no peer left after having had some), come back as someone new.
    loops.push(
      (async () => {
        let hadPeers = false;
        while (!stopped) {
          await sleep(REJOIN_MS);
          const current = ids[0];
          if (!current) break;
          if (current.peerCount() > 0) hadPeers = true;
          else if (hadPeers && !stopped) {
            current.destroy();
            ids[0] = attackerIdentity(mode, env, stats);
            hadPeers = false;
          }
        }
      })(),
    );
  }
  if (mode === "leech") {
    // Requests every segment of the window nonstop.
    loops.push(
      (async () => {
        while (!stopped) {
          const s = ids[0];
          if (!s) break;
          let got = 0;
          for (const segmentId of follower.newest(12)) {
            const r = await s
              .download(
                { swarmId, segmentId },
                { signal: new AbortController().signal, giveUpAt: Date.now() + 3000 },
              )
              .catch(() => null);
            if (r && "data" in r) {
              got++;
              stats.receivedBytes += r.data.byteLength;
            }
            if (stopped) break;
          }
          if (got === 0) await sleep(100);
        }
      })(),
    );
  }
  return {
    stop() {
      stopped = true;
      follower.stop();
      for (const s of ids) s.destroy();
    },
  };
}

interface ViewerResult {
  viewer: number;
  metrics: PageMetrics | null;
  /** Renderer main thread busy share over the run (TaskDuration ÷ wall time). */
  mainThreadBusy: number | null;
  /** Script share of the same. */
  scriptBusy: number | null;
  error: string | null;
}

interface ModeResult {
  mode: Mode;
  offload: number;
  offloadVsControl: number;
  stalls: number;
  startupMsMedian: number;
  mainThreadBusy: Array<number | null>;
  mainThreadVsControl: number;
  /** CPU of all renderer processes over the run ÷ wall time (cores), and ÷ the control's. */
  rendererCpu: number;
  rendererCpuVsControl: number;
  attacker: AttackerStats;
  /** Bytes each viewer uploaded (library stats), in viewer order. */
  uploadedBytes: Array<number | null>;
  viewers: ViewerResult[];
}

/** CPU seconds used so far by all renderer processes of the browser (`SystemInfo`). */
async function rendererCpuS(cdp: CDPSession): Promise<number> {
  const r = (await cdp.send("SystemInfo.getProcessInfo")) as {
    processInfo: Array<{ type: string; id: number; cpuTime: number }>;
  };
  return r.processInfo.filter((p) => p.type === "renderer").reduce((a, p) => a + p.cpuTime, 0);
}

async function metric(cdp: CDPSession): Promise<{ task: number; script: number }> {
  const r = (await cdp.send("Performance.getMetrics")) as {
    metrics: Array<{ name: string; value: number }>;
  };
  const get = (n: string): number => r.metrics.find((m) => m.name === n)?.value ?? 0;
  return { task: get("TaskDuration"), script: get("ScriptDuration") };
}

async function runMode(
  mode: Mode,
  opts: { viewers: number; seconds: number },
  pageBase: string,
  PC: RTCPeerConnectionConstructor,
): Promise<Omit<ModeResult, "offloadVsControl" | "mainThreadVsControl" | "rendererCpuVsControl">> {
  const origins = await startOrigins({
    dir: `${root}fixtures/media`,
    origins: 1,
    port: 0,
    host: "127.0.0.1",
    liveWindow: 6,
  });
  const tracker = await startSignalingServer({ port: 0, host: "127.0.0.1", logLevel: "warn" });
  const browser = await launchChromium();
  const browserCdp = await browser.newBrowserCDPSession();
  let rendererCpu = Number.NaN;
  const contexts: BrowserContext[] = [];
  const stats: AttackerStats = { floodSent: 0, connections: 0, identities: 0, receivedBytes: 0 };
  let attacker: { stop(): void } | undefined;
  const swarmId = `bench-attack-${mode}-${Date.now()}`;
  const results: ViewerResult[] = [];
  try {
    await sleep(500);
    const origin = origins.urls[0] ?? "";
    const pages: Array<{
      page: Page;
      cdp: CDPSession;
      t0: number;
      m0: { task: number; script: number };
    }> = [];
    for (let i = 0; i < opts.viewers; i++) {
      const ctx = await browser.newContext();
      contexts.push(ctx);
      const page = await ctx.newPage();
      const cdp = await ctx.newCDPSession(page);
      await cdp.send("Performance.enable");
      const cfg: PageConfig = {
        arm: "hivecast",
        src: `${origin}live/master.m3u8`,
        origins: [origin],
        tracker: tracker.url,
        swarmId,
        hls: {},
        p2pml: {},
      };
      const m0 = await metric(cdp);
      const t0 = Date.now();
      await page.goto(
        `${pageBase}${PAGE_PATH.hivecast}?cfg=${encodeURIComponent(JSON.stringify(cfg))}`,
        { waitUntil: "commit" },
      );
      pages.push({ page, cdp, t0, m0 });
      await sleep(1000);
    }
    if (mode !== "control") attacker = startAttacker(mode, tracker.url, swarmId, origin, PC, stats);
    const cpu0 = await rendererCpuS(browserCdp);
    const w0 = Date.now();
    await sleep(opts.seconds * 1000);
    rendererCpu = ((await rendererCpuS(browserCdp)) - cpu0) / ((Date.now() - w0) / 1000);
    for (const [i, p] of pages.entries()) {
      let metrics: PageMetrics | null = null;
      let error: string | null = null;
      let busy: number | null = null;
      let script: number | null = null;
      try {
        const m1 = await metric(p.cdp);
        const wallS = (Date.now() - p.t0) / 1000;
        busy = (m1.task - p.m0.task) / wallS;
        script = (m1.script - p.m0.script) / wallS;
        metrics = await readPageMetrics(p.page);
      } catch (e) {
        error = String(e);
      }
      results.push({ viewer: i, metrics, mainThreadBusy: busy, scriptBusy: script, error });
    }
  } finally {
    attacker?.stop();
    await Promise.all(contexts.map((c) => c.close().catch(() => undefined)));
    await browser.close().catch(() => undefined);
    await tracker.close().catch(() => undefined);
    await origins.close().catch(() => undefined);
  }
  let p2p = 0;
  let http = 0;
  for (const v of results) {
    p2p += v.metrics?.libBytes.p2p ?? 0;
    http += v.metrics?.libBytes.http ?? 0;
  }
  const startups = results
    .map((v) => v.metrics?.startupMs)
    .filter((x): x is number => typeof x === "number")
    .sort((a, b) => a - b);
  return {
    mode,
    offload: p2p + http > 0 ? p2p / (p2p + http) : 0,
    stalls: results.reduce((s, v) => s + (v.metrics?.stalls ?? 0), 0),
    startupMsMedian: startups[Math.floor(startups.length / 2)] ?? Number.NaN,
    mainThreadBusy: results.map((v) => v.mainThreadBusy),
    rendererCpu,
    attacker: stats,
    uploadedBytes: results.map((v) => v.metrics?.libBytes.uploaded ?? null),
    viewers: results,
  };
}

async function main(): Promise<void> {
  const args = new Args();
  const viewers = args.int("--viewers", 2, 2);
  const seconds = args.number("--seconds", 40, 5);
  const modes = (args.value("--modes")?.split(",") ?? [...MODES]) as Mode[];
  for (const m of modes) if (!MODES.includes(m)) throw new Error(`unknown mode ${m}`);
  if (!modes.includes("control")) modes.unshift("control");
  const out = args.value("--out") ?? defaultOut("attack-browser", false);
  // node-datachannel is a dev dependency of @hivecast/core: resolved from there.
  const req = createRequire(new URL("../../packages/core/package.json", import.meta.url));
  const polyfill: unknown = await import(
    pathToFileURL(req.resolve("node-datachannel/polyfill")).href
  );
  const PC = Reflect.get(polyfill as object, "RTCPeerConnection") as RTCPeerConnectionConstructor;
  const pages = await startBenchPageServer();
  const results: ModeResult[] = [];
  let control:
    | Omit<ModeResult, "offloadVsControl" | "mainThreadVsControl" | "rendererCpuVsControl">
    | undefined;
  const mean = (xs: Array<number | null>): number => {
    const v = xs.filter((x): x is number => x !== null);
    return v.length ? v.reduce((a, b) => a + b, 0) / v.length : Number.NaN;
  };
  try {
    for (const mode of modes) {
      const r = await runMode(mode, { viewers, seconds }, pages.url, PC);
      if (mode === "control") control = r;
      const c = control ?? r;
      const res: ModeResult = {
        ...r,
        offloadVsControl: c.offload > 0 ? r.offload / c.offload : Number.NaN,
        mainThreadVsControl: mean(r.mainThreadBusy) / mean(c.mainThreadBusy),
        rendererCpuVsControl: r.rendererCpu / c.rendererCpu,
      };
      results.push(res);
      console.log(
        `${mode.padEnd(11)} offload ${r.offload.toFixed(2)} (×${res.offloadVsControl.toFixed(2)})  stalls ${r.stalls}  startup ${Math.round(r.startupMsMedian)} ms  main thread ${r.mainThreadBusy.map((b) => (b === null ? "?" : `${Math.round(b * 100)}%`)).join("/")} (×${res.mainThreadVsControl.toFixed(2)})  renderer CPU ${r.rendererCpu.toFixed(2)} cores (×${res.rendererCpuVsControl.toFixed(2)})  uploaded ${res.uploadedBytes.map((b) => (b === null ? "?" : (b / 2 ** 20).toFixed(1))).join("/")} MiB  attacker: links ${r.attacker.connections}, ids ${r.attacker.identities}, got ${(r.attacker.receivedBytes / 2 ** 20).toFixed(1)} MiB, flood ${r.attacker.floodSent}`,
      );
    }
  } finally {
    await pages.close();
  }
  writeResult(out, {
    bench: "attack-browser",
    options: { viewers, seconds, modes },
    loadavg: loadavg(),
    results,
  });
  console.log(`wrote ${out}`);
}

await main();
