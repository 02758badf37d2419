/**
 * Live swarm benchmark in the NAT lab (BENCHMARKS.md item 7).
 *
 *   npx tsx bench/netlab/run.ts [--quick] [--viewers 8] [--seconds 60] [--reps 3]
 *                               [--arms plain,p2pml-live,hivecast] [--stagger-ms 1000] [--out file]
 *
 * N Chromium viewers, each in its own network namespace behind its own NAT router (half
 * endpoint-independent, a quarter symmetric, a quarter port-restricted; see e2e/netlab/lab.ts),
 * play the simulated live stream served from the lab's public namespace, once per arm: plain
 * hls.js, p2p-media-loader tuned for live, Hivecast — both P2P arms with the same ICE servers
 * (the lab's coturn: STUN + TURN with REST credentials). Origin bytes are counted per viewer by
 * a proxy in the public namespace; every `RTCPeerConnection` is observed in the page
 * (e2e/netlab/pc-stats.ts) for links up / attempted by NAT pair, relayed bytes and setup time.
 * Root only. Writes bench/results/netlab.json (quick: netlab-quick.json). Never fails on a number.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { cpus } from "node:os";
import type { Browser, Page } from "@playwright/test";
import {
  labUnavailableReason,
  NetLab,
  PUBLIC_ADDR,
  type LabServers,
  type NatKind,
} from "../../e2e/netlab/lab.js";
import {
  isRelayed,
  linkType,
  observePeerConnections,
  peerConnections,
  type PcRecord,
} from "../../e2e/netlab/pc-stats.js";
import {
  ARMS,
  PAGES,
  PAGE_PATH,
  isArmName,
  median,
  readPageMetrics,
  round,
  spread,
  type ArmName,
  type PageConfig,
  type PageMetrics,
  type Spread,
} from "../swarm/lib.js";

const root = fileURLToPath(new URL("../../", import.meta.url));

interface Options {
  quick: boolean;
  viewers: number;
  seconds: number;
  reps: number;
  arms: ArmName[];
  staggerMs: number;
  out: string;
}

function parseArgs(argv: readonly string[]): Options {
  const quick = argv.includes("--quick");
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const int = (name: string, dflt: number, min: number, max: number): number => {
    const v = value(name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`${name} must be an integer in ${min}..${max}`);
    return n;
  };
  const arms: ArmName[] = [];
  for (const a of (
    value("--arms") ?? (quick ? "plain,hivecast" : "plain,p2pml-live,hivecast")
  ).split(",")) {
    if (!isArmName(a)) throw new Error(`unknown arm ${a} (known: ${ARMS.join(", ")})`);
    arms.push(a);
  }
  return {
    quick,
    viewers: int("--viewers", quick ? 2 : 8, 1, 64),
    seconds: int("--seconds", quick ? 15 : 60, 5, 3600),
    reps: int("--reps", quick ? 1 : 3, 1, 20),
    arms,
    staggerMs: int("--stagger-ms", 1000, 0, 60_000),
    out: value("--out") ?? `${root}bench/results/netlab${quick ? "-quick" : ""}.json`,
  };
}

/**
 * NAT of viewer i: half endpoint-independent, a quarter symmetric, a quarter port-restricted,
 * interleaved in join order (eim, symmetric, eim, port-restricted, …).
 */
export function natOf(i: number): NatKind {
  const pattern: NatKind[] = ["eim", "symmetric", "eim", "port-restricted"];
  return pattern[i % 4]!;
}

/** Arm settings (the same as bench/swarm's). */
function armConfig(arm: ArmName): Pick<PageConfig, "hls" | "p2pml"> {
  if (arm === "p2pml-live")
    return {
      hls: { liveSyncDurationCount: 5, enableWorker: false },
      p2pml: { highDemandTimeWindow: 4 },
    };
  return { hls: {}, p2pml: {} };
}

interface ViewerResult {
  viewer: number;
  nat: NatKind;
  metrics: PageMetrics | null;
  error: string | null;
  originSegmentBytes: number;
  pcs: PcRecord[];
}

interface LinkStats {
  attempted: number;
  up: number;
  types: Record<string, number>;
}

interface ArmRun {
  arm: ArmName;
  rep: number;
  viewers: Array<
    Omit<ViewerResult, "pcs" | "metrics"> & {
      offload: number | null;
      stalls: number | null;
      stallMs: number | null;
      latencyS: number | null;
      startupMs: number | null;
      linksUp: number;
      links: Array<{
        type: string | null;
        proto: string | null;
        setupMs: number | null;
        bytesReceived: number;
      }>;
    }
  >;
  bytesPlayed: number;
  cdnBytes: number;
  offload: number;
  stalls: number;
  stallMs: number;
  latencyS: number;
  startupMs: number;
  /** Distinct viewer pairs, by NAT pair ("eim/symmetric"): attempted, up, link types. */
  linksByNatPair: Record<string, LinkStats>;
  /** P2P bytes received over relayed links ÷ all P2P bytes received (transport bytes). */
  relayedShare: number | null;
  setupMs: { p50: number; p95: number; n: number };
  pageErrors: string[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function quantile(values: readonly number[], q: number): number {
  const v = [...values].sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))]!;
}

/** Lab viewer index behind a public address 100.64.0.<10+i>, or null. */
function viewerOfAddr(addr: string | null, n: number): number | null {
  if (addr === null) return null;
  const m = /^100\.64\.0\.(\d+)(?::\d+)?$/.exec(addr);
  if (!m) return null;
  const i = Number(m[1]) - 10;
  return i >= 0 && i < n ? i : null;
}

async function runArm(lab: NetLab, arm: ArmName, rep: number, opts: Options): Promise<ArmRun> {
  const servers: LabServers = await lab.startServers({
    pages: PAGES,
    origins: 3,
    liveWindow: 6,
    proxy: true,
  });
  const browsers: Browser[] = [];
  const results: ViewerResult[] = [];
  try {
    const proxy = servers.proxy;
    if (!proxy) throw new Error("no counting proxy");
    for (let i = 0; i < opts.viewers; i++)
      browsers.push(await lab.launchBrowser(i, [servers.pages]));
    await sleep(500);
    const t0 = Date.now();
    await Promise.all(
      browsers.map(async (browser, i) => {
        const joinAt = t0 + i * opts.staggerMs;
        await sleep(Math.max(0, joinAt - Date.now()));
        const page: Page = await (await browser.newContext()).newPage();
        await observePeerConnections(page);
        const cfg: PageConfig = {
          arm,
          src: `${proxy}/v${i}/o0/live/master.m3u8`,
          origins: servers.origins.map((_, o) => `${proxy}/v${i}/o${o}/`),
          tracker: servers.tracker,
          swarmId: `netlab-${arm}-${rep}`,
          ...armConfig(arm),
          iceServers: [{ urls: lab.stunUrl() }, lab.turnServer(`viewer${i}`)],
        };
        let error: string | null = null;
        await page
          .goto(
            `${servers.pages}${PAGE_PATH[arm]}?cfg=${encodeURIComponent(JSON.stringify(cfg))}`,
            {
              waitUntil: "commit",
            },
          )
          .catch((e: unknown) => {
            error = `goto: ${String(e)}`;
          });
        await sleep(Math.max(0, joinAt + opts.seconds * 1000 - Date.now()));
        let metrics: PageMetrics | null = null;
        let pcs: PcRecord[] = [];
        try {
          metrics = await readPageMetrics(page);
          pcs = await peerConnections(page);
        } catch (e) {
          error ??= `snapshot: ${String(e)}`;
        }
        results.push({ viewer: i, nat: natOf(i), metrics, error, originSegmentBytes: 0, pcs });
      }),
    );
    const counters = (await servers.query("proxy")) as {
      viewers?: Record<string, { segments?: number }>;
    };
    for (const r of results) r.originSegmentBytes = counters.viewers?.[r.viewer]?.segments ?? 0;
  } finally {
    await Promise.all(browsers.map((b) => b.close().catch(() => undefined)));
    await servers.close();
  }
  results.sort((a, b) => a.viewer - b.viewer);
  return summarize(arm, rep, results, opts.viewers);
}

function summarize(arm: ArmName, rep: number, results: ViewerResult[], n: number): ArmRun {
  // Which viewer a connection reached: the remote router's address, or the matching relay.
  const relayOwner = new Map<string, number>();
  for (const r of results)
    for (const pc of r.pcs)
      if (pc.localType === "relay" && pc.localAddr) relayOwner.set(pc.localAddr, r.viewer);
  const pairs = new Map<string, { attempted: boolean; up: boolean; type: string | null }>();
  let relayedBytes = 0;
  let p2pBytes = 0;
  const setups: number[] = [];
  for (const r of results) {
    for (const pc of r.pcs) {
      const up = pc.connectedMs !== null;
      let remote: number | null =
        viewerOfAddr(pc.remoteAddr, n) ??
        (pc.remoteAddr !== null ? (relayOwner.get(pc.remoteAddr) ?? null) : null);
      if (remote === null)
        for (const a of pc.remoteCandidateAddrs) {
          remote = viewerOfAddr(a, n);
          if (remote !== null) break;
        }
      p2pBytes += pc.bytesReceived;
      if (up && isRelayed(pc)) relayedBytes += pc.bytesReceived;
      if (up) setups.push(pc.connectedMs! - pc.createdMs);
      if (remote === null || remote === r.viewer) continue;
      const key = [r.viewer, remote].sort((a, b) => a - b).join("-");
      const e = pairs.get(key) ?? { attempted: true, up: false, type: null };
      if (up) {
        e.up = true;
        e.type ??= linkType(pc);
      }
      pairs.set(key, e);
    }
  }
  const linksByNatPair: Record<string, LinkStats> = {};
  for (const [key, e] of pairs) {
    const [a, b] = key.split("-").map(Number);
    const natPair = [natOf(a!), natOf(b!)].sort().join("/");
    const s = (linksByNatPair[natPair] ??= { attempted: 0, up: 0, types: {} });
    s.attempted++;
    if (e.up) {
      s.up++;
      const t = e.type ?? "unknown";
      s.types[t] = (s.types[t] ?? 0) + 1;
    }
  }
  let bytesPlayed = 0;
  let cdnBytes = 0;
  let stalls = 0;
  let stallMs = 0;
  const lat: number[] = [];
  const startups: number[] = [];
  const pageErrors: string[] = [];
  const viewers = results.map((r) => {
    const m = r.metrics;
    cdnBytes += r.originSegmentBytes;
    if (r.error) pageErrors.push(`viewer ${r.viewer}: ${r.error}`);
    if (m) {
      bytesPlayed += m.bytesPlayed;
      stalls += m.stalls;
      stallMs += m.stallMs;
      if (m.latency.length) lat.push(median(m.latency));
      if (m.startupMs !== null) startups.push(m.startupMs);
      for (const e of m.pageErrors) pageErrors.push(`viewer ${r.viewer}: ${e}`);
    }
    return {
      viewer: r.viewer,
      nat: r.nat,
      error: r.error,
      originSegmentBytes: r.originSegmentBytes,
      offload: m && m.bytesPlayed > 0 ? round(1 - r.originSegmentBytes / m.bytesPlayed) : null,
      stalls: m?.stalls ?? null,
      stallMs: m ? Math.round(m.stallMs) : null,
      latencyS: m && m.latency.length ? round(median(m.latency), 2) : null,
      startupMs: m?.startupMs ?? null,
      linksUp: r.pcs.filter((p) => p.connectedMs !== null).length,
      links: r.pcs
        .filter((p) => p.connectedMs !== null)
        .map((p) => ({
          type: linkType(p),
          proto: p.relayProtocol,
          setupMs: p.connectedMs === null ? null : Math.round(p.connectedMs - p.createdMs),
          bytesReceived: p.bytesReceived,
        })),
    };
  });
  return {
    arm,
    rep,
    viewers,
    bytesPlayed,
    cdnBytes,
    offload: bytesPlayed > 0 ? 1 - cdnBytes / bytesPlayed : Number.NaN,
    stalls,
    stallMs,
    latencyS: median(lat),
    startupMs: median(startups),
    linksByNatPair,
    relayedShare: p2pBytes > 0 ? relayedBytes / p2pBytes : null,
    setupMs: { p50: quantile(setups, 0.5), p95: quantile(setups, 0.95), n: setups.length },
    pageErrors: pageErrors.slice(0, 20),
  };
}

interface ArmSummary {
  runs: number;
  offload: Spread;
  stalls: Spread;
  stallMs: Spread;
  latencyS: Spread;
  latencyVsPlainS: Spread;
  startupMs: Spread;
  relayedShare: Spread;
  setupP50Ms: Spread;
  setupP95Ms: Spread;
  linksByNatPair: Record<string, { attempted: number; up: number; types: Record<string, number> }>;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const why = labUnavailableReason();
  if (why) {
    process.stdout.write(`netlab bench skipped: ${why}\n`);
    return;
  }
  const nats = Array.from({ length: opts.viewers }, (_, i) => natOf(i));
  const lab = await NetLab.start(nats);
  const runs: ArmRun[] = [];
  const started = new Date().toISOString();
  try {
    await lab.startTurn();
    for (let rep = 0; rep < opts.reps; rep++) {
      const order = opts.arms.map((_, i) => opts.arms[(i + rep) % opts.arms.length]!);
      for (const arm of order) {
        process.stderr.write(`rep ${rep + 1}/${opts.reps} ${arm} ...`);
        const r = await runArm(lab, arm, rep, opts);
        runs.push(r);
        process.stderr.write(
          ` offload ${round(r.offload)} stalls ${r.stalls} latency ${round(r.latencyS, 1)} s relayed ${r.relayedShare === null ? "–" : round(r.relayedShare)} links ${JSON.stringify(r.linksByNatPair)}\n`,
        );
      }
    }
  } finally {
    await lab.close();
  }
  const summary: Partial<Record<ArmName, ArmSummary>> = {};
  for (const arm of opts.arms) {
    const rs = runs.filter((r) => r.arm === arm);
    if (!rs.length) continue;
    const links: ArmSummary["linksByNatPair"] = {};
    for (const r of rs)
      for (const [k, v] of Object.entries(r.linksByNatPair)) {
        const s = (links[k] ??= { attempted: 0, up: 0, types: {} });
        s.attempted += v.attempted;
        s.up += v.up;
        for (const [t, c] of Object.entries(v.types)) s.types[t] = (s.types[t] ?? 0) + c;
      }
    summary[arm] = {
      runs: rs.length,
      offload: spread(rs.map((r) => r.offload)),
      stalls: spread(rs.map((r) => r.stalls)),
      stallMs: spread(rs.map((r) => r.stallMs)),
      latencyS: spread(rs.map((r) => r.latencyS)),
      latencyVsPlainS: spread(
        rs.map((r) => {
          const p = runs.find((x) => x.arm === "plain" && x.rep === r.rep);
          return p ? r.latencyS - p.latencyS : Number.NaN;
        }),
      ),
      startupMs: spread(rs.map((r) => r.startupMs)),
      relayedShare: spread(rs.map((r) => r.relayedShare ?? Number.NaN)),
      setupP50Ms: spread(rs.map((r) => r.setupMs.p50)),
      setupP95Ms: spread(rs.map((r) => r.setupMs.p95)),
      linksByNatPair: links,
    };
  }
  const h = summary.hivecast;
  const goals = h
    ? {
        everyPairConnects: Object.values(h.linksByNatPair).every((l) => l.up === l.attempted),
        offloadAtLeast075: h.offload.median >= 0.75,
        noStalls: h.stalls.max === 0,
        latencyNotAbovePlain: summary.plain ? h.latencyVsPlainS.median <= 0.5 : null,
        relayedAtMost25pct: Number.isFinite(h.relayedShare.median)
          ? h.relayedShare.median <= 0.25
          : null,
        aboveP2pml: summary["p2pml-live"]
          ? h.offload.median > summary["p2pml-live"].offload.median
          : null,
      }
    : null;
  const result = {
    bench: "netlab",
    started,
    finished: new Date().toISOString(),
    mode: opts.quick ? "quick" : "full",
    viewers: opts.viewers,
    seconds: opts.seconds,
    reps: opts.reps,
    staggerMs: opts.staggerMs,
    nats,
    lab: { publicAddr: PUBLIC_ADDR, turn: "coturn, STUN + TURN (UDP, TCP), REST credentials" },
    machine: { cpus: cpus().length, node: process.version },
    definitions: {
      offload:
        "1 − origin segment bytes (proxy-counted, per viewer) ÷ segment bytes delivered to hls.js",
      linksByNatPair:
        "distinct viewer pairs that exchanged candidates (attempted) and reached 'connected' (up), by the two viewers' NAT kinds; types = selected candidate pair (relay if either end relays)",
      relayedShare:
        "bytes received over relayed selected pairs ÷ bytes received over all peer connections",
      setupMs: "RTCPeerConnection created → 'connected', over connections that came up",
      stalls: "'waiting' after first playback, summed over viewers",
      latencyS: "median over viewers of the median of hls.latency sampled each second",
    },
    summary,
    goals,
    runs,
  };
  mkdirSync(dirname(opts.out), { recursive: true });
  writeFileSync(
    opts.out,
    `${JSON.stringify(result, (_k, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2)}\n`,
  );
  const f = (s: Spread, d = 3): string =>
    s.n === 0
      ? "–"
      : s.n === 1
        ? `${round(s.median, d)}`
        : `${round(s.median, d)} [${round(s.min, d)}–${round(s.max, d)}]`;
  for (const [arm, s] of Object.entries(summary)) {
    const links = Object.entries(s.linksByNatPair)
      .map(([k, v]) => `${k} ${v.up}/${v.attempted} ${JSON.stringify(v.types)}`)
      .join("; ");
    process.stdout.write(
      `${arm}: offload ${f(s.offload)} stalls ${f(s.stalls, 0)} latency ${f(s.latencyS, 1)} s (vs plain ${f(s.latencyVsPlainS, 1)}) relayed ${f(s.relayedShare)} setup p50 ${f(s.setupP50Ms, 0)} p95 ${f(s.setupP95Ms, 0)} ms | ${links}\n`,
    );
  }
  process.stdout.write(`wrote ${opts.out}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(
    `netlab bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
  );
  process.exitCode = 1;
});
