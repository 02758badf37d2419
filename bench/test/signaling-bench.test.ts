import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

describe("signaling bench smoke", () => {
  it("quick mode writes a result JSON with every field", () => {
    const out = join(mkdtempSync(join(tmpdir(), "sigbench-")), "signaling.json");
    execFileSync(
      process.execPath,
      ["--import", "tsx", "bench/signaling/run.ts", "--quick", "--out", out],
      { cwd: root, stdio: "ignore", timeout: 110_000 },
    );
    const r = JSON.parse(readFileSync(out, "utf8")) as Record<string, unknown>;
    expect(r.benchmark).toBe("signaling");
    expect(r).toHaveProperty("goals.throughputAtLeast2x");
    const summary = r.summary as Array<Record<string, unknown>>;
    expect(summary[0]).toHaveProperty("hivecast.relaysPerSec.median");
    expect(summary[0]).toHaveProperty("bittorrent-tracker.p99Ms.median");
    expect(summary[0]).toHaveProperty("throughputRatio.median");
    const runs = r.runs as Array<Record<string, unknown>>;
    expect(runs.length).toBe(2);
    for (const k of ["relaysPerSec", "relaysPerCpuSecond", "p50Ms", "p99Ms", "rssPerIdleConnBytes"])
      expect(typeof runs[0]?.[k]).toBe("number");
  }, 120_000);
});
