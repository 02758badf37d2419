/** Command-line and output helpers shared by the benchmarks. */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

/** Repository root (with a trailing slash). */
export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

/** Reads `--name value` style options from an argv array. */
export class Args {
  constructor(private readonly argv: readonly string[] = process.argv.slice(2)) {}

  /** True when `--name` is present. */
  flag(name: string): boolean {
    return this.argv.includes(name);
  }

  /** The value after `--name`, if any. */
  value(name: string): string | undefined {
    const i = this.argv.indexOf(name);
    return i >= 0 ? this.argv[i + 1] : undefined;
  }

  /** A number option with a default and a lower bound (throws a clear message when invalid). */
  number(name: string, dflt: number, min = 0): number {
    const v = this.value(name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min)
      throw new Error(`${name} must be a number >= ${min}, got ${v}`);
    return n;
  }

  /** An integer option with a default and a lower bound. */
  int(name: string, dflt: number, min = 0): number {
    const n = this.number(name, dflt, min);
    if (!Number.isInteger(n)) throw new Error(`${name} must be an integer, got ${n}`);
    return n;
  }

  /** A comma-separated list option restricted to `known` values. */
  list<T extends string>(name: string, known: readonly T[], dflt: readonly T[]): T[] {
    const v = this.value(name);
    if (v === undefined) return [...dflt];
    const out: T[] = [];
    for (const item of v.split(",")) {
      const hit = known.find((k) => k === item);
      if (hit === undefined)
        throw new Error(`${name}: unknown ${item} (known: ${known.join(", ")})`);
      out.push(hit);
    }
    return out;
  }
}

/** Writes a result object as pretty JSON (NaN/Infinity become null), creating the folder. */
export function writeResult(path: string, result: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  const json = JSON.stringify(
    result,
    (_k, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? null : v),
    2,
  );
  writeFileSync(path, `${json}\n`);
}

/**
 * Default output path of benchmark `name`: bench/results/<name>.json, or <name>-quick.json for
 * a `--quick` smoke run (so a smoke never overwrites a full run's numbers).
 */
export function defaultOut(name: string, quick = false): string {
  return `${repoRoot}bench/results/${name}${quick ? "-quick" : ""}.json`;
}

/** Prints rows as an aligned text table (first row is the header). */
export function printTable(rows: readonly (readonly string[])[]): void {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  const line = (r: readonly string[]): string =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
  rows.forEach((r, i) => {
    console.log(line(r));
    if (i === 0) console.log(widths.map((w) => "-".repeat(w)).join("  "));
  });
}

/** Minimal facts about the machine a result was measured on. */
export async function machineInfo(): Promise<{
  node: string;
  cpus: number;
  cpuModel: string;
  platform: string;
}> {
  const os = await import("node:os");
  const c = os.cpus();
  return {
    node: process.version,
    cpus: c.length,
    cpuModel: c[0]?.model ?? "unknown",
    platform: `${os.platform()} ${os.arch()}`,
  };
}
