/**
 * Prints Markdown tables of the origins, verify and size results (for bench/README.md and the
 * root README):  npx tsx bench/lib/markdown.ts [results-dir]
 * Reads the JSON files defensively: a missing file or field prints "–".
 */
import { existsSync, readFileSync } from "node:fs";
import { repoRoot } from "./cli.js";

const dir = process.argv[2] ?? `${repoRoot}bench/results`;

function load(name: string): unknown {
  const p = `${dir}/${name}.json`;
  return existsSync(p) ? JSON.parse(readFileSync(p, "utf8")) : undefined;
}
function at(x: unknown, ...path: (string | number)[]): unknown {
  let cur: unknown = x;
  for (const k of path) {
    if (typeof cur !== "object" || cur === null) return undefined;
    cur = Reflect.get(cur, k);
  }
  return cur;
}
const num = (x: unknown): number | undefined =>
  typeof x === "number" && Number.isFinite(x) ? x : undefined;
function sp(x: unknown, digits = 0): string {
  const m = num(at(x, "median"));
  if (m === undefined) return "–";
  const lo = num(at(x, "min"));
  const hi = num(at(x, "max"));
  const f = (v: number): string => v.toFixed(digits);
  return lo !== undefined && hi !== undefined && num(at(x, "n")) !== 1 && lo !== hi
    ? `${f(m)} (${f(lo)}–${f(hi)})`
    : f(m);
}
function table(head: string[], rows: string[][]): string {
  return [
    `| ${head.join(" | ")} |`,
    `| ${head.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}
const list = (x: unknown): unknown[] => (Array.isArray(x) ? x : []);

for (const name of ["origins", "origins-vod"]) {
  const origins = load(name);
  if (origins === undefined) continue;
  console.log(
    `### origins (${String(at(origins, "options", "mode"))}, ${String(at(origins, "options", "seconds"))} s × ${String(at(origins, "options", "reps"))} reps)\n`,
  );
  console.log(
    table(
      [
        "scenario",
        "arm",
        "segment p50 ms",
        "segment p95 ms",
        "loader p95 ms",
        "p95 ÷ healthy p95",
        "rebuffers",
        "stall ms",
        "frag errors",
        "never started",
        "bytes from origin 0",
      ],
      list(at(origins, "playback", "aggregates")).map((a) => [
        String(at(a, "scenario")),
        String(at(a, "arm")),
        sp(at(a, "p50Ms")),
        sp(at(a, "p95Ms")),
        sp(at(a, "statsP95Ms")),
        sp(at(a, "p95VsHealthy"), 2),
        sp(at(a, "stalls")),
        sp(at(a, "stallMs")),
        sp(at(a, "fragErrors")),
        `${String(at(a, "neverStarted"))}/${String(at(a, "runs"))}`,
        at(a, "arm") === "hivecast" ? sp(at(a, "affectedOriginShare"), 2) : "–",
      ]),
    ),
  );
  const split = at(origins, "split");
  if (typeof split === "object" && split !== null) {
    console.log(
      `\nSplit ranges: ${((num(at(split, "bytes")) ?? 0) / 1048576).toFixed(0)} MiB segment, each origin capped at ${((num(at(split, "capBytesPerSec")) ?? 0) / 1048576).toFixed(2)} MiB/s\n`,
    );
    console.log(
      table(
        ["arm", "ms", "MB/s"],
        [
          ...["one-origin", "three-split", "three-nosplit"].map((k) => [
            k,
            sp(at(split, "arms", k, "ms")),
            sp(at(split, "arms", k, "mbPerSec"), 2),
          ]),
          ["**3 split ÷ 1 origin**", "", sp(at(split, "ratio3v1"), 2)],
        ],
      ),
    );
  }
  console.log("\nGoals:");
  const goals = at(origins, "goals");
  for (const g of typeof goals === "object" && goals !== null ? Object.values(goals) : [])
    console.log(
      `- ${at(g, "met") === true ? "met" : at(g, "met") === false ? "**missed**" : "n/a"}: ${String(at(g, "goal"))} → ${String(at(g, "value"))}`,
    );
}

const verify = load("verify");
if (verify !== undefined) {
  console.log(`\n### verify (SHA-256, ${String(at(verify, "options", "reps"))} reps)\n`);
  const node = list(at(verify, "node", "sizes"));
  console.log(
    table(
      ["buffer", "Chromium MB/s", "ms per digest", "Node MB/s"],
      list(at(verify, "chromium", "sizes")).map((s, i) => [
        `${(num(at(s, "bytes")) ?? 0) / 1024} KiB`,
        sp(at(s, "mbPerSec")),
        sp(at(s, "msPerDigest"), 3),
        sp(at(node[i], "mbPerSec")),
      ]),
    ),
  );
  console.log("");
  console.log(
    table(
      ["bitrate", "2 s segment", "verify ms", "% of segment duration"],
      list(at(verify, "chromium", "costs")).map((c) => [
        String(at(c, "label")),
        `${((num(at(c, "segmentBytes")) ?? 0) / 1024).toFixed(0)} KiB`,
        sp(at(c, "ms"), 2),
        sp(at(c, "percentOfSegment"), 3),
      ]),
    ),
  );
}

const size = load("size");
if (size !== undefined) {
  console.log("\n### size (min + gzip -9; hls.js not included)\n");
  const k = (x: unknown): string =>
    num(x) === undefined ? "–" : ((num(x) ?? 0) / 1024).toFixed(1);
  console.log(
    table(
      ["artifact", "min KiB", "min+gzip KiB", "min+brotli KiB", "what"],
      list(at(size, "artifacts")).map((a) => [
        String(at(a, "name")),
        k(at(a, "rawBytes")),
        k(at(a, "gzipBytes")),
        k(at(a, "brotliBytes")),
        String(at(a, "what")),
      ]),
    ),
  );
}
