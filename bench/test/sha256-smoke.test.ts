/** Smoke run of the SHA-256 speed benchmark (--quick) and a check of its JSON. */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { at, isNum, runBenchScript } from "../lib/child.js";

const dir = mkdtempSync(join(tmpdir(), "sha256-smoke-"));
const out = join(dir, "sha256.json");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("sha256 benchmark smoke", () => {
  it("runs --quick and writes WebCrypto and pure-JS throughput", async () => {
    const { code, output } = await runBenchScript(
      "bench/sha256/run.ts",
      ["--quick", "--out", out],
      60_000,
    );
    expect(code, output).toBe(0);
    const r: unknown = JSON.parse(readFileSync(out, "utf8"));
    expect(at(r, "bench")).toBe("sha256");
    const results = at(r, "results");
    expect(Array.isArray(results) && results.length).toBe(1);
    const row: unknown = Array.isArray(results) ? results[0] : undefined;
    for (const k of ["webCryptoMiBps", "pureJsMiBps", "ratio"]) {
      expect(isNum(at(row, k))).toBe(true);
      expect(Number(at(row, k))).toBeGreaterThan(0);
    }
  });
});
