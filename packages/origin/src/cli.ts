#!/usr/bin/env node
import { parseArgs } from "node:util";
import { readFile, stat } from "node:fs/promises";
import { createServer } from "node:http";
import { join, relative } from "node:path";
import { OriginError } from "./errors.js";
import { exportRecording } from "./export.js";
import { parseFaultFlag, type FaultSettings } from "./faults.js";
import { hashPlaylist } from "./hash.js";
import { watchHls } from "./hash-watch.js";
import { DEFAULT_LADDER, startPackager, type Rendition } from "./packager.js";
import { startOrigins } from "./server.js";
import { formatStatus } from "./status.js";

const USAGE = `Usage (inside the repository: pnpm exec hivecast-origin …):
  hivecast-origin serve --dir <dir> [--dir <dir2> …] [--origins N] [--port P] [--host H]
                        [--live-window K] [--fault "<index>:<field>=<value>,…"]...
      Starts N origins (default 3) on ports P..P+N-1 (P=0, the default: random ports) serving
      <dir>; prints one line per origin: "origin <i> <url>". Stop with SIGINT/SIGTERM.
      Several --dir: one directory per origin (origin i serves the i-th; N = their number).
      VOD:   <url><path>            files as they are
      Live:  <url>live/<path>       e.g. live/master.m3u8, live/v0/index.m3u8 (sliding window)
      Faults at run time: GET/PUT/DELETE <url>__faults[/<index>]
      Fault fields: down, statusRate, status, latencyMs, bandwidthBps, corruptRate,
                    truncateRate, seed      e.g. --fault "1:statusRate=0.5,status=503"
  hivecast-origin hash --playlist <playlist.m3u8> [--playlist <other.m3u8> …]
      Hashes every segment of each (multivariant or media) playlist: refreshes the
      #EXT-X-HIVECAST-SHA256 tags and writes segments-sha256.json beside each media playlist.
  hivecast-origin hash --watch <hls-dir> --out <dir> [--interval-ms 200] [--once]
      Follows the HLS directory another packager writes (e.g. nginx-rtmp "hls on") and
      publishes a hashed copy in <dir> atomically: segment, then manifest, then playlist.
  hivecast-origin package (--input <file> | --input rtmp://127.0.0.1:1935/live/stream)
                          --mirror <dir> [--mirror <dir2> …] [--preset default|low-latency]
                          [--segment-seconds S] [--window K] [--rendition WxH@kbps …]
                          [--no-audio] [--once] [--metrics-port P] [--metrics-host H]
      ffmpeg → live fMP4 HLS (ladder, PROGRAM-DATE-TIME, hashes) in every mirror; each publish
      is a recording <mirror>/rec-<UTC time>/, <mirror>/master.m3u8 points at the newest; when
      the input ends it stays as VOD. RTMP: listens; publishers push with
      ffmpeg -re -i in.mp4 -c copy -f flv rtmp://127.0.0.1:1935/live/stream (or OBS).
  hivecast-origin export --playlist <playlist.m3u8> --out <recording.mp4> [--variant I]
      Verifies every segment's SHA-256, then merges the recording into one MP4 (stream copy).
  hivecast-origin status --url <http://host:port/metrics>
      One-screen summary of a packager's or origin's /metrics.
  hivecast-origin --help
`;

class UsageError extends Error {}

function intFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} must be a non-negative integer`);
  return Number(value);
}

async function serve(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      dir: { type: "string", multiple: true },
      origins: { type: "string" },
      port: { type: "string" },
      host: { type: "string" },
      "live-window": { type: "string" },
      fault: { type: "string", multiple: true },
    },
  });
  const dirs = values.dir ?? [];
  if (dirs.length === 0) throw new UsageError("--dir is required");
  for (const d of dirs) await requireDir(d, "--dir");
  const origins = intFlag("origins", values.origins) ?? (dirs.length > 1 ? dirs.length : 3);
  if (dirs.length > 1 && origins !== dirs.length) {
    throw new UsageError(
      `${dirs.length} --dir given for --origins ${origins}: give one per origin`,
    );
  }
  const faults: Partial<FaultSettings>[] = [];
  for (const flag of values.fault ?? []) {
    let parsed;
    try {
      parsed = parseFaultFlag(flag);
    } catch (err) {
      throw new UsageError(`--fault: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (parsed.index >= origins) throw new UsageError(`--fault: no origin ${parsed.index}`);
    faults[parsed.index] = { ...(faults[parsed.index] ?? {}), ...parsed.patch };
  }
  for (let i = 0; i < faults.length; i++) faults[i] ??= {};
  const cluster = await startOrigins({
    dir: dirs.length > 1 ? dirs : (dirs[0] ?? ""),
    origins,
    port: intFlag("port", values.port) ?? 0,
    host: values.host ?? "127.0.0.1",
    liveWindow: intFlag("live-window", values["live-window"]) ?? 6,
    faults,
  });
  cluster.urls.forEach((url, i) => process.stdout.write(`origin ${i} ${url}\n`));
  const hint = await liveHint(dirs[0] ?? "");
  if (hint) process.stderr.write(`simulated live: ${cluster.urls[0] ?? ""}${hint}\n`);
  process.stderr.write("serving (Ctrl-C to stop)\n");
  await untilSignal();
  await cluster.close();
}

async function requireDir(path: string, flag: string): Promise<void> {
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new UsageError(`${flag} ${path}: no such directory`);
  }
  if (!st.isDirectory()) throw new UsageError(`${flag} ${path}: not a directory`);
}

/** `live/master.m3u8` when the directory has a multivariant master.m3u8 (else no hint). */
async function liveHint(dir: string): Promise<string | undefined> {
  try {
    const text = await readFile(join(dir, "master.m3u8"), "utf8");
    return text.includes("#EXT-X-STREAM-INF") ? "live/master.m3u8" : undefined;
  } catch {
    return undefined;
  }
}

async function hash(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      playlist: { type: "string", multiple: true },
      watch: { type: "string" },
      out: { type: "string" },
      "interval-ms": { type: "string" },
      once: { type: "boolean" },
    },
  });
  if (values.watch !== undefined) {
    if (values.playlist) throw new UsageError("--watch and --playlist cannot be combined");
    if (!values.out) throw new UsageError("--watch needs --out <dir> (where hashed HLS goes)");
    await requireDir(values.watch, "--watch");
    const w = await watchHls({
      dir: values.watch,
      out: values.out,
      intervalMs: intFlag("interval-ms", values["interval-ms"]) ?? 200,
      log: (line) => process.stderr.write(`${line}\n`),
    });
    if (values.once) {
      await w.stop();
      return;
    }
    process.stderr.write(`watching ${values.watch} → ${values.out} (Ctrl-C to stop)\n`);
    await untilSignal();
    await w.stop();
    return;
  }
  const playlists = values.playlist ?? [];
  if (playlists.length === 0) throw new UsageError("--playlist (or --watch) is required");
  for (const pl of playlists) {
    let st;
    try {
      st = await stat(pl);
    } catch {
      throw new UsageError(`--playlist ${pl}: no such file`);
    }
    if (st.isDirectory()) {
      throw new UsageError(
        `--playlist ${pl} is a directory: give its playlist (e.g. ${join(pl, "master.m3u8")}), or use --watch for a directory another packager writes`,
      );
    }
  }
  for (const pl of playlists) {
    const report = await hashPlaylist(pl);
    for (const p of report.playlists) {
      const state = p.playlistChanged || p.manifestChanged ? "updated" : "unchanged";
      process.stdout.write(
        `${relative(process.cwd(), p.playlist)}: ${p.segments} segments, ${p.initSegments} init, ${state}\n`,
      );
    }
  }
}

function untilSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}

function parseRendition(spec: string): Rendition {
  const m = /^(\d{1,4})x(\d{1,4})@(\d{1,6})k?$/.exec(spec);
  if (!m)
    throw new UsageError(`--rendition "${spec}": expected WIDTHxHEIGHT@KBPS, e.g. 640x360@800`);
  return { width: Number(m[1]), height: Number(m[2]), videoKbps: Number(m[3]) };
}

async function pkg(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      input: { type: "string" },
      mirror: { type: "string", multiple: true },
      preset: { type: "string" },
      "segment-seconds": { type: "string" },
      window: { type: "string" },
      rendition: { type: "string", multiple: true },
      "no-audio": { type: "boolean" },
      once: { type: "boolean" },
      "metrics-port": { type: "string" },
      "metrics-host": { type: "string" },
    },
  });
  if (!values.input)
    throw new UsageError("--input <file | rtmp://host:port/app/stream> is required");
  const mirrors = values.mirror ?? [];
  if (mirrors.length === 0) throw new UsageError("at least one --mirror <dir> is required");
  const preset = values.preset ?? "default";
  if (preset !== "default" && preset !== "low-latency") {
    throw new UsageError(`--preset must be "default" or "low-latency", not "${preset}"`);
  }
  const ladder = values.rendition?.map(parseRendition) ?? [...DEFAULT_LADDER];
  const segmentSeconds =
    intFlag("segment-seconds", values["segment-seconds"]) ?? (preset === "low-latency" ? 1 : 2);
  const window = intFlag("window", values.window) ?? (preset === "low-latency" ? 8 : 6);
  const packager = await startPackager({
    input: values.input,
    mirrors,
    segmentSeconds,
    window,
    renditions: ladder,
    ...(values["no-audio"] ? { audio: false } : {}),
    once: values.once ?? false,
    log: (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
  });
  let server: ReturnType<typeof createServer> | undefined;
  const metricsPort = intFlag("metrics-port", values["metrics-port"]);
  if (metricsPort !== undefined) {
    server = createServer((req, res) => {
      if ((req.url ?? "").split("?")[0] !== "/metrics") {
        res.writeHead(404).end();
        return;
      }
      packager.metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { "Content-Type": packager.metrics.registry.contentType });
          res.end(text);
        },
        () => res.writeHead(500).end(),
      );
    });
    const srv = server;
    await new Promise<void>((resolve, reject) => {
      srv.once("error", (err: NodeJS.ErrnoException) =>
        reject(
          new OriginError("port-busy", `--metrics-port ${metricsPort}: ${err.code ?? err.message}`),
        ),
      );
      srv.listen(metricsPort, values["metrics-host"] ?? "127.0.0.1", () => resolve());
    });
    const addr = srv.address();
    if (addr && typeof addr !== "string") {
      process.stdout.write(
        `metrics http://${values["metrics-host"] ?? "127.0.0.1"}:${addr.port}/metrics\n`,
      );
    }
  }
  process.stdout.write(`packaging ${values.input}\n`);
  const onSignal = () => void packager.stop();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    await packager.done;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
  for (const id of packager.recordings) process.stdout.write(`recording ${id}\n`);
}

async function exportCmd(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      playlist: { type: "string" },
      out: { type: "string" },
      variant: { type: "string" },
    },
  });
  if (!values.playlist) throw new UsageError("--playlist is required");
  if (!values.out) throw new UsageError("--out <recording.mp4> is required");
  const variant = intFlag("variant", values.variant);
  const r = await exportRecording({
    playlist: values.playlist,
    out: values.out,
    ...(variant !== undefined ? { variant } : {}),
  });
  process.stdout.write(
    `${values.out}: ${r.segments} segments verified, ${r.playlistDuration.toFixed(3)} s, ${r.bytes} bytes\n`,
  );
}

async function status(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: { url: { type: "string" } },
  });
  if (!values.url) throw new UsageError("--url <http://host:port/metrics> is required");
  let url: URL;
  try {
    url = new URL(values.url);
  } catch {
    throw new UsageError(`--url ${values.url}: not a URL`);
  }
  let text: string;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    text = await res.text();
  } catch (err) {
    throw new OriginError(
      "io",
      `cannot read ${url.href}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  process.stdout.write(formatStatus(text, url.href));
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === "--help" || command === "-h" || command === "help") {
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    }
    if (rest.includes("--help") || rest.includes("-h")) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (command === "serve") await serve(rest);
    else if (command === "hash") await hash(rest);
    else if (command === "package") await pkg(rest);
    else if (command === "export") await exportCmd(rest);
    else if (command === "status") await status(rest);
    else throw new UsageError(`unknown command "${command}"`);
    return 0;
  } catch (err) {
    const usage =
      err instanceof UsageError ||
      (err instanceof OriginError &&
        (err.code === "invalid-option" || err.code === "invalid-faults")) ||
      (err instanceof TypeError && "code" in err && String(err.code).startsWith("ERR_PARSE_ARGS"));
    process.stderr.write(`hivecast-origin: ${err instanceof Error ? err.message : String(err)}\n`);
    if (usage) {
      process.stderr.write("Run `hivecast-origin --help` for usage.\n");
      return 2;
    }
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`hivecast-origin: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
