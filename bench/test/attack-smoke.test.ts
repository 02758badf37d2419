/**
 * Smoke run of the attack benchmark so it cannot rot: quick mode, a few attack modes over a
 * short virtual run as a child process, then a check of the JSON it writes (fields present,
 * sane types, the control first, no corrupt bytes counted). No number goals here.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { at, isNum, runBenchScript } from "../lib/child.js";

const dir = mkdtempSync(join(tmpdir(), "attack-smoke-"));
const out = join(dir, "attack.json");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("attack benchmark smoke", () => {
  it("runs --quick over a few modes and writes one row per mode", async () => {
    const { code, output } = await runBenchScript(
      "bench/attack/run.ts",
      ["--quick", "--seconds", "12", "--modes", "size-liar,have-flood,leech", "--out", out],
      90_000,
    );
    expect(code, output).toBe(0);
    const r: unknown = JSON.parse(readFileSync(out, "utf8"));
    expect(at(r, "bench")).toBe("attack");
    expect(at(r, "simulated")).toBe(true);
    const rows = at(r, "results");
    expect(Array.isArray(rows)).toBe(true);
    const list = Array.isArray(rows) ? rows : [];
    expect(list.map((x) => at(x, "mode"))).toEqual(["control", "size-liar", "have-flood", "leech"]);
    for (const row of list) {
      for (const k of ["offload", "offloadVsControl", "stalls", "events", "eventsVsControl"])
        expect(isNum(at(row, k)), `${String(at(row, "mode"))}.${k}`).toBe(true);
      expect(Array.isArray(at(row, "uploadBytesPerViewer"))).toBe(true);
      expect(at(row, "sim", "corruptSegments")).toBe(0);
    }
  }, 120_000);
});
