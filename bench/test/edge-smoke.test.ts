/**
 * Smoke run of the edge benchmark so it cannot rot: --quick (8 clients, 3 s per arm, one
 * repetition; 8 s of live latency per preset) as a child process, then a check of the JSON it writes: every arm present with
 * sane numbers, and the failover arm reports errors after the kill. No number goals here.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { at, isNum, isSpread, runBenchScript } from "../lib/child.js";

const dir = mkdtempSync(join(tmpdir(), "edge-smoke-"));
const out = join(dir, "edge.json");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("edge benchmark smoke", () => {
  it("runs --quick against one origin and the nginx edge and writes every arm", async () => {
    const { code, output } = await runBenchScript(
      "bench/edge/run.ts",
      ["--quick", "--latency-seconds", "8", "--out", out],
      150_000,
    );
    expect(code, output).toBe(0);
    const r: unknown = JSON.parse(readFileSync(out, "utf8"));
    expect(at(r, "bench")).toBe("edge");
    expect(at(r, "quick")).toBe(true);
    const aggregates = at(r, "aggregates");
    const rows = Array.isArray(aggregates) ? aggregates : [];
    expect(rows.map((a) => at(a, "arm"))).toEqual(["origin", "edge", "edge-kill-origin0"]);
    for (const a of rows) {
      for (const k of ["rps", "p50Ms", "p99Ms", "errorRate", "originPerRequest"]) {
        expect(isSpread(at(a, k)), k).toBe(true);
      }
      expect(at(a, "rps", "median")).toBeGreaterThan(0);
    }
    expect(isSpread(at(rows[2], "errorsAfterKill"))).toBe(true);
    // Through the edge, origins see far fewer requests than clients make.
    expect(at(rows[0], "originPerRequest", "median")).toBeCloseTo(1, 1);
    expect(isNum(at(rows[1], "originPerRequest", "median"))).toBe(true);
    // Live latency: both presets, both arms, per viewer (1 plain + 2 Hivecast pages).
    const latency = at(r, "latency");
    const presets = Array.isArray(latency) ? latency : [];
    expect(presets.map((p) => at(p, "preset"))).toEqual(["default", "low-latency"]);
    for (const p of presets) {
      const viewers = at(p, "viewers");
      expect(Array.isArray(viewers) ? viewers.map((v) => at(v, "arm")) : []).toEqual([
        "plain",
        "hivecast",
        "hivecast",
      ]);
    }
  }, 160_000);
});
