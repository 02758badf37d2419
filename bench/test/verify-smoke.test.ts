/**
 * Smoke run of the verify benchmark: quick mode (2 short repetitions per buffer size in
 * Chromium and Node) as a child process, then a check of the JSON shape. No number goals.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { at, isNum, isSpread, runBenchScript } from "../lib/child.js";

const dir = mkdtempSync(join(tmpdir(), "verify-smoke-"));
const out = join(dir, "verify.json");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("verify benchmark smoke", () => {
  it("runs --quick and writes throughput per buffer size and cost per bitrate", async () => {
    const { code, output } = await runBenchScript(
      "bench/verify/run.ts",
      ["--quick", "--out", out],
      60_000,
    );
    expect(code, output).toBe(0);
    const r: unknown = JSON.parse(readFileSync(out, "utf8"));
    expect(at(r, "bench")).toBe("verify");
    expect(String(at(r, "chromium", "userAgent"))).toMatch(/Chrom/);
    for (const env of ["chromium", "node"]) {
      const sizes = at(r, env, "sizes");
      expect(Array.isArray(sizes) && sizes.map((s) => at(s, "bytes"))).toEqual([
        131072, 524288, 1048576, 4194304,
      ]);
      for (const s of Array.isArray(sizes) ? sizes : []) {
        expect(isSpread(at(s, "mbPerSec"))).toBe(true);
        expect(at(s, "mbPerSec", "median")).toBeGreaterThan(0);
        expect(isSpread(at(s, "msPerDigest"))).toBe(true);
      }
    }
    const costs = at(r, "chromium", "costs");
    expect(Array.isArray(costs) && costs.length).toBe(4);
    for (const c of Array.isArray(costs) ? costs : []) {
      expect(isNum(at(c, "segmentBytes"))).toBe(true);
      expect(isSpread(at(c, "percentOfSegment"))).toBe(true);
    }
    expect(typeof at(r, "goals", "verifyCost", "met")).toBe("boolean");
  }, 60_000);
});
