/**
 * Smoke run of the swarm benchmark so it cannot rot: the smallest quick mode (2 viewers, 8 s,
 * plain hls.js + Hivecast, one repetition) as a child process, then a check that the JSON it
 * writes has the per-arm fields with sane types. No number goals here (those live in the
 * benchmark's own report).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "swarm-smoke-"));
const out = join(dir, "swarm.json");

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runBench(args: readonly string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "bench/swarm/run.ts", ...args], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 80_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

// The late joiner in its own pinned Chromium where the machine allows it (Linux, 2+ CPUs).
const pinLate = process.platform === "linux" && cpus().length >= 2;

const isNum = (x: unknown): boolean => typeof x === "number" && Number.isFinite(x);
const isSpread = (x: unknown): boolean =>
  typeof x === "object" &&
  x !== null &&
  ["median", "min", "max"].every((k) => {
    const v: unknown = Reflect.get(x, k);
    return v === null || isNum(v);
  }) &&
  isNum(Reflect.get(x, "n"));

describe("swarm benchmark smoke", () => {
  it("runs 2 viewers × 8 s (plain + Hivecast) and writes per-arm results", async () => {
    const { code, output } = await runBench([
      "--quick",
      "--viewers",
      "2",
      "--seconds",
      "8",
      "--reps",
      "1",
      "--arms",
      "plain,hivecast",
      "--cpu-throttle",
      "2",
      "--out",
      out,
      ...(pinLate ? ["--late-own-core"] : []),
    ]);
    expect(code, output).toBe(0);
    const json: unknown = JSON.parse(readFileSync(out, "utf8"));
    expect(json).toMatchObject({ bench: "swarm", mode: "quick", viewers: 2, seconds: 8, reps: 1 });
    const summary: unknown = Reflect.get(Object(json), "summary");
    const skipped: unknown = Reflect.get(Object(json), "skipped");
    const runs: unknown = Reflect.get(Object(json), "runs");
    expect(Array.isArray(runs)).toBe(true);

    // plain hls.js always runs; Hivecast either ran or says why it was skipped.
    const arms = ["plain", "hivecast"];
    for (const arm of arms) {
      const s: unknown = Reflect.get(Object(summary), arm);
      if (s === undefined) {
        expect(arm, "only Hivecast may be skipped").toBe("hivecast");
        expect(typeof Reflect.get(Object(skipped), arm)).toBe("string");
        continue;
      }
      for (const field of [
        "offload",
        "originRatio",
        "startupMs",
        "startupVsPlain",
        "stalls",
        "stallMs",
        "failedSegments",
        "latencyS",
        "startupP95Ms",
        "lateStartupP95Ms",
        "lateStartupP95VsPlainP95",
        "lateLatencyS",
        "latencyMaxS",
        "rtcCreated",
        "rtcConnected",
      ]) {
        expect(isSpread(Reflect.get(Object(s), field)), `${arm}.${field}`).toBe(true);
      }
      expect(Reflect.get(Object(s), "runs")).toBe(1);
      // The warm figure needs a second repetition: written, and null with one.
      expect(Reflect.get(Object(Reflect.get(Object(s), "pooled")), "warm")).toBeNull();
    }
    const plainRun: unknown = Array.isArray(runs)
      ? runs.find((r: unknown) => Reflect.get(Object(r), "arm") === "plain")
      : undefined;
    const viewers: unknown = Reflect.get(Object(plainRun), "viewers");
    expect(Array.isArray(viewers) && viewers.length).toBe(2);
    expect(Reflect.get(Object(json), "cpuThrottle")).toBe(2);
    if (pinLate)
      expect(Reflect.get(Object(json), "lateOwnCore")).toMatch(
        /^late joiners' Chromium on CPU \d+/,
      );
    // Peer connections are counted in the page: plain hls.js makes none; Hivecast, when it ran,
    // made some (its viewers joined the swarm after their first frame).
    const rtcOf = (arm: string): number[] => {
      const run: unknown = Array.isArray(runs)
        ? runs.find((r: unknown) => Reflect.get(Object(r), "arm") === arm)
        : undefined;
      const vs: unknown = Reflect.get(Object(run), "viewers");
      return (Array.isArray(vs) ? vs : []).map((v: unknown) =>
        Number(
          Reflect.get(
            Object(Reflect.get(Object(Reflect.get(Object(v), "metrics")), "rtc")),
            "created",
          ),
        ),
      );
    };
    expect(rtcOf("plain")).toEqual([0, 0]);
    if (Reflect.get(Object(summary), "hivecast") !== undefined)
      expect(rtcOf("hivecast").reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    // Start-up and latency per viewer; with 2 viewers, the second is the late joiner.
    const perViewer: unknown = Reflect.get(Object(plainRun), "perViewer");
    expect(
      Array.isArray(perViewer) && perViewer.map((t) => Reflect.get(Object(t), "late")),
    ).toEqual([false, true]);
    for (const t of Array.isArray(perViewer) ? perViewer : [])
      for (const k of ["startupMs", "latencyS"]) {
        const v: unknown = Reflect.get(Object(t), k);
        expect(v === null || isNum(v), `${k} of ${JSON.stringify(t)}`).toBe(true);
      }
    // Both plain viewers pulled segment bytes through the counting proxy and played them.
    for (const v of Array.isArray(viewers) ? viewers : []) {
      const origin: unknown = Reflect.get(Object(v), "origin");
      expect(Reflect.get(Object(origin), "segments")).toBeGreaterThan(0);
      const metrics: unknown = Reflect.get(Object(v), "metrics");
      expect(Reflect.get(Object(metrics), "bytesPlayed")).toBeGreaterThan(0);
    }
  }, 90_000);
});
