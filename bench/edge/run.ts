/**
 * Edge benchmark: N concurrent HLS clients (closed loop: live playlist, then every segment of
 * its window, again) against one origin directly vs the nginx edge of deploy/nginx in front of
 * two origins, in one run, same stream. Reports per arm: requests/s, p50/p99 response time,
 * error rate, bytes/s and, for the edge, origin requests per edge request (cache efficiency).
 * Then the edge arm again with origin 0 killed halfway (connections reset): errors seen by the
 * clients (goal 0) and the worst response time after the kill.
 *
 *   node --import tsx bench/edge/run.ts [--quick] [--clients 32] [--seconds 10] [--reps 3]
 *                                       [--latency-seconds 30] [--out bench/results/edge.json]
 * Then the live latency (see latency.ts) for the default (2 s) and low-latency (1 s) presets,
 * plain hls.js vs Hivecast with P2P; `--latency-seconds 0` skips it.
 */
import { cp, mkdtemp, rm } from "node:fs/promises";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startOrigins, type OriginCluster } from "@hivecast/origin";
import { Args, defaultOut, repoRoot, writeResult } from "../lib/cli.js";
import { percentile, round, spread, type Spread } from "../lib/stats.js";
import { launchChromium } from "../lib/browser.js";
import { measureLatency, type LatencyResult } from "./latency.js";
import { freePort } from "../../packages/origin/test/media-helpers.js";
import { startNginx, type NginxProcess } from "../../packages/origin/test/nginx-helpers.js";

const args = new Args();
const quick = args.flag("--quick");
const clients = args.int("--clients", quick ? 8 : 32, 1);
const seconds = args.number("--seconds", quick ? 3 : 10, 1);
const reps = args.int("--reps", quick ? 1 : 3, 1);
const latencySeconds = args.number("--latency-seconds", quick ? 12 : 30, 0);
const out = args.value("--out") ?? defaultOut("edge", quick);

interface ArmResult {
  arm: string;
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
  errorRate: number;
  mbPerSec: number;
  /** Origin requests per client request (1 = no cache). */
  originPerRequest: number;
  /** Errors after the kill, and the worst response time after it (failover arm only). */
  errorsAfterKill?: number;
  maxMsAfterKill?: number;
}

interface Sample {
  ms: number;
  ok: boolean;
  bytes: number;
  at: number;
}

function get(agent: Agent, base: URL, path: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: base.hostname, port: base.port, path, agent, timeout: 10_000 },
      (res) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => parts.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

/** One closed-loop client until `deadline`: playlist, then each segment of the window. */
async function client(agent: Agent, base: URL, deadline: number, samples: Sample[]) {
  const timed = async (path: string): Promise<Buffer | undefined> => {
    const t0 = performance.now();
    try {
      const r = await get(agent, base, path);
      const ok = r.status === 200;
      samples.push({ ms: performance.now() - t0, ok, bytes: r.body.length, at: Date.now() });
      return ok ? r.body : undefined;
    } catch {
      samples.push({ ms: performance.now() - t0, ok: false, bytes: 0, at: Date.now() });
      return undefined;
    }
  };
  const variant = Math.random() < 0.5 ? "v0" : "v1";
  while (Date.now() < deadline) {
    const pl = await timed(`/live/${variant}/index.m3u8`);
    if (!pl) continue;
    const uris = pl
      .toString()
      .split("\n")
      .filter((l) => l !== "" && !l.startsWith("#"));
    for (const uri of uris) {
      if (Date.now() >= deadline) break;
      await timed(`/live/${variant}/${uri}`);
    }
  }
}

/** Requests served by the whole cluster (one registry per cluster, read from origin 0). */
async function originRequests(cluster: OriginCluster): Promise<number> {
  let n = 0;
  const res = await fetch(`${cluster.urls[0] ?? ""}metrics`);
  const text = res.ok ? await res.text() : "";
  for (const m of text.matchAll(/^hivecast_origin_requests_total\{[^}]*\} (\d+)/gm)) {
    n += Number(m[1]);
  }
  return n;
}

async function arm(
  name: string,
  base: string,
  cluster: OriginCluster,
  kill?: () => void,
): Promise<ArmResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const samples: Sample[] = [];
  const before = await originRequests(cluster);
  const start = Date.now();
  const deadline = start + seconds * 1000;
  let killedAt = Number.POSITIVE_INFINITY;
  const killer = kill
    ? setTimeout(
        () => {
          killedAt = Date.now();
          kill();
        },
        (seconds * 1000) / 2,
      )
    : undefined;
  await Promise.all(
    Array.from({ length: clients }, () => client(agent, new URL(base), deadline, samples)),
  );
  clearTimeout(killer);
  const elapsed = (Date.now() - start) / 1000;
  agent.destroy();
  // The first /metrics read is counted in the second one.
  const originReqs = (await originRequests(cluster)) - before - 1;
  const ms = samples.map((s) => s.ms);
  const errors = samples.filter((s) => !s.ok).length;
  const after = samples.filter((s) => s.at >= killedAt);
  return {
    arm: name,
    requests: samples.length,
    rps: round(samples.length / elapsed, 1),
    p50Ms: round(percentile(ms, 50), 2),
    p99Ms: round(percentile(ms, 99), 2),
    maxMs: round(Math.max(...ms), 1),
    errors,
    errorRate: round(errors / Math.max(1, samples.length), 5),
    mbPerSec: round(samples.reduce((a, s) => a + s.bytes, 0) / elapsed / 1e6, 2),
    originPerRequest: round(originReqs / Math.max(1, samples.length), 4),
    ...(kill
      ? {
          errorsAfterKill: after.filter((s) => !s.ok).length,
          maxMsAfterKill: round(Math.max(0, ...after.map((s) => s.ms)), 1),
        }
      : {}),
  };
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "hivecast-edge-bench-"));
  const mirrors = [join(work, "m1"), join(work, "m2")];
  for (const m of mirrors) await cp(join(repoRoot, "fixtures/media"), m, { recursive: true });
  const runs: ArmResult[][] = [];
  let nginx: NginxProcess | undefined;
  let cluster: OriginCluster | undefined;
  try {
    for (let rep = 0; rep < reps; rep++) {
      // One cluster (shared live clock) with one directory per origin; fresh per repetition.
      cluster = await startOrigins({ dir: mirrors, origins: 2 });
      const port = await freePort();
      nginx = await startNginx(
        "nginx/edge.conf.template",
        {
          LISTEN: `127.0.0.1:${port}`,
          ORIGIN_1: new URL(cluster.urls[0] ?? "").host,
          ORIGIN_2: new URL(cluster.urls[1] ?? "").host,
          CACHE_MAX: "256m",
        },
        { host: "127.0.0.1", port },
      );
      const edge = `http://127.0.0.1:${port}/`;
      const c = cluster;
      const rows = [
        await arm("origin", cluster.urls[0] ?? "", c),
        await arm("edge", edge, c),
        await arm("edge-kill-origin0", edge, c, () => c.setFaults(0, { down: true })),
      ];
      runs.push(rows);
      for (const r of rows) {
        console.log(
          `rep ${rep + 1} ${r.arm.padEnd(18)} ${String(r.rps).padStart(8)} req/s  p50 ${r.p50Ms} ms  p99 ${r.p99Ms} ms  errors ${r.errors}  origin/req ${r.originPerRequest}${r.errorsAfterKill !== undefined ? `  errors after kill ${r.errorsAfterKill}, worst ${r.maxMsAfterKill} ms` : ""}`,
        );
      }
      await nginx.stop();
      nginx = undefined;
      await cluster.close();
      cluster = undefined;
    }
  } finally {
    await nginx?.stop();
    await cluster?.close();
    await rm(work, { recursive: true, force: true });
  }
  const arms = ["origin", "edge", "edge-kill-origin0"];
  const pick = (a: string, k: keyof ArmResult): Spread =>
    spread(runs.map((r) => Number(r.find((x) => x.arm === a)?.[k] ?? Number.NaN)));
  const aggregates = arms.map((a) => ({
    arm: a,
    rps: pick(a, "rps"),
    p50Ms: pick(a, "p50Ms"),
    p99Ms: pick(a, "p99Ms"),
    errorRate: pick(a, "errorRate"),
    originPerRequest: pick(a, "originPerRequest"),
    ...(a === "edge-kill-origin0"
      ? { errorsAfterKill: pick(a, "errorsAfterKill"), maxMsAfterKill: pick(a, "maxMsAfterKill") }
      : {}),
  }));
  const edgeVsOrigin = spread(
    runs.map((r) => {
      const o = r.find((x) => x.arm === "origin")?.rps ?? Number.NaN;
      const e = r.find((x) => x.arm === "edge")?.rps ?? Number.NaN;
      return e / o;
    }),
  );
  const latency: LatencyResult[] = [];
  if (latencySeconds > 0) {
    const browser = await launchChromium();
    try {
      for (const preset of [
        { name: "default", segmentSeconds: 2, window: 6 },
        { name: "low-latency", segmentSeconds: 1, window: 8 },
      ]) {
        const r = await measureLatency(browser, preset, latencySeconds);
        latency.push(r);
        for (const a of r.arms) {
          console.log(
            `latency ${preset.name.padEnd(12)} ${a.arm.padEnd(9)} p50 ${a.p50Ms} ms  p95 ${a.p95Ms} ms`,
          );
        }
      }
    } finally {
      await browser.close();
    }
  }
  writeResult(out, {
    bench: "edge",
    quick,
    clients,
    seconds,
    reps,
    load: "closed loop per client: live media playlist, then each segment of its 6-segment window; fixture stream (2 renditions), 2 origins on loopback, nginx edge of deploy/nginx",
    aggregates,
    edgeRpsOverOrigin: edgeVsOrigin,
    runs,
    latency,
  });
  console.log(`edge / origin req/s: ${round(edgeVsOrigin.median, 2)} (median of ${reps})`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
