import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

describe("signaling bench smoke", () => {
  it("quick mode writes a result JSON with every field, and offers are relayed in each shape", () => {
    const out = join(mkdtempSync(join(tmpdir(), "sigbench-")), "signaling.json");
    execFileSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "bench/signaling/run.ts",
        "--quick",
        // Five real-size offers per announce, and one tiny offer into one big swarm.
        "--shapes",
        "client-small-swarms,minimal-one-swarm",
        "--out",
        out,
      ],
      { cwd: root, stdio: "ignore", timeout: 110_000 },
    );
    const r = JSON.parse(readFileSync(out, "utf8")) as Record<string, unknown>;
    expect(r.benchmark).toBe("signaling");
    expect(r).toHaveProperty("goals.throughputAtLeast2x");
    expect(r).toHaveProperty("goals.throughputAtLeast2xByShape.client-small-swarms");
    const summary = r.summary as Array<Record<string, unknown>>;
    expect(summary.map((s) => [s.shape, s.offersPerAnnounce, s.sdp])).toEqual([
      ["client-small-swarms", 5, "real"],
      ["minimal-one-swarm", 1, "tiny"],
    ]);
    for (const s of summary) {
      expect(s).toHaveProperty("hivecast.relaysPerSec.median");
      expect(s).toHaveProperty("bittorrent-tracker.p99Ms.median");
      expect(s).toHaveProperty("throughputRatio.median");
    }
    const runs = r.runs as Array<Record<string, unknown>>;
    expect(runs.length).toBe(4);
    for (const run of runs) {
      for (const k of ["relaysPerCpuSecond", "p50Ms", "p99Ms", "rssPerIdleConnBytes"])
        expect(typeof run[k]).toBe("number");
      // Both servers relayed offers of both shapes, and every latency probe arrived.
      expect(run.relaysPerSec).toBeGreaterThan(0);
      expect(run.latencyReceived).toBe(run.latencySent);
    }
  }, 120_000);
});
