import type { LogLevel } from "./config.js";

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** Where log lines go; one JSON object per call. */
export type LogSink = (line: string) => void;

/** A tiny structured logger: one JSON line per event, `{time, level, msg, ...fields}`. */
export class Logger {
  private readonly min: number;

  constructor(
    level: LogLevel,
    private readonly sink: LogSink = (line) => process.stderr.write(line + "\n"),
  ) {
    this.min = RANK[level];
  }

  /** True when `level` would be written (lets hot paths skip building fields). */
  enabled(level: Exclude<LogLevel, "silent">): boolean {
    return RANK[level] >= this.min;
  }

  debug(msg: string, fields?: Record<string, unknown>): void {
    this.write("debug", msg, fields);
  }

  info(msg: string, fields?: Record<string, unknown>): void {
    this.write("info", msg, fields);
  }

  warn(msg: string, fields?: Record<string, unknown>): void {
    this.write("warn", msg, fields);
  }

  error(msg: string, fields?: Record<string, unknown>): void {
    this.write("error", msg, fields);
  }

  private write(
    level: Exclude<LogLevel, "silent">,
    msg: string,
    fields?: Record<string, unknown>,
  ): void {
    if (RANK[level] < this.min) return;
    this.sink(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }));
  }
}
