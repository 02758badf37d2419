/**
 * Origins benchmark (BENCHMARKS.md item 2).
 *
 *   npx tsx bench/origins/run.ts [--quick] [--reps 3] [--seconds 30] [--mode live|vod]
 *        [--scenarios healthy,slow,failing,down,capped] [--arms plain,hivecast]
 *        [--base-latency 40] [--base-bps 1250000] [--skip-playback] [--skip-split] [--out file]
 *
 * Part 1, playback: three origins serve the fixture; origin 0 gets the scenario's fault. In each
 * repetition every scenario runs once, and within a scenario both arms play at the same time in
 * separate browser contexts, each against its own fresh set of origins (the bandwidth cap is per
 * origin, so arms must not share one): plain hls.js pointed at the affected origin 0, and
 * Hivecast over all three origins (same master URL on origin 0). Every origin, healthy or not,
 * has a baseline latency and bandwidth cap so that "healthy" is CDN-like rather than loopback.
 *
 * Part 2, split ranges (Node): one large synthetic segment, origins each capped at the same
 * bytes/s; Engine with one origin vs Engine with three origins splitting byte ranges (plus a
 * control: three origins with splitting off). Fresh origins and a fresh Engine per measurement.
 *
 * Writes bench/results/origins.json and prints tables. Never fails on a number.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes, createHash } from "node:crypto";
import type { Browser } from "@playwright/test";
import { startOrigins, type FaultSettings } from "../../packages/origin/src/index.js";
import { Engine } from "../../packages/core/src/index.js";
import { startPageServer } from "../../e2e/page-server.js";
import { launchChromium } from "../lib/browser.js";
import { Args, defaultOut, machineInfo, printTable, repoRoot, writeResult } from "../lib/cli.js";
import {
  fmtSpread,
  percentile,
  ratio,
  round,
  roundSpread,
  spread,
  type Spread,
} from "../lib/stats.js";
import { ORIGINS_PAGES, parseOriginsPageMetrics, type OriginsPageMetrics } from "./pages.js";

const SCENARIOS = ["healthy", "slow", "failing", "down", "capped"] as const;
type Scenario = (typeof SCENARIOS)[number];
const ARMS = ["plain", "hivecast"] as const;
type Arm = (typeof ARMS)[number];
const SPLIT_ARMS = ["one-origin", "three-split", "three-nosplit"] as const;
type SplitArm = (typeof SPLIT_ARMS)[number];

/** Fault of origin 0 per scenario, on top of the baseline every origin has. */
const SCENARIO_FAULTS: Record<Scenario, Partial<FaultSettings>> = {
  healthy: {},
  // ~1 s to first byte and 0.8 Mbit/s: a top-rendition segment takes longer than its 2 s.
  slow: { latencyMs: 1000, bandwidthBps: 100_000 },
  failing: { statusRate: 0.5, status: 503 },
  down: { down: true },
  // 0.32 Mbit/s: below the top rendition's 0.51 Mbit/s.
  capped: { bandwidthBps: 40_000 },
};

interface Options {
  quick: boolean;
  reps: number;
  seconds: number;
  mode: "live" | "vod";
  scenarios: Scenario[];
  arms: Arm[];
  baseLatencyMs: number;
  baseBps: number;
  playback: boolean;
  split: boolean;
  splitBytes: number;
  splitCapBps: number;
  splitReps: number;
  out: string;
}

function parseOptions(): Options {
  const a = new Args();
  const quick = a.flag("--quick");
  const mode = a.value("--mode") ?? "live";
  if (mode !== "live" && mode !== "vod") throw new Error("--mode must be live or vod");
  return {
    quick,
    reps: a.int("--reps", quick ? 1 : 3, 1),
    seconds: a.number("--seconds", quick ? 8 : 30, 2),
    mode,
    scenarios: a.list("--scenarios", SCENARIOS, quick ? ["healthy", "slow"] : SCENARIOS),
    arms: a.list("--arms", ARMS, ARMS),
    baseLatencyMs: a.int("--base-latency", 40, 0),
    baseBps: a.int("--base-bps", 1_250_000, 0),
    playback: !a.flag("--skip-playback"),
    split: !a.flag("--skip-split"),
    splitBytes: a.int("--split-bytes", quick ? 1024 * 1024 : 4 * 1024 * 1024, 64 * 1024),
    splitCapBps: a.int("--split-cap", quick ? 1024 * 1024 : 1024 * 1024, 1024),
    splitReps: a.int("--split-reps", quick ? 1 : 5, 1),
    out: a.value("--out") ?? defaultOut("origins", quick),
  };
}

// ---------------------------------------------------------------------------------------------
// Part 1: playback

interface RunSummary {
  rep: number;
  scenario: Scenario;
  arm: Arm;
  error: string | null;
  started: boolean;
  startupMs: number | null;
  segments: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  statsP50Ms: number;
  statsP95Ms: number;
  stalls: number;
  stallMs: number;
  fragErrors: number;
  failedSegments: number;
  fatalErrors: number;
  playedSec: number;
  /** Hivecast only: share of its segment bytes that came from the affected origin 0. */
  affectedOriginShare: number | null;
  levels: Record<string, number>;
  errorDetails: Record<string, number>;
  pageErrors: string[];
  /** Per-segment wall times (ms), rounded, for pooled percentiles. */
  samplesMs: number[];
  /** Per segment in load order: [sn, level, wall ms, loader-reported ms or null, bytes]. */
  fragLog: [number, number, number | null, number | null, number][];
}

function summarize(
  rep: number,
  scenario: Scenario,
  arm: Arm,
  m: OriginsPageMetrics,
  affectedOrigin: string,
): RunSummary {
  const segs = m.frags.filter((f) => f.type === "main" && f.sn >= 0);
  const wall = segs.map((f) => f.wallMs).filter((v): v is number => v !== null);
  const stats = segs.map((f) => f.statsMs).filter((v): v is number => v !== null);
  const levels: Record<string, number> = {};
  for (const f of segs) levels[String(f.level)] = (levels[String(f.level)] ?? 0) + 1;
  const total = Object.values(m.bytesByOrigin).reduce((s, b) => s + b, 0);
  return {
    rep,
    scenario,
    arm,
    error: null,
    started: m.startupMs !== null,
    startupMs: m.startupMs === null ? null : round(m.startupMs, 0),
    segments: wall.length,
    p50Ms: round(percentile(wall, 50), 1),
    p95Ms: round(percentile(wall, 95), 1),
    maxMs: round(percentile(wall, 100), 1),
    statsP50Ms: round(percentile(stats, 50), 1),
    statsP95Ms: round(percentile(stats, 95), 1),
    stalls: m.stalls,
    stallMs: round(m.stallMs, 0),
    fragErrors: m.fragErrors,
    failedSegments: m.failedSegments,
    fatalErrors: m.fatalErrors,
    playedSec: round(m.playedSec, 2),
    affectedOriginShare:
      arm === "hivecast" && total > 0
        ? round((m.bytesByOrigin[affectedOrigin] ?? 0) / total, 3)
        : null,
    levels,
    errorDetails: m.errorDetails,
    pageErrors: m.pageErrors.slice(0, 5),
    samplesMs: wall.map((v) => round(v, 1)),
    fragLog: segs.map((f) => [
      f.sn,
      f.level,
      f.wallMs === null ? null : round(f.wallMs, 0),
      f.statsMs === null ? null : round(f.statsMs, 0),
      f.bytes,
    ]),
  };
}

function failedRun(rep: number, scenario: Scenario, arm: Arm, error: string): RunSummary {
  return {
    rep,
    scenario,
    arm,
    error,
    started: false,
    startupMs: null,
    segments: 0,
    p50Ms: Number.NaN,
    p95Ms: Number.NaN,
    maxMs: Number.NaN,
    statsP50Ms: Number.NaN,
    statsP95Ms: Number.NaN,
    stalls: 0,
    stallMs: 0,
    fragErrors: 0,
    failedSegments: 0,
    fatalErrors: 0,
    playedSec: 0,
    affectedOriginShare: null,
    levels: {},
    errorDetails: {},
    pageErrors: [],
    samplesMs: [],
    fragLog: [],
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function runPage(
  browser: Browser,
  pageBase: string,
  opts: Options,
  rep: number,
  scenario: Scenario,
  arm: Arm,
): Promise<RunSummary> {
  const base: Partial<FaultSettings> = {
    latencyMs: opts.baseLatencyMs,
    bandwidthBps: opts.baseBps,
  };
  const cluster = await startOrigins({
    dir: `${repoRoot}fixtures/media`,
    origins: 3,
    port: 0,
    host: "127.0.0.1",
    faults: [{ ...base, ...SCENARIO_FAULTS[scenario], seed: 1000 + rep }, base, base],
  });
  const ctx = await browser.newContext();
  try {
    const page = await ctx.newPage();
    const affected = cluster.urls[0] ?? "";
    const src = `${affected}${opts.mode === "live" ? "live/" : ""}master.m3u8`;
    const cfg = { arm, src, origins: cluster.urls };
    const path = arm === "plain" ? "/origins-plain.html" : "/origins-hivecast.html";
    await page.goto(`${pageBase}${path}?cfg=${encodeURIComponent(JSON.stringify(cfg))}`, {
      waitUntil: "domcontentloaded",
    });
    await sleep(opts.seconds * 1000);
    const snap: unknown = await page.evaluate(() => {
      const b: unknown = Reflect.get(window, "__bench");
      const f: unknown =
        typeof b === "object" && b !== null ? Reflect.get(b, "snapshot") : undefined;
      return typeof f === "function" ? (Reflect.apply(f, b, []) as unknown) : null;
    });
    if (snap === null)
      return failedRun(rep, scenario, arm, "page did not set up (player script missing?)");
    return summarize(rep, scenario, arm, parseOriginsPageMetrics(snap), affected);
  } catch (e) {
    return failedRun(rep, scenario, arm, String(e).slice(0, 300));
  } finally {
    await ctx.close().catch(() => undefined);
    await cluster.close();
  }
}

interface ArmAggregate {
  scenario: Scenario;
  arm: Arm;
  runs: number;
  errors: number;
  neverStarted: number;
  p50Ms: Spread;
  p95Ms: Spread;
  pooledP50Ms: number;
  pooledP95Ms: number;
  statsP95Ms: Spread;
  stalls: Spread;
  stallMs: Spread;
  startupMs: Spread;
  fragErrors: Spread;
  failedSegments: Spread;
  fatalErrors: Spread;
  segments: Spread;
  playedSec: Spread;
  affectedOriginShare: Spread;
  /** This scenario's p95 ÷ the healthy scenario's p95, same arm, per repetition. */
  p95VsHealthy: Spread;
  /** Hivecast p95 ÷ plain p95 in this scenario, per repetition (hivecast rows only). */
  p95VsPlain: Spread;
}

function aggregate(runs: readonly RunSummary[], scenario: Scenario, arm: Arm): ArmAggregate {
  const mine = runs.filter((r) => r.scenario === scenario && r.arm === arm);
  const ok = mine.filter((r) => r.error === null);
  const col = (f: (r: RunSummary) => number | null): Spread =>
    roundSpread(spread(ok.map(f).filter((v): v is number => v !== null)), 1);
  const perRep = (other: (r: RunSummary) => RunSummary | undefined): Spread =>
    roundSpread(
      spread(
        ok.map((r) => {
          const o = other(r);
          return o && o.error === null ? ratio(r.p95Ms, o.p95Ms) : Number.NaN;
        }),
      ),
      3,
    );
  const find = (rep: number, s: Scenario, a: Arm): RunSummary | undefined =>
    runs.find((r) => r.rep === rep && r.scenario === s && r.arm === a);
  const pooled = ok.flatMap((r) => r.samplesMs);
  return {
    scenario,
    arm,
    runs: mine.length,
    errors: mine.length - ok.length,
    neverStarted: ok.filter((r) => !r.started).length,
    p50Ms: col((r) => r.p50Ms),
    p95Ms: col((r) => r.p95Ms),
    pooledP50Ms: round(percentile(pooled, 50), 1),
    pooledP95Ms: round(percentile(pooled, 95), 1),
    statsP95Ms: col((r) => r.statsP95Ms),
    stalls: col((r) => r.stalls),
    stallMs: col((r) => r.stallMs),
    startupMs: col((r) => r.startupMs),
    fragErrors: col((r) => r.fragErrors),
    failedSegments: col((r) => r.failedSegments),
    fatalErrors: col((r) => r.fatalErrors),
    segments: col((r) => r.segments),
    playedSec: col((r) => r.playedSec),
    affectedOriginShare: col((r) => r.affectedOriginShare),
    p95VsHealthy: perRep((r) => find(r.rep, "healthy", arm)),
    p95VsPlain: arm === "hivecast" ? perRep((r) => find(r.rep, scenario, "plain")) : spread([]),
  };
}

async function runPlayback(
  opts: Options,
): Promise<{ runs: RunSummary[]; aggregates: ArmAggregate[]; hivecastBuilt: boolean }> {
  const iife = `${repoRoot}packages/hlsjs/dist/hivecast.iife.js`;
  const hivecastBuilt = existsSync(iife);
  if (!hivecastBuilt)
    console.warn(
      "origins: packages/hlsjs/dist/hivecast.iife.js is missing (build @hivecast/hlsjs); Hivecast runs will fail",
    );
  const pages = await startPageServer(ORIGINS_PAGES);
  const browser = await launchChromium();
  const runs: RunSummary[] = [];
  try {
    for (let rep = 0; rep < opts.reps; rep++) {
      for (const scenario of opts.scenarios) {
        const t0 = Date.now();
        const res = await Promise.all(
          opts.arms.map((arm) => runPage(browser, pages.url, opts, rep, scenario, arm)),
        );
        runs.push(...res);
        const line = res
          .map((r) =>
            r.error !== null
              ? `${r.arm}: ERROR ${r.error.slice(0, 80)}`
              : `${r.arm}: p50 ${r.p50Ms} p95 ${r.p95Ms} ms, ${r.segments} segs, stalls ${r.stalls} (${r.stallMs} ms)${r.started ? "" : ", never started"}`,
          )
          .join(" | ");
        console.log(
          `rep ${rep + 1}/${opts.reps} ${scenario.padEnd(8)} ${line} [${((Date.now() - t0) / 1000).toFixed(0)} s]`,
        );
      }
    }
  } finally {
    await browser.close().catch(() => undefined);
    await pages.close();
  }
  const aggregates: ArmAggregate[] = [];
  for (const s of opts.scenarios) for (const a of opts.arms) aggregates.push(aggregate(runs, s, a));
  return { runs, aggregates, hivecastBuilt };
}

// ---------------------------------------------------------------------------------------------
// Part 2: split ranges over capped origins

interface SplitRun {
  rep: number;
  arm: SplitArm;
  error: string | null;
  ms: number;
  bytesPerSec: number;
  bytesByOrigin: number[];
}

async function runSplit(opts: Options): Promise<{
  runs: SplitRun[];
  arms: Record<SplitArm, { ms: Spread; mbPerSec: Spread }>;
  ratio3v1: Spread;
  ratioSplitVsNoSplit: Spread;
}> {
  const dir = mkdtempSync(join(tmpdir(), "hivecast-split-"));
  const data = randomBytes(opts.splitBytes);
  writeFileSync(join(dir, "big.m4s"), data);
  const hash = createHash("sha256").update(data).digest("hex");
  const threshold = Math.min(1024 * 1024, Math.floor(opts.splitBytes / 2));
  const runs: SplitRun[] = [];
  try {
    for (let rep = 0; rep < opts.splitReps; rep++) {
      // Alternate the order so drift on a noisy machine hits every arm alike.
      const order = rep % 2 === 0 ? [...SPLIT_ARMS] : [...SPLIT_ARMS].reverse();
      for (const arm of order) {
        const cap: Partial<FaultSettings> = { bandwidthBps: opts.splitCapBps };
        const cluster = await startOrigins({
          dir,
          origins: 3,
          port: 0,
          host: "127.0.0.1",
          faults: [cap, cap, cap],
        });
        const u0 = cluster.urls[0] ?? "";
        const engine = new Engine({
          origins: arm === "one-origin" ? [u0] : cluster.urls,
          http: {
            splitThresholdBytes: arm === "three-split" ? threshold : 0,
            minRangeBytes: Math.min(256 * 1024, Math.floor(threshold / 4)),
            requestTimeoutMs: 120_000,
            stallTimeoutMs: 10_000,
          },
        });
        try {
          const t0 = performance.now();
          const r = await engine.loadSegment({
            url: `${u0}big.m4s`,
            kind: "segment",
            playlistUrl: `${u0}big.m3u8`,
            hash,
          });
          const ms = performance.now() - t0;
          if (r.data.byteLength !== opts.splitBytes || !r.verified)
            throw new Error("wrong or unverified bytes");
          const byOrigin = engine.stats.byOrigin;
          runs.push({
            rep,
            arm,
            error: null,
            ms: round(ms, 1),
            bytesPerSec: round((opts.splitBytes / ms) * 1000, 0),
            bytesByOrigin: cluster.urls.map((u) => byOrigin[u]?.bytes ?? 0),
          });
        } catch (e) {
          runs.push({
            rep,
            arm,
            error: String(e).slice(0, 300),
            ms: Number.NaN,
            bytesPerSec: Number.NaN,
            bytesByOrigin: [],
          });
        } finally {
          engine.destroy();
          await cluster.close();
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const armStats = (arm: SplitArm): { ms: Spread; mbPerSec: Spread } => {
    const ok = runs.filter((r) => r.arm === arm && r.error === null);
    return {
      ms: roundSpread(spread(ok.map((r) => r.ms)), 1),
      mbPerSec: roundSpread(spread(ok.map((r) => r.bytesPerSec / 1e6)), 3),
    };
  };
  const perRep = (a: SplitArm, b: SplitArm): Spread =>
    roundSpread(
      spread(
        Array.from({ length: opts.splitReps }, (_, rep) => {
          const x = runs.find((r) => r.rep === rep && r.arm === a);
          const y = runs.find((r) => r.rep === rep && r.arm === b);
          return x && y ? ratio(x.bytesPerSec, y.bytesPerSec) : Number.NaN;
        }),
      ),
      3,
    );
  return {
    runs,
    arms: {
      "one-origin": armStats("one-origin"),
      "three-split": armStats("three-split"),
      "three-nosplit": armStats("three-nosplit"),
    },
    ratio3v1: perRep("three-split", "one-origin"),
    ratioSplitVsNoSplit: perRep("three-split", "three-nosplit"),
  };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = parseOptions();
  const started = new Date().toISOString();
  const playback = opts.playback ? await runPlayback(opts) : null;
  const split = opts.split ? await runSplit(opts) : null;

  const hc = (s: Scenario): ArmAggregate | undefined =>
    playback?.aggregates.find((a) => a.scenario === s && a.arm === "hivecast");
  const faultScenarios = opts.scenarios.filter((s) => s !== "healthy");
  const hcRuns = playback?.runs.filter((r) => r.arm === "hivecast" && r.error === null) ?? [];
  const slowRatio = hc("slow")?.p95VsHealthy.median ?? Number.NaN;
  const goals = {
    hivecastZeroRebuffers: {
      goal: "Hivecast: zero rebuffers (and it starts) in every scenario, as ≥ 1 origin stays healthy",
      value:
        hcRuns.length > 0 ? hcRuns.reduce((s, r) => s + r.stalls + (r.started ? 0 : 1), 0) : null,
      met: hcRuns.length > 0 ? hcRuns.every((r) => r.stalls === 0 && r.started) : null,
    },
    hivecastSlowP95: {
      goal: "Hivecast p95 segment time with one slow origin ≤ 1.2 × all-healthy p95 (median of per-rep ratios)",
      value: Number.isFinite(slowRatio) ? slowRatio : null,
      met: Number.isFinite(slowRatio) ? slowRatio <= 1.2 : null,
    },
    splitThroughput: {
      goal: "split ranges over 3 capped origins ≥ 2.5 × one origin's throughput (median of per-rep ratios)",
      value: split && Number.isFinite(split.ratio3v1.median) ? split.ratio3v1.median : null,
      met: split && Number.isFinite(split.ratio3v1.median) ? split.ratio3v1.median >= 2.5 : null,
    },
  };
  writeResult(opts.out, {
    bench: "origins",
    startedAt: started,
    finishedAt: new Date().toISOString(),
    machine: await machineInfo(),
    quick: opts.quick,
    options: { ...opts, out: undefined },
    scenarioFaults: SCENARIO_FAULTS,
    baseline: { latencyMs: opts.baseLatencyMs, bandwidthBps: opts.baseBps },
    goals,
    playback: playback && {
      hivecastBuilt: playback.hivecastBuilt,
      faultScenarios,
      aggregates: playback.aggregates,
      runs: playback.runs,
    },
    split: split && {
      bytes: opts.splitBytes,
      capBytesPerSec: opts.splitCapBps,
      ...split,
    },
  });

  if (playback) {
    console.log(
      `\nPlayback (${opts.mode}, ${opts.seconds} s × ${opts.reps} reps; segment time = FRAG_LOADING→FRAG_LOADED, ms; median (min–max) over reps)`,
    );
    printTable([
      [
        "scenario",
        "arm",
        "p50 ms",
        "p95 ms",
        "p95/healthy",
        "stalls",
        "stall ms",
        "frag errs",
        "failed segs",
        "not started",
        "origin0 share",
      ],
      ...playback.aggregates.map((a) => [
        a.scenario,
        a.arm,
        fmtSpread(a.p50Ms, 0),
        fmtSpread(a.p95Ms, 0),
        fmtSpread(a.p95VsHealthy, 2),
        fmtSpread(a.stalls, 0),
        fmtSpread(a.stallMs, 0),
        fmtSpread(a.fragErrors, 0),
        fmtSpread(a.failedSegments, 0),
        `${a.neverStarted}/${a.runs}${a.errors ? ` (${a.errors} err)` : ""}`,
        fmtSpread(a.affectedOriginShare, 2),
      ]),
    ]);
  }
  if (split) {
    console.log(
      `\nSplit ranges: ${(opts.splitBytes / 1048576).toFixed(1)} MiB segment, each origin capped at ${(opts.splitCapBps / 1048576).toFixed(2)} MiB/s, ${opts.splitReps} reps`,
    );
    printTable([
      ["arm", "ms", "MB/s"],
      ...SPLIT_ARMS.map((a) => [
        a,
        fmtSpread(split.arms[a].ms, 0),
        fmtSpread(split.arms[a].mbPerSec, 2),
      ]),
      ["3 split ÷ 1 origin", "", fmtSpread(split.ratio3v1, 2)],
      ["3 split ÷ 3 no split", "", fmtSpread(split.ratioSplitVsNoSplit, 2)],
    ]);
  }
  console.log("\nGoals (reported, never enforced):");
  for (const g of Object.values(goals))
    console.log(
      `  ${g.met === null ? "n/a " : g.met ? "MET " : "MISS"}  ${g.goal}: ${g.value ?? "–"}`,
    );
  console.log(`\nwrote ${opts.out}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
