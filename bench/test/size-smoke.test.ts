/**
 * Smoke run of the size benchmark: quick mode (builds only when dist is missing) as a child
 * process, then a check of the JSON shape and of the size budgets, which must hold: the entry
 * chunk of `hivecast-esm` (what every page loads) within the default `--budget-kib`, and all
 * its chunks together within `--total-budget-kib`.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { at, isNum, runBenchScript } from "../lib/child.js";

const dir = mkdtempSync(join(tmpdir(), "size-smoke-"));
const out = join(dir, "size.json");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("size benchmark smoke", () => {
  it("runs --quick and writes min/gzip/brotli sizes of ours and p2p-media-loader's bundles", async () => {
    const { code, output } = await runBenchScript(
      "bench/size/run.ts",
      ["--quick", "--out", out],
      85_000,
    );
    expect(code, output).toBe(0);
    const r: unknown = JSON.parse(readFileSync(out, "utf8"));
    expect(at(r, "bench")).toBe("size");
    expect(at(r, "compression", "gzipLevel")).toBe(9);
    const artifacts = at(r, "artifacts");
    const list = Array.isArray(artifacts) ? artifacts : [];
    const names = list.map((a) => at(a, "name"));
    for (const n of [
      "hivecast-iife",
      "hivecast-esm",
      "hivecast-core",
      "p2pml-shipped",
      "p2pml-esm",
    ])
      expect(names, JSON.stringify(at(r, "gaps"))).toContain(n);
    for (const a of list) {
      for (const k of ["rawBytes", "gzipBytes", "brotliBytes"]) expect(isNum(at(a, k))).toBe(true);
      // Compression must shrink minified JS; a gzip larger than its input means a broken measure.
      expect(at(a, "gzipBytes")).toBeLessThan(Number(at(a, "rawBytes")));
      expect(Array.isArray(at(a, "inside"))).toBe(true);
    }
    expect(isNum(at(r, "budget", "bytes"))).toBe(true);
    expect(isNum(at(r, "budget", "totalBytes"))).toBe(true);
    expect(isNum(at(r, "budget", "gzipBytes"))).toBe(true);
    expect(isNum(at(r, "budget", "entryGzipBytes"))).toBe(true);
    // The P2P layer is its own chunk: the entry is well under the whole.
    expect(Number(at(r, "budget", "entryGzipBytes"))).toBeLessThan(
      0.7 * Number(at(r, "budget", "gzipBytes")),
    );
    // The budget is a failing check, not a report: a change that grows the bundle past it is red.
    expect(at(r, "budget", "met"), JSON.stringify(at(r, "budget"))).toBe(true);
  }, 90_000);
});
