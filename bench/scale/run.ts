/**
 * Scale benchmark (BENCHMARKS.md item 5).
 *
 *   npx tsx bench/scale/run.ts [--quick] [--viewers 10,100,1000,10000] [--seconds 40] [--seed 1]
 *
 * The engine's P2P layer (real `P2PSegmentSource`, swarm, peer protocol and scheduler) for N
 * simulated viewers of one live stream, over the in-memory transport and tracker, in virtual
 * time (see sim.ts). Reports offload and CDN egress per segment against N and writes
 * bench/results/scale.json. Never fails on a number.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { simulate, type SimOptions, type SimResult } from "./sim.js";

const root = fileURLToPath(new URL("../../", import.meta.url));

function parseArgs(argv: readonly string[]): {
  quick: boolean;
  viewers: number[];
  base: Omit<SimOptions, "viewers">;
  out: string;
} {
  const quick = argv.includes("--quick");
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const num = (name: string, dflt: number): number => {
    const v = value(name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number`);
    return n;
  };
  const list = value("--viewers");
  const viewers = list
    ? list.split(",").map((s) => {
        const n = Number(s);
        if (!Number.isInteger(n) || n < 1) throw new Error(`--viewers: bad count ${s}`);
        return n;
      })
    : quick
      ? [10, 100]
      : [10, 100, 1000, 10000];
  return {
    quick,
    viewers,
    out: value("--out") ?? `${root}bench/results/scale${quick ? "-quick" : ""}.json`,
    base: {
      seconds: num("--seconds", quick ? 30 : 40),
      joinSpreadS: num("--join-spread", quick ? 6 : 10),
      segmentS: 2,
      liveWindow: 6,
      liveSyncCount: 3,
      // ≈ one 2 s segment of the fixture's top rendition (≈ 0.5 Mbit/s).
      segmentBytes: num("--segment-bytes", 128 * 1024),
      httpRttMs: 40,
      httpBytesPerSec: 2_500_000,
      peerLatencyMs: 20,
      peerLinkBytesPerSec: 1_250_000,
      uploadBytesPerSec: num("--upload-bps", 1_250_000),
      trackerLatencyMs: 20,
      seed: num("--seed", 1),
    },
  };
}

async function main(): Promise<void> {
  const { quick, viewers, base, out } = parseArgs(process.argv.slice(2));
  const results: SimResult[] = [];
  const write = (): void => {
    const result = {
      bench: "scale",
      date: new Date().toISOString(),
      complete: results.length === viewers.length,
      mode: quick ? "quick" : "full",
      model: {
        what: "real @hivecast/core P2P layer (P2PSegmentSource, Swarm, peer protocol, Scheduler) per viewer, MemoryNetwork + a random-peer in-memory tracker (tracker.ts), virtual clock",
        viewer:
          "refreshes the live playlist every target duration (own phase), loads segments in order from liveSyncDurationCount behind the edge, asks peers first with the Engine's budget (deadline − 1.5 × expected HTTP − 300 ms), else HTTP; stores, announces, evicts after the window; stalls when a segment is late",
        notSimulated:
          "SHA-256 verification cost, ABR (one rendition), churn, NAT failures, CPU limits of real browsers",
        ...base,
      },
      results,
    };
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(
      out,
      `${JSON.stringify(result, (_k, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2)}\n`,
    );
  };
  for (const n of viewers) {
    process.stderr.write(`scale: ${n} viewers ...`);
    const r = await simulate({
      ...base,
      viewers: n,
      progress: n >= 1000 ? (s) => process.stderr.write(` ${s}s`) : undefined,
    });
    results.push(r);
    write(); // after each audience size, so a long run keeps what it finished
    process.stderr.write(
      ` offload ${r.offload.toFixed(3)} (limit ${r.limit.toFixed(3)}), CDN copies/segment ${r.cdnCopiesPerSegmentMean.toFixed(1)}, stalls ${r.stalls}, ${r.wallS.toFixed(1)} s\n`,
    );
  }
  const rows = [
    [
      "viewers",
      "offload",
      "limit",
      "CDN copies/seg",
      "max",
      "CDN MB/seg",
      "egress share",
      "stalls",
      "stalled",
      "startup ms",
      "latency s",
      "p2p wait ms",
      "peers",
      "wall s",
    ],
    ...results.map((r) => [
      String(r.viewers),
      r.offload.toFixed(3),
      r.limit.toFixed(3),
      r.cdnCopiesPerSegmentMean.toFixed(2),
      String(r.cdnCopiesPerSegmentMax),
      (r.cdnBytesPerSegment / 1e6).toFixed(3),
      r.cdnEgressShare.toFixed(3),
      String(r.stalls),
      String(r.viewersStalled),
      r.startupMsMedian.toFixed(0),
      r.latencySMedian.toFixed(1),
      r.p2pWaitMsMedian.toFixed(0),
      String(r.peersMedian),
      r.wallS.toFixed(1),
    ]),
  ];
  const w = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  process.stdout.write(
    `scale: ${base.seconds} s of live, segment ${base.segmentBytes} B / ${base.segmentS} s\n` +
      rows.map((r) => r.map((x, c) => x.padStart(w[c] ?? 0)).join("  ")).join("\n") +
      `\nwrote ${out}\n`,
  );
}

main().catch((e: unknown) => {
  process.stderr.write(
    `scale bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
  );
  process.exitCode = 1;
});
