/**
 * SHA-256 speed: WebCrypto (secure contexts) against the pure-JS fallback Hivecast loads on
 * pages without `crypto.subtle` (@noble/hashes), on segment-sized inputs, in Node (V8, like
 * Chromium). Median of 3 runs per size; each run hashes the input until ≥ 200 ms have passed.
 *
 *   npx tsx bench/sha256/run.ts [--quick] [--out file]
 *
 * Writes bench/results/sha256.json (`--quick`: sha256-quick.json, one small size).
 */
import { webcrypto } from "node:crypto";
import { sha256HexPureJs } from "../../packages/core/src/sha256.js";
import { Args, defaultOut, machineInfo, printTable, writeResult } from "../lib/cli.js";

const MiB = 1024 * 1024;

async function throughput(
  hash: (d: Uint8Array) => Promise<unknown>,
  data: Uint8Array,
  minMs: number,
): Promise<number> {
  await hash(data); // warm-up (and the fallback's dynamic import)
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < minMs) {
    await hash(data);
    n++;
    t = performance.now();
  }
  return (n * data.length) / MiB / ((t - t0) / 1000);
}

const median = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

async function main(): Promise<void> {
  const a = new Args();
  const quick = a.flag("--quick");
  const out = a.value("--out") ?? defaultOut("sha256", quick);
  const sizes = quick ? [256 * 1024] : [256 * 1024, 2 * MiB, 8 * MiB];
  const minMs = quick ? 50 : 200;
  const startedAt = new Date().toISOString();
  const webCrypto = (d: Uint8Array) => webcrypto.subtle.digest("SHA-256", d);
  const rows: Array<{
    bytes: number;
    webCryptoMiBps: number;
    pureJsMiBps: number;
    ratio: number;
    pureJsMsPerMiB: number;
  }> = [];
  for (const bytes of sizes) {
    const data = new Uint8Array(bytes).map((_, i) => (i * 31) & 0xff);
    const w: number[] = [];
    const p: number[] = [];
    for (let r = 0; r < 3; r++) {
      w.push(await throughput(webCrypto, data, minMs));
      p.push(await throughput(sha256HexPureJs, data, minMs));
    }
    const webCryptoMiBps = median(w);
    const pureJsMiBps = median(p);
    rows.push({
      bytes,
      webCryptoMiBps: Math.round(webCryptoMiBps),
      pureJsMiBps: Math.round(pureJsMiBps),
      ratio: Math.round((webCryptoMiBps / pureJsMiBps) * 10) / 10,
      pureJsMsPerMiB: Math.round((1000 / pureJsMiBps) * 10) / 10,
    });
  }
  writeResult(out, {
    bench: "sha256",
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: await machineInfo(),
    quick,
    repetitions: 3,
    results: rows,
  });
  printTable([
    ["bytes", "WebCrypto MiB/s", "pure JS MiB/s", "ratio", "pure JS ms/MiB"],
    ...rows.map((r) => [
      String(r.bytes),
      String(r.webCryptoMiBps),
      String(r.pureJsMiBps),
      String(r.ratio),
      String(r.pureJsMsPerMiB),
    ]),
  ]);
  console.log(`wrote ${out}`);
}

await main();
