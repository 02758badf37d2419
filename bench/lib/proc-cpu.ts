/**
 * Whole-machine CPU use between two points in time, from /proc (Linux only): how busy the cores
 * were, and how much CPU each kind of process used (Chromium renderers, its network service, GPU
 * and browser processes, Node). For benchmarks that run every viewer on one machine, where one
 * page's start-up competes with everything else the machine does.
 */
import { readFileSync, readdirSync } from "node:fs";

/** CPU seconds per process kind, and the cores' busy share, over an interval. */
export interface MachineCpu {
  seconds: number;
  /** Busy share of all cores (0…1), from /proc/stat. */
  busy: number;
  /** CPU seconds used per process kind over the interval (processes alive at its end). */
  bySeconds: Record<string, number>;
}

/** A snapshot to diff later; null where /proc is missing. */
export interface CpuMark {
  at: number;
  total: number;
  idle: number;
  procs: Map<number, { kind: string; ticks: number }>;
}

const TICK = 100; // USER_HZ on Linux

function kindOf(pid: number): string | null {
  let cmd: string;
  try {
    cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return null;
  }
  if (/chrom/i.test(cmd)) {
    const type = /--type=([a-z-]+)/.exec(cmd)?.[1];
    if (type === undefined) return "chromium-browser";
    if (type === "utility")
      return /NetworkService/.test(cmd) ? "chromium-network" : "chromium-utility";
    return `chromium-${type}`;
  }
  if (/\bnode\b|tsx/.test(cmd)) return "node";
  return "other";
}

function ticksOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces), from field 3 on.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(rest[11]) + Number(rest[12]); // utime + stime
  } catch {
    return null;
  }
}

/** Reads the counters now; null when /proc/stat is not readable (not Linux). */
export function cpuMark(): CpuMark | null {
  let line: string;
  try {
    line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  } catch {
    return null;
  }
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const procs = new Map<number, { kind: string; ticks: number }>();
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const kind = kindOf(pid);
    const ticks = ticksOf(pid);
    if (kind !== null && ticks !== null) procs.set(pid, { kind, ticks });
  }
  return { at: Date.now(), total, idle, procs };
}

/** What the machine did between `a` and `b`. */
export function cpuBetween(a: CpuMark, b: CpuMark): MachineCpu {
  const dt = b.total - a.total;
  const bySeconds: Record<string, number> = {};
  for (const [pid, p] of b.procs) {
    const before = a.procs.get(pid)?.ticks ?? 0;
    bySeconds[p.kind] = (bySeconds[p.kind] ?? 0) + (p.ticks - before) / TICK;
  }
  for (const k of Object.keys(bySeconds)) bySeconds[k] = Math.round((bySeconds[k] ?? 0) * 10) / 10;
  return {
    seconds: (b.at - a.at) / 1000,
    busy: dt > 0 ? Math.round((1 - (b.idle - a.idle) / dt) * 1000) / 1000 : Number.NaN,
    bySeconds,
  };
}
