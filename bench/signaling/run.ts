/**
 * Signaling benchmark (BENCHMARKS.md item 4): our tracker vs bittorrent-tracker's server, same
 * load generator, same run, loopback only.
 *
 *   npx tsx bench/signaling/run.ts [--quick] [--reps 3] [--sizes 1000,5000,10000] [--out file]
 *                                  [--floor] [--shapes client-small-swarms,client-one-swarm,…]
 *
 * Per load shape (SHAPES below: what an announce carries × how big the swarms are) × server ×
 * connection count × repetition, fresh processes: the server pinned to CPU 0, the load generator
 * to CPU 1 (taskset, when present). Measures
 *  - RSS per idle connection: server RSS (after GC) with N connections announced into swarms,
 *    minus its RSS before they connected, ÷ N; and the marginal cost: connections are opened
 *    in two halves, and the second half's RSS growth ÷ N/2 leaves out one-time growth;
 *  - relays per second: closed loop, about 2000 offers in flight in announces of the shape's
 *    size; a relay counts when an offer arrives at the peer the server picked (announces relayed
 *    per second = relays ÷ offers per announce);
 *  - p50/p99 relay latency: open loop at a fixed rate of offers (announce sent → offer received).
 * `--floor` adds a third server, floor-server.ts: the least a tracker on Node + `ws` does per
 * relay, to show what share of a relay's cost no such server avoids.
 * Writes bench/results/signaling.json (quick mode: signaling-quick.json) and prints a table.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  isObject,
  type LoadCommand,
  type SdpKind,
  type ServerCommand,
  type ServerKind,
} from "./protocol.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const quick = process.argv.includes("--quick");
const sizes = (arg("sizes") ?? (quick ? "200" : "1000,5000,10000")).split(",").map(Number);
const reps = Number(arg("reps") ?? (quick ? 1 : 3));
const throughputSeconds = Number(arg("seconds") ?? (quick ? 1 : 4));
const latencySeconds = quick ? 1 : 4;
const latencyRate = Number(arg("rate") ?? (quick ? 200 : 1000));
const window = Number(arg("window") ?? 2000);
const out =
  arg("out") ?? join(root, "bench", "results", quick ? "signaling-quick.json" : "signaling.json");
const floor = process.argv.includes("--floor");
const kinds: ServerKind[] = [
  "hivecast",
  "bittorrent-tracker",
  ...(floor ? ["ws-floor" as const] : []),
];
/**
 * A load shape: how connections group into swarms and what each `update` announce carries.
 * The two axes are crossed: announces as real clients send them vs. the least an announce can
 * be, in swarms of 100 vs. one swarm holding every connection.
 */
interface Shape {
  name: string;
  /** Peers per swarm; `all` = one swarm of every connection. */
  swarmSize: number | "all";
  /** Offers per announce (and its numwant). */
  offers: number;
  sdp: SdpKind;
}
const SHAPES: readonly Shape[] = [
  // bittorrent-tracker's client and p2p-media-loader send min(numwant, 5) offers per announce
  // (numwant defaults to 50), each a browser's full offer SDP; many small streams.
  { name: "client-small-swarms", swarmSize: 100, offers: 5, sdp: "real" },
  // The same announces, every viewer in one swarm: one popular live stream.
  { name: "client-one-swarm", swarmSize: "all", offers: 5, sdp: "real" },
  // One tiny offer per announce: the per-message cost alone (the shape of earlier results).
  { name: "minimal-small-swarms", swarmSize: 100, offers: 1, sdp: "tiny" },
  { name: "minimal-one-swarm", swarmSize: "all", offers: 1, sdp: "tiny" },
];
const shapeNames = (arg("shapes") ?? SHAPES.map((x) => x.name).join(",")).split(",");
const shapes = shapeNames.map((name) => {
  const found = SHAPES.find((x) => x.name === name);
  if (found === undefined)
    throw new Error(`unknown shape ${name}; known: ${SHAPES.map((x) => x.name).join(", ")}`);
  return found;
});
const hasTaskset = spawnSync("taskset", ["-V"]).status === 0 && cpus().length >= 2;

function spawnChild(script: string, args: string[], cpu: number): ChildProcess {
  const pin = hasTaskset ? `taskset -c ${cpu} ` : "";
  // Raise the fd limit as far as allowed (10k sockets per process).
  const cmd = `ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec ${pin}"${process.execPath}" ${process.env.SIGNALING_BENCH_NODE_FLAGS ?? ""} --expose-gc --import tsx "${join(here, script)}" ${args.join(" ")}`;
  return spawn("bash", ["-c", cmd], { cwd: root, stdio: ["ignore", "inherit", "inherit", "ipc"] });
}

function next<T extends Record<string, unknown>>(
  child: ChildProcess,
  type: string,
  timeoutMs = 120_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${type}`)), timeoutMs);
    const onMsg = (m: unknown): void => {
      if (isObject(m) && m.type === type) {
        clearTimeout(t);
        child.off("message", onMsg);
        resolve(m as T);
      }
    };
    child.on("message", onMsg);
    child.once("exit", (code) =>
      reject(new Error(`child exited (${String(code)}) waiting for ${type}`)),
    );
  });
}

function ask<T extends Record<string, unknown>>(
  child: ChildProcess,
  cmd: ServerCommand | LoadCommand,
  type: string,
): Promise<T> {
  const p = next<T>(child, type);
  child.send(cmd);
  return p;
}

interface Run {
  shape: string;
  server: ServerKind;
  connections: number;
  rep: number;
  connected: number;
  failedConnections: number;
  connectMs: number;
  rssPerIdleConnBytes: number;
  rssPerIdleConnMarginalBytes: number;
  relaysPerSec: number;
  relaysPerCpuSecond: number;
  lostRelays: number;
  loadgenCpuShare: number;
  serverCpuShare: number;
  /** Share of the server's CPU time spent in the kernel (socket system calls, loopback TCP). */
  serverSystemShare: number;
  latencyRate: number;
  latencySent: number;
  latencyReceived: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

async function runOne(
  shape: Shape,
  server: ServerKind,
  connections: number,
  rep: number,
): Promise<Run> {
  const swarmSize = shape.swarmSize === "all" ? connections : shape.swarmSize;
  const { offers, sdp } = shape;
  const srv = spawnChild("server-proc.ts", [server], 0);
  const { port } = await next<{ port: number }>(srv, "ready");
  const gen = spawnChild("loadgen.ts", [], 1);
  try {
    const url = `ws://127.0.0.1:${port}`;
    const half = Math.floor(connections / 2);
    const before = await ask<{ rss: number }>(srv, { type: "mem" }, "mem");
    const first = await ask<{ connections: number; ms: number; failed: number }>(
      gen,
      { type: "connect", url, from: 0, to: half, swarmSize, offers, sdp },
      "connected",
    );
    await new Promise((r) => setTimeout(r, 500));
    const mid = await ask<{ rss: number }>(srv, { type: "mem" }, "mem");
    const second = await ask<{ connections: number; ms: number; failed: number }>(
      gen,
      { type: "connect", url, from: half, to: connections, swarmSize, offers, sdp },
      "connected",
    );
    const conn = {
      connections: first.connections + second.connections,
      ms: first.ms + second.ms,
      failed: first.failed + second.failed,
    };
    await new Promise((r) => setTimeout(r, 500));
    const idle = await ask<{ rss: number }>(srv, { type: "mem" }, "mem");
    const cpu0 = await ask<{ userUs: number; systemUs: number }>(srv, { type: "cpu" }, "cpu");
    const tp = await ask<{
      relays: number;
      relaysTotal: number;
      seconds: number;
      lost: number;
      cpuShare: number;
    }>(gen, { type: "throughput", seconds: throughputSeconds, window }, "throughput");
    const cpu1 = await ask<{ userUs: number; systemUs: number }>(srv, { type: "cpu" }, "cpu");
    const cpuSeconds = (cpu1.userUs + cpu1.systemUs - cpu0.userUs - cpu0.systemUs) / 1e6;
    const lat = await ask<{
      sent: number;
      received: number;
      p50Ms: number;
      p99Ms: number;
      maxMs: number;
    }>(gen, { type: "latency", seconds: latencySeconds, rate: latencyRate }, "latency");
    return {
      shape: shape.name,
      server,
      connections,
      rep,
      connected: conn.connections,
      failedConnections: conn.failed,
      connectMs: Math.round(conn.ms),
      rssPerIdleConnBytes: Math.round((idle.rss - before.rss) / Math.max(1, conn.connections)),
      // The second half's cost alone: what one more connection costs once the process has
      // paid its one-time growth (JIT code, heap and allocator arenas).
      rssPerIdleConnMarginalBytes: Math.round(
        (idle.rss - mid.rss) / Math.max(1, second.connections),
      ),
      relaysPerSec: Math.round(tp.relays / tp.seconds),
      // Server efficiency: every relay of the phase over the server's CPU time in the phase
      // = relays per second one fully used core would sustain.
      relaysPerCpuSecond: Math.round(tp.relaysTotal / cpuSeconds),
      lostRelays: tp.lost,
      loadgenCpuShare: Number(tp.cpuShare.toFixed(2)),
      // CPU seconds over the throughput phase (warm-up + measure + drain) per wall second.
      serverCpuShare: Number((cpuSeconds / (tp.seconds + 1.5)).toFixed(2)),
      serverSystemShare: Number(
        ((cpu1.systemUs - cpu0.systemUs) / 1e6 / Math.max(1e-9, cpuSeconds)).toFixed(2),
      ),
      latencyRate,
      latencySent: lat.sent,
      latencyReceived: lat.received,
      p50Ms: Number(lat.p50Ms.toFixed(3)),
      p99Ms: Number(lat.p99Ms.toFixed(3)),
      maxMs: Number(lat.maxMs.toFixed(3)),
    };
  } finally {
    gen.send({ type: "close" } satisfies LoadCommand);
    await Promise.race([
      new Promise((r) => gen.once("exit", r)),
      new Promise((r) => setTimeout(r, 3000)),
    ]);
    gen.kill("SIGKILL");
    srv.send({ type: "stop" } satisfies ServerCommand);
    await Promise.race([
      new Promise((r) => srv.once("exit", r)),
      new Promise((r) => setTimeout(r, 5000)),
    ]);
    srv.kill("SIGKILL");
  }
}

interface Spread {
  median: number;
  min: number;
  max: number;
}
function spread(values: number[]): Spread {
  const v = [...values].sort((a, b) => a - b);
  const mid =
    v.length % 2 === 1
      ? (v[(v.length - 1) / 2] ?? NaN)
      : ((v[v.length / 2 - 1] ?? NaN) + (v[v.length / 2] ?? NaN)) / 2;
  return { median: Number(mid.toFixed(3)), min: v[0] ?? NaN, max: v.at(-1) ?? NaN };
}

const runs: Run[] = [];
for (let rep = 1; rep <= reps; rep++) {
  for (const shape of shapes) {
    for (const n of sizes) {
      // Alternate the order so drift on a shared machine does not favour one server.
      const order = (rep + n) % 2 === 0 ? kinds : [...kinds].reverse();
      for (const kind of order) {
        const r = await runOne(shape, kind, n, rep);
        runs.push(r);
        console.error(
          `rep ${rep} ${shape.name} ${kind.padEnd(18)} ${String(n).padStart(6)} conns: ${r.relaysPerCpuSecond} relays/cpu-s, ${r.relaysPerSec} relays/s (cpu server ${r.serverCpuShare}, kernel ${r.serverSystemShare}, loadgen ${r.loadgenCpuShare}), ` +
            `p50 ${r.p50Ms} ms p99 ${r.p99Ms} ms, ${(r.rssPerIdleConnBytes / 1024).toFixed(1)} KiB/conn (marginal ${(r.rssPerIdleConnMarginalBytes / 1024).toFixed(1)})`,
        );
      }
    }
  }
}

const summary = shapes.flatMap((shape) =>
  sizes.map((n) => {
    const by = (k: ServerKind) =>
      runs.filter((r) => r.shape === shape.name && r.server === k && r.connections === n);
    const stats = (k: ServerKind) => ({
      relaysPerSec: spread(by(k).map((r) => r.relaysPerSec)),
      relaysPerCpuSecond: spread(by(k).map((r) => r.relaysPerCpuSecond)),
      p50Ms: spread(by(k).map((r) => r.p50Ms)),
      p99Ms: spread(by(k).map((r) => r.p99Ms)),
      rssPerIdleConnBytes: spread(by(k).map((r) => r.rssPerIdleConnBytes)),
      rssPerIdleConnMarginalBytes: spread(by(k).map((r) => r.rssPerIdleConnMarginalBytes)),
      serverCpuShare: spread(by(k).map((r) => r.serverCpuShare)),
      serverSystemShare: spread(by(k).map((r) => r.serverSystemShare)),
      connected: spread(by(k).map((r) => r.connected)),
    });
    // Ratio per repetition (same rep = measured side by side), then the median of those.
    const ratio = (k: ServerKind): Spread =>
      spread(
        by(k).map((r) => {
          const other = by("bittorrent-tracker").find((o) => o.rep === r.rep);
          return other === undefined || other.relaysPerSec === 0
            ? NaN
            : r.relaysPerSec / other.relaysPerSec;
        }),
      );
    return {
      shape: shape.name,
      swarmSize: shape.swarmSize,
      offersPerAnnounce: shape.offers,
      sdp: shape.sdp,
      connections: n,
      hivecast: stats("hivecast"),
      "bittorrent-tracker": stats("bittorrent-tracker"),
      throughputRatio: ratio("hivecast"),
      ...(floor ? { "ws-floor": stats("ws-floor"), floorThroughputRatio: ratio("ws-floor") } : {}),
    };
  }),
);

const largestSize = Math.max(...sizes);
const largest = summary.filter((x) => x.connections === largestSize);
const result = {
  benchmark: "signaling",
  quick,
  date: new Date().toISOString(),
  machine: {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "",
    node: process.version,
    pinned: hasTaskset,
  },
  params: {
    sizes,
    reps,
    shapes,
    throughputSeconds,
    throughputWindow: window,
    floor,
    latencyRate,
    latencySeconds,
  },
  goals: {
    throughputAtLeast2x: summary.every((s) => s.throughputRatio.median >= 2),
    throughputAtLeast2xByShape: Object.fromEntries(
      shapes.map((shape) => [
        shape.name,
        summary.filter((s) => s.shape === shape.name).every((s) => s.throughputRatio.median >= 2),
      ]),
    ),
    rssPerIdleConnAtMost10KB: summary.every((s) => s.hivecast.rssPerIdleConnBytes.median <= 10_000),
    marginalRssPerIdleConnAtMost10KB: summary.every(
      (s) => s.hivecast.rssPerIdleConnMarginalBytes.median <= 10_000,
    ),
    largestSizeHeldWithP99AtMost50ms:
      largest.length > 0 &&
      largest.every(
        (s) => s.hivecast.connected.min === s.connections && s.hivecast.p99Ms.median <= 50,
      ),
  },
  summary,
  runs,
};
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(result, null, 2) + "\n");

const rows = [
  [
    "shape",
    "conns",
    "server",
    "relays/s (min–max)",
    "ratio",
    "p50 ms",
    "p99 ms",
    "KiB/idle conn",
    "marginal",
    "cpu",
  ],
];
for (const s of summary) {
  for (const k of kinds) {
    const v = s[k];
    if (v === undefined) continue;
    const ratio =
      k === "hivecast" ? s.throughputRatio : k === "ws-floor" ? s.floorThroughputRatio : undefined;
    rows.push([
      s.shape,
      String(s.connections),
      k,
      `${v.relaysPerSec.median} (${v.relaysPerSec.min}–${v.relaysPerSec.max})`,
      ratio === undefined ? "" : `${ratio.median.toFixed(2)}×`,
      String(v.p50Ms.median),
      String(v.p99Ms.median),
      (v.rssPerIdleConnBytes.median / 1024).toFixed(1),
      (v.rssPerIdleConnMarginalBytes.median / 1024).toFixed(1),
      String(v.serverCpuShare.median),
    ]);
  }
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  "));
console.log(`goals: ${JSON.stringify(result.goals)}  → ${out}`);
