/**
 * Verify benchmark (BENCHMARKS.md item 3): SHA-256 throughput of WebCrypto in Chromium on
 * segment-sized buffers, and what verifying one segment costs as a share of its duration.
 *
 *   npx tsx bench/verify/run.ts [--quick] [--reps 5] [--min-ms 400] [--segment-sec 2] [--out file]
 *
 * A page on a loopback origin (a secure context, so `crypto.subtle` exists) digests random
 * buffers of 128 KiB, 512 KiB, 1 MiB and 4 MiB one after another (awaiting each, as the engine
 * does) until `--min-ms` have passed; each repetition gives MB/s and ms per digest. The same
 * loop also runs in Node's WebCrypto, for reference. Cost of a segment = its bytes ÷ throughput
 * at the nearest measured buffer size, as % of the segment duration, at the fixture's two
 * bitrates and at 5 and 20 Mbit/s. Writes bench/results/verify.json. Never fails on a number.
 */
import { startPageServer } from "../../e2e/page-server.js";
import { launchChromium } from "../lib/browser.js";
import { Args, defaultOut, machineInfo, printTable, writeResult } from "../lib/cli.js";
import { fmtSpread, round, roundSpread, spread, type Spread } from "../lib/stats.js";

const KiB = 1024;
const SIZES = [128 * KiB, 512 * KiB, 1024 * KiB, 4096 * KiB] as const;
/** Bitrates (bit/s) to price a segment at: the fixture's two renditions, then HD and 4K-ish. */
const BITRATES = [
  { label: "fixture v1 (0.22 Mbit/s)", bps: 217_800 },
  { label: "fixture v0 (0.51 Mbit/s)", bps: 510_400 },
  { label: "5 Mbit/s", bps: 5_000_000 },
  { label: "20 Mbit/s", bps: 20_000_000 },
] as const;

interface Options {
  quick: boolean;
  reps: number;
  minMs: number;
  segmentSec: number;
  out: string;
}

function parseOptions(): Options {
  const a = new Args();
  const quick = a.flag("--quick");
  return {
    quick,
    reps: a.int("--reps", quick ? 2 : 5, 1),
    minMs: a.int("--min-ms", quick ? 60 : 400, 1),
    segmentSec: a.number("--segment-sec", 2, 0.1),
    out: a.value("--out") ?? defaultOut("verify", quick),
  };
}

/** One timed loop: `iterations` digests of `size` bytes in `ms`. */
interface Sample {
  size: number;
  iterations: number;
  ms: number;
}

/**
 * The measuring loop. It is self-contained (no closure over module scope) because Playwright
 * serialises it into the page; Node runs the very same function.
 */
async function measure(args: {
  sizes: number[];
  reps: number;
  minMs: number;
}): Promise<Sample[][]> {
  const subtle = globalThis.crypto.subtle;
  const buffers = args.sizes.map((size) => {
    const b = new Uint8Array(size);
    for (let off = 0; off < size; off += 65536)
      globalThis.crypto.getRandomValues(b.subarray(off, Math.min(size, off + 65536)));
    return b;
  });
  // Warm-up: the first digests pay for lazy initialisation.
  for (const b of buffers) for (let i = 0; i < 3; i++) await subtle.digest("SHA-256", b);
  const reps: Sample[][] = [];
  for (let r = 0; r < args.reps; r++) {
    const row: Sample[] = [];
    for (let i = 0; i < buffers.length; i++) {
      const b = buffers[i]!;
      let iterations = 0;
      const t0 = performance.now();
      let t = t0;
      while (t - t0 < args.minMs || iterations < 3) {
        await subtle.digest("SHA-256", b);
        iterations++;
        t = performance.now();
      }
      row.push({ size: b.byteLength, iterations, ms: t - t0 });
    }
    reps.push(row);
  }
  return reps;
}

function isSampleMatrix(x: unknown): x is Sample[][] {
  return (
    Array.isArray(x) &&
    x.every(
      (row) =>
        Array.isArray(row) &&
        row.every(
          (s) =>
            typeof s === "object" &&
            s !== null &&
            ["size", "iterations", "ms"].every((k) => typeof Reflect.get(s, k) === "number"),
        ),
    )
  );
}

interface SizeResult {
  bytes: number;
  /** MB/s (10^6 bytes per second) per repetition: median (min–max). */
  mbPerSec: Spread;
  /** Milliseconds per digest. */
  msPerDigest: Spread;
  iterations: number[];
}

function bySize(samples: Sample[][]): SizeResult[] {
  return SIZES.map((size) => {
    const mine = samples.flatMap((row) => row.filter((s) => s.size === size));
    return {
      bytes: size,
      mbPerSec: roundSpread(spread(mine.map((s) => (s.size * s.iterations) / s.ms / 1000)), 1),
      msPerDigest: roundSpread(spread(mine.map((s) => s.ms / s.iterations)), 4),
      iterations: mine.map((s) => s.iterations),
    };
  });
}

/** Measured size nearest to `bytes` on a log scale. */
function nearest(results: readonly SizeResult[], bytes: number): SizeResult {
  let best = results[0]!;
  for (const r of results)
    if (Math.abs(Math.log(r.bytes / bytes)) < Math.abs(Math.log(best.bytes / bytes))) best = r;
  return best;
}

interface CostResult {
  label: string;
  bitsPerSec: number;
  segmentBytes: number;
  /** Throughput row used. */
  measuredAtBytes: number;
  /** Verify time of one segment, ms (from min/median/max throughput). */
  ms: Spread;
  /** Verify time as % of the segment duration. */
  percentOfSegment: Spread;
}

function costs(results: readonly SizeResult[], segmentSec: number): CostResult[] {
  return BITRATES.map(({ label, bps }) => {
    const segmentBytes = Math.round((bps * segmentSec) / 8);
    const r = nearest(results, segmentBytes);
    const msAt = (mbps: number): number => segmentBytes / (mbps * 1000);
    // Higher throughput → lower cost, so min/max swap.
    const ms: Spread = {
      median: msAt(r.mbPerSec.median),
      min: msAt(r.mbPerSec.max),
      max: msAt(r.mbPerSec.min),
      n: r.mbPerSec.n,
    };
    const pct = (x: number): number => (x / (segmentSec * 1000)) * 100;
    return {
      label,
      bitsPerSec: bps,
      segmentBytes,
      measuredAtBytes: r.bytes,
      ms: roundSpread(ms, 3),
      percentOfSegment: roundSpread(
        { median: pct(ms.median), min: pct(ms.min), max: pct(ms.max), n: ms.n },
        4,
      ),
    };
  });
}

async function inChromium(opts: Options): Promise<{ samples: Sample[][]; userAgent: string }> {
  const server = await startPageServer({
    "/verify.html": "<!doctype html><meta charset=utf-8><title>verify</title>",
  });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}/verify.html`);
    const userAgent = await page.evaluate(() => navigator.userAgent);
    const samples: unknown = await page.evaluate(measure, {
      sizes: [...SIZES],
      reps: opts.reps,
      minMs: opts.minMs,
    });
    if (!isSampleMatrix(samples)) throw new Error("verify page returned an unexpected shape");
    return { samples, userAgent };
  } finally {
    await browser.close().catch(() => undefined);
    await server.close();
  }
}

async function main(): Promise<void> {
  const opts = parseOptions();
  const startedAt = new Date().toISOString();
  const chromium = await inChromium(opts);
  const chromiumSizes = bySize(chromium.samples);
  const nodeSizes = bySize(
    await measure({ sizes: [...SIZES], reps: opts.reps, minMs: opts.minMs }),
  );
  const chromiumCosts = costs(chromiumSizes, opts.segmentSec);
  const worst = Math.max(...chromiumCosts.map((c) => c.percentOfSegment.median));
  writeResult(opts.out, {
    bench: "verify",
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: await machineInfo(),
    quick: opts.quick,
    options: { ...opts, out: undefined },
    chromium: { userAgent: chromium.userAgent, sizes: chromiumSizes, costs: chromiumCosts },
    node: { version: process.version, sizes: nodeSizes, costs: costs(nodeSizes, opts.segmentSec) },
    goals: {
      verifyCost: {
        goal: "SHA-256 verify in Chromium ≤ 1% of the segment duration (worst bitrate listed, median)",
        value: round(worst, 4),
        met: worst <= 1,
      },
    },
  });

  console.log(
    `SHA-256 (WebCrypto), ${opts.reps} reps × ≥ ${opts.minMs} ms per size; median (min–max)`,
  );
  printTable([
    ["buffer", "Chromium MB/s", "ms/digest", "Node MB/s"],
    ...chromiumSizes.map((r, i) => [
      `${r.bytes / KiB} KiB`,
      fmtSpread(r.mbPerSec, 0),
      fmtSpread(r.msPerDigest, 3),
      fmtSpread(nodeSizes[i]?.mbPerSec ?? spread([]), 0),
    ]),
  ]);
  console.log(`\nCost of verifying one ${opts.segmentSec} s segment in Chromium`);
  printTable([
    ["bitrate", "segment KiB", "verify ms", "% of segment"],
    ...chromiumCosts.map((c) => [
      c.label,
      (c.segmentBytes / KiB).toFixed(0),
      fmtSpread(c.ms, 3),
      fmtSpread(c.percentOfSegment, 4),
    ]),
  ]);
  console.log(
    `\nGoal ≤ 1 %: ${worst <= 1 ? "MET" : "MISS"} (worst median ${round(worst, 4)} %)\nwrote ${opts.out}`,
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
