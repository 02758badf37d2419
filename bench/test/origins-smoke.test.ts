/**
 * Smoke run of the origins benchmark so it cannot rot: quick mode (healthy + slow origin, both
 * arms, 5 s each, one repetition; a 1 MiB split-range measurement) as a child process, then a
 * check of the JSON it writes: fields present with sane types. No number goals here.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { at, isNum, isSpread, runBenchScript } from "../lib/child.js";

const dir = mkdtempSync(join(tmpdir(), "origins-smoke-"));
const out = join(dir, "origins.json");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("origins benchmark smoke", () => {
  it("runs --quick and writes playback aggregates, per-run samples and split throughput", async () => {
    const { code, output } = await runBenchScript(
      "bench/origins/run.ts",
      ["--quick", "--seconds", "5", "--out", out],
      80_000,
    );
    expect(code, output).toBe(0);
    const r: unknown = JSON.parse(readFileSync(out, "utf8"));
    expect(at(r, "bench")).toBe("origins");
    expect(at(r, "quick")).toBe(true);

    const aggregates = at(r, "playback", "aggregates");
    expect(Array.isArray(aggregates)).toBe(true);
    const rows = Array.isArray(aggregates) ? aggregates : [];
    // 2 scenarios × 2 arms in quick mode.
    expect(rows.map((a) => `${String(at(a, "scenario"))}/${String(at(a, "arm"))}`).sort()).toEqual([
      "healthy/hivecast",
      "healthy/plain",
      "slow/hivecast",
      "slow/plain",
    ]);
    for (const a of rows) {
      for (const k of [
        "p50Ms",
        "p95Ms",
        "stalls",
        "stallMs",
        "fragErrors",
        "failedSegments",
        "p95VsHealthy",
      ])
        expect(isSpread(at(a, k)), `${k} of ${JSON.stringify(a).slice(0, 200)}`).toBe(true);
      expect(isNum(at(a, "runs"))).toBe(true);
    }
    const runs = at(r, "playback", "runs");
    expect(Array.isArray(runs) && runs.length).toBe(4);
    for (const run of Array.isArray(runs) ? runs : []) {
      const err = at(run, "error");
      expect(err === null || typeof err === "string").toBe(true);
      if (err === null) {
        expect(Array.isArray(at(run, "samplesMs"))).toBe(true);
        expect(isNum(at(run, "stalls"))).toBe(true);
      }
    }
    // Plain hls.js on a healthy loopback origin must have played and loaded segments.
    const plainHealthy = (Array.isArray(runs) ? runs : []).find(
      (x) => at(x, "scenario") === "healthy" && at(x, "arm") === "plain",
    );
    expect(at(plainHealthy, "error")).toBeNull();
    expect(at(plainHealthy, "segments")).toBeGreaterThan(0);

    for (const arm of ["one-origin", "three-split", "three-nosplit"]) {
      expect(isSpread(at(r, "split", "arms", arm, "ms"))).toBe(true);
      expect(isSpread(at(r, "split", "arms", arm, "mbPerSec"))).toBe(true);
    }
    expect(isSpread(at(r, "split", "ratio3v1"))).toBe(true);
    expect(isNum(at(r, "split", "arms", "one-origin", "ms", "median"))).toBe(true);
    for (const g of ["hivecastZeroRebuffers", "hivecastSlowP95", "splitThroughput"]) {
      const met = at(r, "goals", g, "met");
      expect(met === null || typeof met === "boolean").toBe(true);
    }
  }, 90_000);
});
