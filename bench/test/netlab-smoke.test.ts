/**
 * Smoke run of the NAT-lab swarm benchmark so it cannot rot: quick mode (2 viewers — one behind
 * an endpoint-independent NAT, one behind a symmetric NAT — 15 s, plain hls.js + Hivecast, one
 * repetition) as a child process, then a check of the JSON shape and that no lab namespace is
 * left behind. Needs root (network namespaces); skipped with the reason otherwise. No number goals.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { at, isNum, isSpread, runBenchScript } from "../lib/child.js";
import { labUnavailableReason, listNamespaces } from "../../e2e/netlab/lab.js";

const unavailable = labUnavailableReason();
const dir = mkdtempSync(join(tmpdir(), "netlab-smoke-"));
const out = join(dir, "netlab.json");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(unavailable !== null)(
  `NAT-lab benchmark smoke${unavailable ? ` (skipped: ${unavailable})` : ""}`,
  () => {
    it("runs --quick in the lab and writes per-arm results, leaving no namespace behind", async () => {
      const before = new Set(await listNamespaces());
      const { code, output } = await runBenchScript(
        "bench/netlab/run.ts",
        ["--quick", "--out", out],
        150_000,
      );
      expect(code, output).toBe(0);
      const r: unknown = JSON.parse(readFileSync(out, "utf8"));
      expect(at(r, "bench")).toBe("netlab");
      expect(at(r, "mode")).toBe("quick");
      expect(at(r, "viewers")).toBe(2);
      expect(at(r, "nats")).toEqual(["eim", "symmetric"]);
      for (const arm of ["plain", "hivecast"]) {
        for (const f of ["offload", "stalls", "latencyS", "relayedShare", "setupP50Ms"])
          expect(isSpread(at(r, "summary", arm, f)), `${arm}.${f}`).toBe(true);
        expect(typeof at(r, "summary", arm, "linksByNatPair")).toBe("object");
      }
      const runs = at(r, "runs");
      expect(Array.isArray(runs) && runs.length).toBe(2);
      // Both viewers of the plain arm played bytes fetched through the lab's counting proxy.
      const plain = Array.isArray(runs) ? runs.find((x) => at(x, "arm") === "plain") : undefined;
      for (const v of [0, 1]) {
        const bytes = at(plain, "viewers", v, "originSegmentBytes");
        expect(isNum(bytes) && bytes > 0, output).toBe(true);
      }
      const leftover = (await listNamespaces()).filter(
        (n) => !before.has(n) && n.startsWith("hcl"),
      );
      expect(leftover).toEqual([]);
    }, 170_000);
  },
);
