#!/usr/bin/env node
/**
 * Runs every benchmark: each bench/<name>/run.ts in turn (as `node --import tsx`), passing
 * `--quick` through when given. A failing benchmark does not stop the others; the summary at
 * the end lists each one's exit status, time and result file. Exits non-zero only when a
 * benchmark crashed (a benchmark never fails on a number).
 *
 *   node bench/run-all.mjs [--quick] [--only origins,verify]
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

const benchDir = fileURLToPath(new URL(".", import.meta.url));
const root = fileURLToPath(new URL("..", import.meta.url));
const argv = process.argv.slice(2);
const quick = argv.includes("--quick");
const onlyIdx = argv.indexOf("--only");
const only = onlyIdx >= 0 ? (argv[onlyIdx + 1] ?? "").split(",").filter(Boolean) : null;

const names = readdirSync(benchDir)
  .filter((d) => !["node_modules", "results", "lib", "test"].includes(d))
  .filter((d) => statSync(`${benchDir}${d}`).isDirectory() && existsSync(`${benchDir}${d}/run.ts`))
  .filter((d) => only === null || only.includes(d))
  .sort();

/** Runs one benchmark, streaming its output; resolves with its exit code and duration. */
function runOne(name) {
  return new Promise((resolve) => {
    const started = Date.now();
    const args = ["--import", "tsx", `bench/${name}/run.ts`, ...(quick ? ["--quick"] : [])];
    const child = spawn(process.execPath, args, { cwd: root, stdio: "inherit" });
    child.on("error", (e) =>
      resolve({ name, code: -1, error: String(e), ms: Date.now() - started }),
    );
    child.on("close", (code, signal) =>
      resolve({
        name,
        code: code ?? -1,
        error: signal ? `killed by ${signal}` : null,
        ms: Date.now() - started,
      }),
    );
  });
}

const results = [];
for (const name of names) {
  console.log(`\n=== bench/${name} ${quick ? "(quick)" : ""} ===`);
  results.push(await runOne(name));
}

console.log("\n=== summary ===");
for (const r of results) {
  // Quick runs of some benchmarks write <name>-quick.json, others <name>.json.
  const out = [
    `bench/results/${r.name}${quick ? "-quick" : ""}.json`,
    `bench/results/${r.name}.json`,
  ].find((p) => existsSync(`${root}${p}`));
  const status = r.code === 0 ? "ok" : `FAILED (exit ${r.code}${r.error ? `, ${r.error}` : ""})`;
  console.log(
    `${r.name.padEnd(12)} ${status.padEnd(24)} ${(r.ms / 1000).toFixed(1).padStart(7)} s  ${out ?? "(no result file)"}`,
  );
}
const failed = results.filter((r) => r.code !== 0).length;
console.log(`${results.length - failed} ran, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
