/**
 * Smoke run of the Chromium attack benchmark so it cannot rot: 2 viewers, a short run, the
 * control plus two attackers that need the live follower (a liar that announces every new
 * segment, a leech that downloads them), as a child process; then a check of the JSON it
 * writes. No number goals here: the one invariant checked is that the liar was heard (it
 * opened links), so a follower that never finds the stream fails.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { at, isNum, runBenchScript } from "../lib/child.js";

const dir = mkdtempSync(join(tmpdir(), "attack-browser-smoke-"));
const out = join(dir, "attack-browser.json");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("Chromium attack benchmark smoke", () => {
  it("runs control, size-liar and leech against 2 Chromium viewers and writes one row each", async () => {
    const { code, output } = await runBenchScript(
      "bench/attack/browser.ts",
      ["--viewers", "2", "--seconds", "10", "--modes", "size-liar,leech", "--out", out],
      150_000,
    );
    expect(code, output).toBe(0);
    const r: unknown = JSON.parse(readFileSync(out, "utf8"));
    expect(at(r, "bench")).toBe("attack-browser");
    const rows = at(r, "results");
    const list = Array.isArray(rows) ? rows : [];
    expect(list.map((x) => at(x, "mode"))).toEqual(["control", "size-liar", "leech"]);
    for (const row of list) {
      for (const k of ["offload", "offloadVsControl", "stalls", "rendererCpu"])
        expect(isNum(at(row, k)), `${String(at(row, "mode"))}.${k}`).toBe(true);
      const uploaded = at(row, "uploadedBytes");
      expect(Array.isArray(uploaded) ? uploaded.length : -1).toBe(2);
    }
    const liar = list[1];
    expect(at(liar, "attacker", "identities")).toBe(1);
    expect(Number(at(liar, "attacker", "connections"))).toBeGreaterThan(0);
  }, 180_000);
});
