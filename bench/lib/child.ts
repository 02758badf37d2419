/** Running a benchmark script as a child process (for the smoke tests). */
import { spawn } from "node:child_process";
import { repoRoot } from "./cli.js";

/** Exit code and combined output of one benchmark run. */
export interface BenchRun {
  code: number | null;
  output: string;
}

/**
 * Runs `node --import tsx <script> ...args` from the repository root; kills it after
 * `timeoutMs` (the promise then resolves with a null code).
 */
export function runBenchScript(
  script: string,
  args: readonly string[],
  timeoutMs: number,
): Promise<BenchRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** A value read from parsed JSON by a key path, or undefined. */
export function at(x: unknown, ...path: (string | number)[]): unknown {
  let cur: unknown = x;
  for (const k of path) {
    if (typeof cur !== "object" || cur === null) return undefined;
    cur = Reflect.get(cur, k);
  }
  return cur;
}

/** True for a finite number. */
export const isNum = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);

/** True for a `{ median, min, max, n }` spread whose numbers are finite or null (empty sample). */
export function isSpread(x: unknown): boolean {
  return (
    typeof x === "object" &&
    x !== null &&
    ["median", "min", "max"].every((k) => {
      const v: unknown = Reflect.get(x, k);
      return v === null || isNum(v);
    }) &&
    isNum(Reflect.get(x, "n"))
  );
}
