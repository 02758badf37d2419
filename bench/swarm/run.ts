/**
 * Swarm benchmark (BENCHMARKS.md item 1).
 *
 *   npx tsx bench/swarm/run.ts [--quick] [--viewers 8] [--seconds 60] [--reps 3]
 *                              [--arms plain,p2pml-default,p2pml-live,hivecast] [--out file]
 *                              [--cpu-throttle 4]   (loaded machine: every page's CPU slowed 4×)
 *
 * N Chromium pages, spread over two browser processes, join the same simulated live stream
 * (1 s apart) and each plays for S seconds, once per arm: plain hls.js, p2p-media-loader-hlsjs
 * with its defaults, p2p-media-loader-hlsjs tuned for live as its docs suggest, and Hivecast.
 * Every arm gets fresh origins and a fresh tracker. Origin bytes are counted by a proxy in front
 * of the origins (per viewer), so every arm is measured the same way at the network layer.
 * Writes bench/results/swarm.json (quick: swarm-quick.json) and prints a table. Never fails on a number.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { cpus, tmpdir } from "node:os";
import { chromium, type Browser, type BrowserContext, type Page } from "@playwright/test";
import { chromiumArgs, chromiumPath } from "../../e2e/chromium.js";
import { percentile } from "../lib/stats.js";
import {
  startupPhases,
  warmLateComparison,
  type StartupPhases,
  type WarmLateComparison,
} from "./startup.js";
import {
  selfByScript,
  summarizePageTrace,
  topFunctions,
  TRACE_CATEGORIES,
  type ProfileRow,
  type ScriptTimes,
  type TraceEvent,
  type TraceSummary,
} from "./trace.js";
import { cpuBetween, cpuMark, type MachineCpu } from "../lib/proc-cpu.js";
import {
  ARMS,
  PAGE_PATH,
  isArmName,
  median,
  readPageMetrics,
  round,
  spread,
  startBenchPageServer,
  startCountingProxy,
  type ArmName,
  type PageConfig,
  type PageMetrics,
  type PageLag,
  type Spread,
  type ViewerOriginBytes,
} from "./lib.js";

const root = fileURLToPath(new URL("../../", import.meta.url));

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  quick: boolean;
  viewers: number;
  seconds: number;
  reps: number;
  arms: ArmName[];
  staggerMs: number;
  liveWindow: number;
  origins: number;
  out: string;
  /** Override of the p2pml-live arm's settings (`--tune '{"hls":{…},"p2pml":{…}}'`), for sweeps. */
  tune: Pick<PageConfig, "hls" | "p2pml"> | null;
  /**
   * CPU slow-down of every page (DevTools `Emulation.setCPUThrottlingRate`; 1 = none): the
   * loaded-machine condition, where a late joiner's start-up tail shows.
   */
  cpuThrottle: number;
  /** Extra `p2p` settings for the Hivecast arm (`--hivecast-p2p '{"joinDelayMaxMs":0}'`). */
  hivecastP2p: Record<string, number | boolean | string> | undefined;
  /** Extra hls.js settings for the Hivecast arm (`--hivecast-hls '{"maxLiveSyncPlaybackRate":1}'`). */
  hivecastHls: Record<string, number | boolean | string> | undefined;
  /** Record a CPU profile of this viewer's page (its top functions go into the run). */
  profileViewer: number | undefined;
  /**
   * Where to write the raw profile of `--profile-viewer` (`--profile-out FILE`, one file per
   * arm and repetition: `FILE` with `-<arm>-<rep>.cpuprofile` appended; DevTools opens it).
   */
  profileOut: string | undefined;
  /**
   * Record a Chromium trace of this viewer's page (`--trace-viewer i`): its main thread's self
   * time per trace event name goes into the run, naming what a CPU profile calls "(program)".
   */
  traceViewer: number | undefined;
  /** Another `hivecast.iife.js` for the `hivecast-b` arm (A/B of two builds in one run). */
  hivecastB: string | undefined;
  /**
   * Late joiners in a third Chromium pinned to the last CPU, everything else (this process, the
   * first viewers' browsers) on the others: a late joiner's start-up competes only with the late
   * joiners, not with the whole swarm's decoding and uploads (`--late-own-core`, Linux).
   */
  lateOwnCore: boolean;
  /**
   * How many of the last viewers to join count as late joiners (`--late-joiners K`; default
   * the second half). With `--late-own-core` and K = 1 the last viewer has a core to itself: its
   * start-up is its own page's work in a busy swarm, as for a real viewer on its own machine.
   */
  lateJoiners: number;
}

function parseArgs(argv: readonly string[]): Options {
  const quick = argv.includes("--quick");
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const int = (name: string, dflt: number, min: number): number => {
    const v = value(name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}`);
    return n;
  };
  const armsArg = value("--arms");
  const arms: ArmName[] = [];
  const hivecastB = value("--hivecast-b");
  const defaults = ARMS.filter((a) => a !== "hivecast-b" || hivecastB !== undefined);
  for (const a of armsArg ? armsArg.split(",") : defaults) {
    if (!isArmName(a)) throw new Error(`unknown arm ${a} (known: ${ARMS.join(", ")})`);
    arms.push(a);
  }
  const viewers = int("--viewers", quick ? 3 : 8, 1);
  return {
    quick,
    viewers,
    seconds: int("--seconds", quick ? 15 : 60, 2),
    reps: int("--reps", quick ? 1 : 3, 1),
    arms,
    staggerMs: int("--stagger-ms", 1000, 0),
    liveWindow: int("--live-window", 6, 3),
    origins: int("--origins", 3, 1),
    out: value("--out") ?? `${root}bench/results/swarm${quick ? "-quick" : ""}.json`,
    tune: parseTune(value("--tune")),
    cpuThrottle: int("--cpu-throttle", 1, 1),
    hivecastP2p: parseFlatJson(value("--hivecast-p2p"), "--hivecast-p2p"),
    hivecastHls: parseFlatJson(value("--hivecast-hls"), "--hivecast-hls"),
    profileViewer:
      value("--profile-viewer") === undefined ? undefined : int("--profile-viewer", 0, 0),
    profileOut: value("--profile-out"),
    traceViewer: value("--trace-viewer") === undefined ? undefined : int("--trace-viewer", 0, 0),
    hivecastB,
    lateOwnCore: argv.includes("--late-own-core"),
    lateJoiners: lateJoiners(viewers, value("--late-joiners")),
  };
}

/** `--late-joiners`: 1 … viewers − 1 (default: the second half of the viewers). */
function lateJoiners(viewers: number, arg: string | undefined): number {
  const half = viewers - Math.ceil(viewers / 2);
  if (arg === undefined) return half;
  const n = Number(arg);
  if (!Number.isInteger(n) || n < 1 || n >= viewers)
    throw new Error(`--late-joiners must be an integer from 1 to ${viewers - 1} (--viewers − 1)`);
  return n;
}

/** A flat JSON object of numbers, booleans and strings, or undefined when absent. */
function parseFlatJson(
  s: string | undefined,
  what: string,
): Record<string, number | boolean | string> | undefined {
  if (s === undefined) return undefined;
  const x: unknown = JSON.parse(s);
  if (typeof x !== "object" || x === null || Array.isArray(x))
    throw new Error(`${what} must be a JSON object`);
  const out: Record<string, number | boolean | string> = {};
  for (const [k, v] of Object.entries(x)) {
    if (typeof v !== "number" && typeof v !== "boolean" && typeof v !== "string")
      throw new Error(`${what}.${k} must be a number, boolean or string`);
    out[k] = v;
  }
  return out;
}

function parseTune(s: string | undefined): Pick<PageConfig, "hls" | "p2pml"> | null {
  if (s === undefined) return null;
  const x: unknown = JSON.parse(s);
  const flat = (o: unknown, what: string): Record<string, number | boolean> => {
    const out: Record<string, number | boolean> = {};
    if (o === undefined) return out;
    if (!isRecord(o)) throw new Error(`--tune: ${what} must be an object`);
    for (const [k, v] of Object.entries(o)) {
      if (typeof v !== "number" && typeof v !== "boolean")
        throw new Error(`--tune: ${what}.${k} must be a number or boolean`);
      out[k] = v;
    }
    return out;
  };
  if (!isRecord(x)) throw new Error("--tune must be a JSON object");
  return { hls: flat(x.hls, "hls"), p2pml: flat(x.p2pml, "p2pml") };
}

// ---------------------------------------------------------------------------------------------
// Arms: what each one configures

/**
 * p2p-media-loader "tuned for live". Its FAQ says the defaults suit live playlists of 15-20
 * segments; for a short window the advice is to sit further back from the edge (more segments
 * between the edge and the playhead for peers to share) and to shrink `highDemandTimeWindow`
 * (segments that must come over HTTP at once). A quick sweep on this stream (3 viewers, 25 s):
 * highDemandTimeWindow 2 s → offload 0.41, 4 s → 0.49, 4 s with http/p2p windows 6/10 s → 0.27,
 * defaults → 0.00 (all at liveSyncDurationCount = window − 1). The best is used here.
 * Note: with its defaults p2p-media-loader-hlsjs 2.x itself raises hls.js's
 * liveSyncDurationCount to (live window − 1) unless the page sets one.
 */
function armConfig(
  arm: ArmName,
  liveWindow: number,
  tune: Options["tune"] = null,
): Pick<PageConfig, "hls" | "p2pml"> {
  if (arm === "p2pml-live" && tune) return tune;
  switch (arm) {
    case "plain":
      return { hls: {}, p2pml: {} };
    case "p2pml-default":
      return { hls: {}, p2pml: {} };
    case "p2pml-live":
      return {
        // enableWorker: false works around a p2p-media-loader 2.3 + hls.js 1.7 problem seen
        // here: with hls.js's transmuxer worker, segments peers serve fail to parse ("Found no
        // media", stalls) — p2pml hands hls.js the ArrayBuffer it also keeps for peers, and
        // hls.js transfers (detaches) it to the worker. Off, the tuned arm plays cleanly.
        hls: { liveSyncDurationCount: Math.max(3, liveWindow - 1), enableWorker: false },
        p2pml: { highDemandTimeWindow: 4 },
      };
    case "hivecast":
    case "hivecast-b":
      return { hls: {}, p2pml: {} };
  }
}

// ---------------------------------------------------------------------------------------------
// Servers under test (loaded from the workspace sources, so no build is needed)

interface OriginCluster {
  urls: string[];
  close(): Promise<void>;
}
interface Tracker {
  url: string;
  kind: string;
  close(): Promise<void>;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null;
}
function isFn(x: unknown): x is (...args: unknown[]) => unknown {
  return typeof x === "function";
}

async function importIfExists(relOrAbs: string): Promise<Record<string, unknown> | undefined> {
  const url = relOrAbs.startsWith("/")
    ? pathToFileURL(relOrAbs)
    : new URL(relOrAbs, `file://${root}`);
  if (!existsSync(fileURLToPath(url))) return undefined;
  const mod: unknown = await import(url.href);
  return isRecord(mod) ? mod : undefined;
}

async function startOriginCluster(opts: Options): Promise<OriginCluster> {
  const mod = await importIfExists(
    process.env.SWARM_ORIGIN_MODULE ?? "packages/origin/src/index.ts",
  );
  const start = mod?.startOrigins;
  if (!isFn(start)) throw new Error("@hivecast/origin startOrigins is not available yet");
  const dir = process.env.SWARM_MEDIA_DIR ?? `${root}fixtures/media`;
  const cluster: unknown = await start({
    dir,
    origins: opts.origins,
    port: 0,
    host: "127.0.0.1",
    liveWindow: opts.liveWindow,
  });
  if (!isRecord(cluster) || !Array.isArray(cluster.urls) || !isFn(cluster.close)) {
    throw new Error("startOrigins returned an unexpected shape");
  }
  const urls = cluster.urls.filter((u): u is string => typeof u === "string");
  const close = cluster.close;
  return { urls, close: async () => void (await close.call(cluster)) };
}

async function startTracker(): Promise<Tracker> {
  const mod = await importIfExists("signaling-server/src/index.ts").catch(() => undefined);
  const start = mod?.startSignalingServer;
  if (isFn(start) && process.env.SWARM_TRACKER !== "bittorrent-tracker") {
    const s: unknown = await start({ port: 0, host: "127.0.0.1", logLevel: "warn" });
    if (isRecord(s) && typeof s.url === "string" && isFn(s.close)) {
      const close = s.close;
      return {
        url: s.url,
        kind: "@hivecast/signaling-server",
        close: async () => void (await close.call(s)),
      };
    }
  }
  // Fallback: bittorrent-tracker's server, WebSocket only (it makes its own loopback HTTP server).
  const { Server } = await import("bittorrent-tracker");
  const server = new Server({ udp: false, http: false, ws: true, stats: false });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.http?.address();
  const port = isRecord(addr) && typeof addr.port === "number" ? addr.port : 0;
  return {
    url: `ws://127.0.0.1:${port}`,
    kind: "bittorrent-tracker",
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

// ---------------------------------------------------------------------------------------------
// One arm, one repetition

interface ViewerResult {
  viewer: number;
  /** One of the last `--late-joiners` to join (by default the second half): into a busy swarm. */
  late: boolean;
  browser: number;
  metrics: PageMetrics | null;
  error: string | null;
  origin: ViewerOriginBytes;
  /** The page's main-thread time over the run (DevTools Performance metrics), seconds. */
  cpu: ViewerCpu | null;
}

/** A page's main-thread time: all tasks, and script execution within them. */
interface ViewerCpu {
  taskS: number;
  scriptS: number;
}

interface ArmRun {
  arm: ArmName;
  rep: number;
  tracker: string;
  viewers: ViewerResult[];
  /** Sum of segment bytes the players received (hls.js FRAG_LOADED payloads). */
  bytesPlayed: number;
  /** Segment bytes the origins sent (proxy count, all viewers). */
  cdnBytes: number;
  /** Playlist bytes the origins sent. */
  playlistBytes: number;
  /** 1 − cdnBytes ÷ bytesPlayed. */
  offload: number;
  /** P2P bytes as the library reports them ÷ bytesPlayed (null for plain). */
  libP2pShare: number | null;
  libP2pBytes: number | null;
  libHttpBytes: number | null;
  /** Mean over media segments of how many times each left the origins (all viewers, whole run). */
  cdnCopiesPerSegment: number;
  /** Share of loaded fragments at the top rendition (ABR outcome; arms may differ). */
  topLevelShare: number;
  /** origin segment bytes ÷ (N × one plain viewer's origin bytes in the same rep); set later. */
  originRatio: number | null;
  startupMs: number;
  startupMaxMs: number;
  /** Median navigation → first video frame presented (requestVideoFrameCallback). */
  firstFrameMs: number;
  viewersStarted: number;
  stalls: number;
  stallMs: number;
  failedSegments: number;
  fatalErrors: number;
  libSegmentErrors: number;
  originErrors: number;
  latencyS: number;
  /** Start-up and latency of each viewer, in join order. */
  perViewer: ViewerTiming[];
  /** 95th percentile of start-up over all viewers. */
  startupP95Ms: number;
  /** Median and 95th percentile of start-up over the late joiners only. */
  lateStartupMs: number;
  lateStartupP95Ms: number;
  /** Median over late joiners of their median latency. */
  lateLatencyS: number;
  /** The largest per-viewer median latency. */
  latencyMaxS: number;
  pageErrors: string[];
  /** Median main-thread task time per viewer, seconds (DevTools TaskDuration). */
  cpuTaskS: number;
  /** Median script time per viewer, seconds. */
  cpuScriptS: number;
  /** WebRTC peer connections per viewer: median created, and median that reached "connected". */
  rtcCreated: number;
  rtcConnected: number;
  /** The whole machine's CPU over the run (its first `seconds` − 1 s), Linux only. */
  machineCpu?: MachineCpu;
  /** The same over the late joiners' start-up (first late join → last join + 2 s). */
  machineCpuLateJoin?: MachineCpu;
  /** Top functions by self time of the profiled viewer (`--profile-viewer`). */
  profile?: ProfileRow[];
  /** The profiled viewer's busy time and its self time per script (`--profile-viewer`). */
  profileByScript?: ScriptTimes;
  /** Main-thread self time by trace event of the traced viewer (`--trace-viewer`). */
  trace?: TraceSummary;
}

interface ViewerTiming {
  viewer: number;
  late: boolean;
  startupMs: number | null;
  firstFrameMs: number | null;
  /**
   * When the page's scripts had run and its player was built (the start-up trace's "boot"), ms
   * since navigation: start-up − boot is the player's own part, boot the page's loading.
   */
  bootMs: number | null;
  /**
   * Start-up phases, ms since navigation (null when not reached): the multivariant playlist,
   * the first media playlist, and the first fragment's request, arrival and append.
   */
  phases: StartupPhases;
  latencyS: number | null;
  stalls: number | null;
  /** When each stall began, ms since navigation. */
  stallAtMs: number[];
  /** Hivecast: when each peer link came up, ms since navigation. */
  peerAtMs: number[];
  /** Main-thread lag after start-up (a 250 ms timer's lateness while visible). */
  lag: PageLag | null;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function runArm(
  arm: ArmName,
  rep: number,
  opts: Options,
  browsers: readonly Browser[],
  pageBase: string,
): Promise<ArmRun> {
  const origins = await startOriginCluster(opts);
  const tracker = await startTracker();
  const proxy = await startCountingProxy(origins.urls);
  const contexts: BrowserContext[] = [];
  const results: ViewerResult[] = [];
  const swarmId = `bench-swarm-${arm}-${rep}`;
  let copies: number[] = [];
  let profile: ProfileRow[] | undefined;
  let profileByScript: ScriptTimes | undefined;
  let trace: TraceSummary | null = null;
  let machine: MachineCpu | undefined;
  let machineLate: MachineCpu | undefined;
  try {
    // Let the live window exist before the first viewer asks for it.
    await sleep(500);
    const t0 = Date.now();
    const markAll = cpuMark();
    // The late joiners' start-up window: from the first late join to 2 s after the last join.
    const firstLate = opts.viewers - opts.lateJoiners;
    const lateFrom = t0 + firstLate * opts.staggerMs;
    const lateTo = t0 + (opts.viewers - 1) * opts.staggerMs + 2000;
    const lateWindow = (async () => {
      await sleep(Math.max(0, lateFrom - Date.now()));
      const a = cpuMark();
      await sleep(Math.max(0, lateTo - Date.now()));
      const b = cpuMark();
      if (a && b) machineLate = cpuBetween(a, b);
    })();
    const viewerTasks: Promise<void>[] = [];
    for (let i = 0; i < opts.viewers; i++) {
      const late = i >= firstLate;
      // With --late-own-core the late joiners use the pinned third browser.
      const b = opts.lateOwnCore ? (late ? 2 : i % 2) : i % browsers.length;
      const joinAt = t0 + i * opts.staggerMs;
      viewerTasks.push(
        (async () => {
          await sleep(Math.max(0, joinAt - Date.now()));
          const ctx = await browsers[b]!.newContext();
          contexts.push(ctx);
          const page: Page = await ctx.newPage();
          // Renderer CPU: DevTools performance counters of this page (main thread).
          const cdp = await ctx.newCDPSession(page);
          await cdp.send("Performance.enable");
          if (opts.cpuThrottle > 1)
            await cdp.send("Emulation.setCPUThrottlingRate", { rate: opts.cpuThrottle });
          const profiled = opts.profileViewer === i;
          if (profiled) {
            await cdp.send("Profiler.enable");
            await cdp.send("Profiler.setSamplingInterval", { interval: 500 });
            await cdp.send("Profiler.start");
          }
          const traced = opts.traceViewer === i;
          let frameId = "";
          if (traced) {
            frameId = (await cdp.send("Page.getFrameTree")).frameTree.frame.id;
            await browsers[b]!.startTracing(page, { categories: TRACE_CATEGORIES });
          }
          const cfg: PageConfig = {
            arm,
            src: `${proxy.baseFor(i, 0)}live/master.m3u8`,
            origins: origins.urls.map((_, o) => proxy.baseFor(i, o)),
            tracker: tracker.url,
            swarmId,
            ...armConfig(arm, opts.liveWindow, opts.tune),
            ...(opts.hivecastP2p ? { hivecastP2p: opts.hivecastP2p } : {}),
          };
          if (arm.startsWith("hivecast") && opts.hivecastHls)
            cfg.hls = { ...cfg.hls, ...opts.hivecastHls };
          let error: string | null = null;
          await page
            .goto(`${pageBase}${PAGE_PATH[arm]}?cfg=${encodeURIComponent(JSON.stringify(cfg))}`, {
              waitUntil: "commit",
            })
            .catch((e: unknown) => {
              error = `goto: ${String(e)}`;
            });
          await sleep(Math.max(0, joinAt + opts.seconds * 1000 - Date.now()));
          let cpu: ViewerCpu | null = null;
          try {
            const pm = await cdp.send("Performance.getMetrics");
            const of = (name: string): number =>
              pm.metrics.find((m) => m.name === name)?.value ?? Number.NaN;
            cpu = { taskS: of("TaskDuration"), scriptS: of("ScriptDuration") };
            if (profiled) {
              const raw = (await cdp.send("Profiler.stop")).profile;
              profile = topFunctions(raw, 30);
              profileByScript = selfByScript(raw);
              if (opts.profileOut)
                writeFileSync(`${opts.profileOut}-${arm}-${rep}.cpuprofile`, JSON.stringify(raw));
            }
            if (traced) {
              const raw = JSON.parse((await browsers[b]!.stopTracing()).toString()) as
                { traceEvents?: TraceEvent[] } | TraceEvent[];
              const events = Array.isArray(raw) ? raw : (raw.traceEvents ?? []);
              trace = summarizePageTrace(events, frameId, 40) ?? null;
            }
          } catch {
            cpu = null;
          }
          let metrics: PageMetrics | null = null;
          try {
            metrics = await readPageMetrics(page);
            if (metrics === null) error ??= "page did not initialise";
          } catch (e) {
            error ??= `snapshot: ${String(e)}`;
          }
          results.push({
            viewer: i,
            late,
            browser: b,
            metrics,
            error,
            origin: proxy.viewer(i),
            cpu,
          });
        })(),
      );
    }
    const markEnd = (async () => {
      await sleep(Math.max(0, t0 + (opts.seconds - 1) * 1000 - Date.now()));
      const b = cpuMark();
      if (markAll && b) machine = cpuBetween(markAll, b);
    })();
    await Promise.all([...viewerTasks, lateWindow, markEnd]);
    copies = [...proxy.segmentCopies().values()];
  } finally {
    await Promise.all(contexts.map((c) => c.close().catch(() => undefined)));
    await proxy.close();
    await tracker.close().catch(() => undefined);
    await origins.close().catch(() => undefined);
  }
  results.sort((a, b) => a.viewer - b.viewer);
  const run = summarizeRun(arm, rep, tracker.kind, results);
  run.cdnCopiesPerSegment = copies.length
    ? copies.reduce((a, b) => a + b, 0) / copies.length
    : Number.NaN;
  run.topLevelShare = topLevelShare(results);
  if (profile) run.profile = profile;
  if (profileByScript) run.profileByScript = profileByScript;
  if (trace) run.trace = trace;
  if (machine) run.machineCpu = machine;
  if (machineLate) run.machineCpuLateJoin = machineLate;
  return run;
}

function topLevelShare(viewers: readonly ViewerResult[]): number {
  let top = 0;
  let all = 0;
  for (const v of viewers) {
    for (const [level, n] of Object.entries(v.metrics?.levels ?? {})) {
      all += n;
      if (level === "0") top += n;
    }
  }
  return all > 0 ? top / all : Number.NaN;
}

function summarizeRun(
  arm: ArmName,
  rep: number,
  trackerKind: string,
  viewers: ViewerResult[],
): ArmRun {
  let bytesPlayed = 0;
  let cdnBytes = 0;
  let playlistBytes = 0;
  let libP2p = 0;
  let libHttp = 0;
  let libSeen = false;
  let stalls = 0;
  let stallMs = 0;
  let failed = 0;
  let fatal = 0;
  let libSegErr = 0;
  let originErrors = 0;
  const startups: number[] = [];
  const firstFrames: number[] = [];
  const latencies: number[] = [];
  const perViewer: ViewerTiming[] = [];
  const pageErrors: string[] = [];
  for (const v of viewers) {
    cdnBytes += v.origin.segments;
    playlistBytes += v.origin.playlists;
    originErrors += v.origin.errors;
    if (v.error) pageErrors.push(`viewer ${v.viewer}: ${v.error}`);
    const m = v.metrics;
    perViewer.push({
      viewer: v.viewer,
      late: v.late,
      startupMs: m?.startupMs ?? null,
      firstFrameMs: m?.firstFrameMs ?? null,
      bootMs: m?.trace.find(([what]) => what === "boot")?.[1] ?? null,
      phases: startupPhases(m?.trace ?? []),
      latencyS: m && m.latency.length > 0 ? median(m.latency) : null,
      stalls: m?.stalls ?? null,
      stallAtMs: m?.stallAtMs ?? [],
      peerAtMs: m?.peerAtMs ?? [],
      lag: m?.lag ?? null,
    });
    if (!m) continue;
    bytesPlayed += m.bytesPlayed;
    stalls += m.stalls;
    stallMs += m.stallMs;
    failed += m.fragErrors;
    fatal += m.fatalErrors;
    libSegErr += m.lib.segErrors;
    if (m.startupMs !== null) startups.push(m.startupMs);
    if (m.firstFrameMs !== null) firstFrames.push(m.firstFrameMs);
    if (m.latency.length > 0) latencies.push(median(m.latency));
    for (const e of m.pageErrors) pageErrors.push(`viewer ${v.viewer}: ${e}`);
    if (arm.startsWith("p2pml")) {
      libSeen = true;
      libP2p += m.lib.p2p;
      libHttp += m.lib.http;
    } else if (arm.startsWith("hivecast") && m.libBytes.p2p !== null) {
      libSeen = true;
      libP2p += m.libBytes.p2p;
      libHttp += m.libBytes.http ?? 0;
    }
  }
  return {
    arm,
    rep,
    tracker: trackerKind,
    viewers,
    bytesPlayed,
    cdnBytes,
    playlistBytes,
    offload: bytesPlayed > 0 ? 1 - cdnBytes / bytesPlayed : Number.NaN,
    libP2pShare: libSeen && bytesPlayed > 0 ? libP2p / bytesPlayed : arm === "plain" ? 0 : null,
    libP2pBytes: libSeen ? libP2p : null,
    libHttpBytes: libSeen ? libHttp : null,
    originRatio: null,
    cdnCopiesPerSegment: Number.NaN,
    topLevelShare: Number.NaN,
    startupMs: median(startups),
    startupMaxMs: startups.length ? Math.max(...startups) : Number.NaN,
    firstFrameMs: median(firstFrames),
    viewersStarted: startups.length,
    stalls,
    stallMs,
    failedSegments: failed,
    fatalErrors: fatal,
    libSegmentErrors: libSegErr,
    originErrors,
    latencyS: median(latencies),
    perViewer,
    startupP95Ms: percentile(startups, 95),
    lateStartupMs: median(lateOf(perViewer, (t) => t.startupMs)),
    lateStartupP95Ms: percentile(
      lateOf(perViewer, (t) => t.startupMs),
      95,
    ),
    lateLatencyS: median(lateOf(perViewer, (t) => t.latencyS)),
    latencyMaxS: latencies.length ? Math.max(...latencies) : Number.NaN,
    pageErrors: pageErrors.slice(0, 20),
    cpuTaskS: median(
      viewers.flatMap((v) => (v.cpu && Number.isFinite(v.cpu.taskS) ? [v.cpu.taskS] : [])),
    ),
    cpuScriptS: median(
      viewers.flatMap((v) => (v.cpu && Number.isFinite(v.cpu.scriptS) ? [v.cpu.scriptS] : [])),
    ),
    rtcCreated: median(viewers.flatMap((v) => (v.metrics ? [v.metrics.rtc.created] : []))),
    rtcConnected: median(viewers.flatMap((v) => (v.metrics ? [v.metrics.rtc.connected] : []))),
  };
}

/** A per-viewer figure of the late joiners, where known. */
function lateOf(ts: readonly ViewerTiming[], f: (t: ViewerTiming) => number | null): number[] {
  return ts
    .filter((t) => t.late)
    .map(f)
    .filter((v): v is number => v !== null);
}

// ---------------------------------------------------------------------------------------------
// Main

interface ArmSummary {
  runs: number;
  offload: Spread;
  libP2pShare: Spread;
  originRatio: Spread;
  cdnCopiesPerSegment: Spread;
  topLevelShare: Spread;
  startupMs: Spread;
  firstFrameMs: Spread;
  startupVsPlain: Spread;
  stalls: Spread;
  stallMs: Spread;
  failedSegments: Spread;
  latencyS: Spread;
  latencyVsPlainS: Spread;
  bytesPlayedPerViewer: Spread;
  startupP95Ms: Spread;
  lateStartupMs: Spread;
  lateStartupP95Ms: Spread;
  /** Late joiners' start-up p95 ÷ plain hls.js's start-up p95 (all its viewers), per repetition. */
  lateStartupP95VsPlainP95: Spread;
  /**
   * Start-up p95 over every viewer of every repetition pooled (all viewers, and late joiners
   * only), and the late joiners' pooled p95 ÷ plain hls.js's pooled p95. With 4 late joiners a
   * repetition's p95 is nearly its slowest page; pooling the repetitions gives a p95 of a real
   * sample.
   */
  pooled: {
    viewers: number;
    startupP95Ms: number;
    lateViewers: number;
    lateStartupP95Ms: number;
    lateStartupP95VsPlainP95: number | null;
    /**
     * The same over repetitions 2… only (the first is each arm's warm-up on a fresh browser),
     * late joiners against plain hls.js's late joiners: like for like, as proposed for the
     * goal. Null with one repetition or without plain hls.js.
     */
    warm: WarmLateComparison | null;
  };
  lateLatencyS: Spread;
  /** Late joiners' median latency − plain hls.js's median latency, per repetition. */
  lateLatencyVsPlainS: Spread;
  latencyMaxS: Spread;
  /** Median main-thread task time per viewer, seconds (renderer CPU). */
  cpuTaskS: Spread;
  /** The same ÷ plain hls.js's, per repetition. */
  cpuTaskVsPlain: Spread;
  /** Peer connections per viewer: created, and reached "connected" (runs' medians). */
  rtcCreated: Spread;
  rtcConnected: Spread;
}

/**
 * `--late-own-core`: pins this process (and so the browsers it launches next) to every CPU but
 * the last, and gives back a Chromium launcher pinned to the last one, for the late joiners.
 */
function pinLateJoinersCore(): { lateChromium: string; describe: string; cleanup(): void } {
  const n = cpus().length;
  if (process.platform !== "linux" || n < 2)
    throw new Error("--late-own-core needs Linux and at least 2 CPUs");
  const last = n - 1;
  const rest = last === 1 ? "0" : `0-${last - 1}`;
  // -a: every thread of this process; the browsers launched afterwards inherit the mask.
  execFileSync("taskset", ["-a", "-p", "-c", rest, String(process.pid)], { stdio: "ignore" });
  const dir = mkdtempSync(`${tmpdir()}/swarm-late-core-`);
  const lateChromium = `${dir}/chromium`;
  writeFileSync(lateChromium, `#!/bin/sh\nexec taskset -c ${last} ${chromiumPath()} "$@"\n`, {
    mode: 0o755,
  });
  return {
    lateChromium,
    describe: `late joiners' Chromium on CPU ${last}; this process and the first viewers' browsers on CPU ${rest}`,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const skipped: Partial<Record<ArmName, string>> = {};
  if (
    opts.arms.includes("hivecast") &&
    !existsSync(`${root}packages/hlsjs/dist/hivecast.iife.js`)
  ) {
    skipped.hivecast = "packages/hlsjs/dist/hivecast.iife.js not built (or not written yet)";
  }
  if (opts.arms.includes("hivecast-b") && (!opts.hivecastB || !existsSync(opts.hivecastB))) {
    skipped["hivecast-b"] = "--hivecast-b names no file";
  }
  const arms = opts.arms.filter((a) => skipped[a] === undefined);
  const pageServer = await startBenchPageServer(
    opts.hivecastB === undefined ? {} : { hivecastB: opts.hivecastB },
  );
  const launchArgs = [
    ...chromiumArgs,
    // Host candidates as plain IPs: mDNS names do not resolve between browser processes here.
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
  ];
  const pinning = opts.lateOwnCore ? pinLateJoinersCore() : undefined;
  const browsers: Browser[] = [];
  for (let i = 0; i < 2; i++) {
    browsers.push(
      await chromium.launch({ executablePath: chromiumPath(), args: launchArgs, headless: true }),
    );
  }
  if (pinning) {
    // The launcher script is only read at launch: removed right after, also on failure.
    try {
      browsers.push(
        await chromium.launch({
          executablePath: pinning.lateChromium,
          args: launchArgs,
          headless: true,
        }),
      );
    } finally {
      pinning.cleanup();
    }
  }
  const runs: ArmRun[] = [];
  const started = new Date().toISOString();
  try {
    for (let rep = 0; rep < opts.reps; rep++) {
      // Rotate the order each repetition so no arm always runs first (or last) on a warm machine.
      const order = arms.map((_, i) => arms[(i + rep) % arms.length]!);
      for (const arm of order) {
        process.stderr.write(`rep ${rep + 1}/${opts.reps} ${arm} ...`);
        try {
          const r = await runArm(arm, rep, opts, browsers, pageServer.url);
          runs.push(r);
          process.stderr.write(
            ` offload ${round(r.offload)} startup ${Math.round(r.startupMs)} ms latency ${round(r.latencyS, 1)} s stalls ${r.stalls}\n`,
          );
        } catch (e) {
          process.stderr.write(` failed: ${String(e)}\n`);
          skipped[arm] = String(e);
        }
      }
    }
  } finally {
    await Promise.all(browsers.map((b) => b.close().catch(() => undefined)));
    await pageServer.close();
  }

  // Side-by-side ratios within each repetition, against plain hls.js.
  for (let rep = 0; rep < opts.reps; rep++) {
    const plain = runs.find((r) => r.arm === "plain" && r.rep === rep);
    const oneViewer = plain ? median(plain.viewers.map((v) => v.origin.segments)) : Number.NaN;
    for (const r of runs.filter((x) => x.rep === rep)) {
      r.originRatio =
        Number.isFinite(oneViewer) && oneViewer > 0
          ? r.cdnBytes / (opts.viewers * oneViewer)
          : null;
    }
  }
  const summary: Partial<Record<ArmName, ArmSummary>> = {};
  for (const arm of arms) {
    const rs = runs.filter((r) => r.arm === arm);
    if (rs.length === 0) continue;
    const vsPlain = (f: (r: ArmRun) => number, op: "ratio" | "delta"): number[] =>
      rs.map((r) => {
        const p = runs.find((x) => x.arm === "plain" && x.rep === r.rep);
        if (!p) return Number.NaN;
        return op === "ratio" ? f(r) / f(p) : f(r) - f(p);
      });
    const startupsOf = (xs: readonly ArmRun[], lateOnly: boolean): number[] =>
      xs.flatMap((r) =>
        r.perViewer.flatMap((t) =>
          t.startupMs !== null && (!lateOnly || t.late) ? [t.startupMs] : [],
        ),
      );
    const plainRuns = runs.filter((r) => r.arm === "plain");
    const pooledLate = percentile(startupsOf(rs, true), 95);
    const pooledPlain = percentile(startupsOf(plainRuns, false), 95);
    const warm = warmLateComparison(rs, plainRuns);
    summary[arm] = {
      runs: rs.length,
      offload: spread(rs.map((r) => r.offload)),
      libP2pShare: spread(rs.map((r) => r.libP2pShare ?? Number.NaN)),
      originRatio: spread(rs.map((r) => r.originRatio ?? Number.NaN)),
      cdnCopiesPerSegment: spread(rs.map((r) => r.cdnCopiesPerSegment)),
      topLevelShare: spread(rs.map((r) => r.topLevelShare)),
      startupMs: spread(rs.map((r) => r.startupMs)),
      firstFrameMs: spread(rs.map((r) => r.firstFrameMs)),
      startupVsPlain: spread(vsPlain((r) => r.startupMs, "ratio")),
      stalls: spread(rs.map((r) => r.stalls)),
      stallMs: spread(rs.map((r) => r.stallMs)),
      failedSegments: spread(rs.map((r) => r.failedSegments)),
      latencyS: spread(rs.map((r) => r.latencyS)),
      latencyVsPlainS: spread(vsPlain((r) => r.latencyS, "delta")),
      bytesPlayedPerViewer: spread(rs.map((r) => r.bytesPlayed / opts.viewers)),
      startupP95Ms: spread(rs.map((r) => r.startupP95Ms)),
      lateStartupMs: spread(rs.map((r) => r.lateStartupMs)),
      lateStartupP95Ms: spread(rs.map((r) => r.lateStartupP95Ms)),
      lateStartupP95VsPlainP95: spread(
        rs.map((r) => {
          const p = runs.find((x) => x.arm === "plain" && x.rep === r.rep);
          return p ? r.lateStartupP95Ms / p.startupP95Ms : Number.NaN;
        }),
      ),
      pooled: {
        viewers: startupsOf(rs, false).length,
        startupP95Ms: percentile(startupsOf(rs, false), 95),
        lateViewers: startupsOf(rs, true).length,
        lateStartupP95Ms: pooledLate,
        lateStartupP95VsPlainP95: plainRuns.length > 0 ? pooledLate / pooledPlain : null,
        warm,
      },
      lateLatencyS: spread(rs.map((r) => r.lateLatencyS)),
      lateLatencyVsPlainS: spread(
        rs.map((r) => {
          const p = runs.find((x) => x.arm === "plain" && x.rep === r.rep);
          return p ? r.lateLatencyS - p.latencyS : Number.NaN;
        }),
      ),
      latencyMaxS: spread(rs.map((r) => r.latencyMaxS)),
      cpuTaskS: spread(rs.map((r) => r.cpuTaskS)),
      cpuTaskVsPlain: spread(vsPlain((r) => r.cpuTaskS, "ratio")),
      rtcCreated: spread(rs.map((r) => r.rtcCreated)),
      rtcConnected: spread(rs.map((r) => r.rtcConnected)),
    };
  }
  const h = summary.hivecast;
  const p = summary.plain;
  const goals = h
    ? {
        offloadAtLeast080: h.offload.median >= 0.8,
        offloadAboveBothP2pml:
          h.offload.median > (summary["p2pml-default"]?.offload.median ?? -1) &&
          h.offload.median > (summary["p2pml-live"]?.offload.median ?? -1),
        latencyNotAbovePlain: p ? h.latencyVsPlainS.median <= 0.5 : null,
        stallsNotAbovePlain: p ? h.stalls.median <= p.stalls.median : null,
        startupAtMost1_1xPlain: p ? h.startupVsPlain.median <= 1.1 : null,
        lateJoinersStartupP95AtMost1_2xPlainP95: p
          ? (h.pooled.lateStartupP95VsPlainP95 ?? Number.POSITIVE_INFINITY) <= 1.2
          : null,
        lateJoinersWarmStartupP95AtMost1_2xPlainLateP95:
          p && h.pooled.warm ? h.pooled.warm.lateVsPlainLate <= 1.2 : null,
        lateJoinersLatencyNotAbovePlain: p ? h.lateLatencyVsPlainS.median <= 0.5 : null,
      }
    : null;

  const result = {
    bench: "swarm",
    started,
    finished: new Date().toISOString(),
    mode: opts.quick ? "quick" : "full",
    viewers: opts.viewers,
    seconds: opts.seconds,
    reps: opts.reps,
    browsers: browsers.length,
    staggerMs: opts.staggerMs,
    cpuThrottle: opts.cpuThrottle,
    ...(pinning ? { lateOwnCore: pinning.describe } : {}),
    ...(opts.hivecastP2p ? { hivecastP2p: opts.hivecastP2p } : {}),
    ...(opts.hivecastHls ? { hivecastHls: opts.hivecastHls } : {}),
    lateJoiners: `viewers ${opts.viewers - opts.lateJoiners}–${opts.viewers - 1} (the last ${opts.lateJoiners} to join)`,
    liveWindowSegments: opts.liveWindow,
    origins: opts.origins,
    liveLimit: 1 - 1 / opts.viewers,
    machine: { cpus: cpus().length, node: process.version },
    tracker: runs[0]?.tracker ?? null,
    definitions: {
      offload:
        "1 − origin segment bytes (proxy-counted) ÷ segment bytes delivered to hls.js (FRAG_LOADED)",
      originRatio:
        "origin segment bytes ÷ (N × median origin bytes of one plain hls.js viewer, same repetition)",
      libP2pShare: "P2P bytes as the library reports them ÷ bytes delivered to hls.js",
      startupMs:
        "median over viewers of navigation → first video frame (requestVideoFrameCallback) or first 'playing'",
      stalls: "'waiting' after first playback, summed over viewers (count and ms)",
      latencyS: "median over viewers of the median of hls.latency sampled each second",
      lateStartupP95Ms:
        "95th percentile of start-up over the late joiners (the last --late-joiners viewers to join; by default the second half)",
      lateStartupP95VsPlainP95:
        "late joiners' start-up p95 ÷ plain hls.js's start-up p95 over all its viewers, same repetition",
      pooled:
        "start-up p95 over the viewers of all repetitions together; lateStartupP95VsPlainP95 (the goal's figure) = late joiners' pooled p95 ÷ plain hls.js's pooled p95 over all its viewers; warm: the same over repetitions 2… (the first is a warm-up), late joiners ÷ plain hls.js's late joiners (lateVsPlainLate)",
      lateLatencyVsPlainS:
        "late joiners' median latency − plain hls.js's median latency, same repetition",
      perViewer:
        "runs[].perViewer: start-up, first frame, boot (scripts run, player built), median latency, stalls (and when each began, ms since navigation), when each peer link came up (Hivecast) and main-thread lag (a 250 ms timer's lateness after start-up while visible; worst lag in the 3 s before each stall) of each viewer",
      failedSegments:
        "hls.js fragLoadError/fragLoadTimeOut/fragParsingError events, summed over viewers",
    },
    armConfig: Object.fromEntries(arms.map((a) => [a, armConfig(a, opts.liveWindow, opts.tune)])),
    skipped,
    summary,
    goals,
    runs,
  };
  mkdirSync(dirname(opts.out), { recursive: true });
  writeFileSync(
    opts.out,
    `${JSON.stringify(result, (_k, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2)}\n`,
  );
  printTable(opts, summary, skipped);
  process.stdout.write(`wrote ${opts.out}\n`);
}

function printTable(
  opts: Options,
  summary: Partial<Record<ArmName, ArmSummary>>,
  skipped: Partial<Record<ArmName, string>>,
): void {
  const f = (s: Spread, d = 3): string =>
    s.n === 0
      ? "–"
      : s.n === 1
        ? `${round(s.median, d)}`
        : `${round(s.median, d)} [${round(s.min, d)}–${round(s.max, d)}]`;
  const rows: string[][] = [
    [
      "arm",
      "offload",
      "lib p2p",
      "origin/N×1",
      "copies/seg",
      "startup ms",
      "×plain",
      "stalls",
      "stall ms",
      "failed",
      "latency s",
      "late p95 ms (pooled)",
      "×plain p95",
      "warm late ×plain late",
      "cpu ×plain",
      "pc made/up",
    ],
  ];
  for (const arm of ARMS) {
    const s = summary[arm];
    if (!s) {
      if (skipped[arm]) rows.push([arm, `skipped: ${skipped[arm]}`]);
      continue;
    }
    rows.push([
      arm,
      f(s.offload),
      f(s.libP2pShare),
      f(s.originRatio),
      f(s.cdnCopiesPerSegment, 2),
      f(s.startupMs, 0),
      f(s.startupVsPlain, 2),
      f(s.stalls, 0),
      f(s.stallMs, 0),
      f(s.failedSegments, 0),
      f(s.latencyS, 1),
      `${Math.round(s.pooled.lateStartupP95Ms)}`,
      s.pooled.lateStartupP95VsPlainP95 === null
        ? "–"
        : `${round(s.pooled.lateStartupP95VsPlainP95, 2)}`,
      s.pooled.warm === null
        ? "–"
        : `${Math.round(s.pooled.warm.lateStartupP95Ms)} ÷ ${Math.round(s.pooled.warm.plainLateStartupP95Ms)} = ${round(s.pooled.warm.lateVsPlainLate, 2)}`,
      f(s.cpuTaskVsPlain, 2),
      `${round(s.rtcCreated.median, 1)}/${round(s.rtcConnected.median, 1)}`,
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  process.stdout.write(
    `swarm: ${opts.viewers} viewers × ${opts.seconds} s, ${opts.reps} rep(s), median [min–max]\n` +
      rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join("  ")).join("\n") +
      "\n",
  );
}

main().catch((e: unknown) => {
  process.stderr.write(
    `swarm bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
  );
  process.exitCode = 1;
});
