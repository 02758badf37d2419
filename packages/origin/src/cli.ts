#!/usr/bin/env node
import { parseArgs } from "node:util";
import { relative } from "node:path";
import { OriginError } from "./errors.js";
import { parseFaultFlag, type FaultSettings } from "./faults.js";
import { hashPlaylist } from "./hash.js";
import { startOrigins } from "./server.js";

const USAGE = `Usage:
  hivecast-origin serve --dir <dir> [--origins N] [--port P] [--host H] [--live-window K]
                        [--fault "<index>:<field>=<value>,…"]...
      Starts N origins (default 3) on ports P..P+N-1 (P=0, the default: random ports) serving
      <dir>; prints one line per origin: "origin <i> <url>". Stop with SIGINT/SIGTERM.
      VOD:   <url><path>            files as they are
      Live:  <url>live/<path>       e.g. live/master.m3u8, live/v0/index.m3u8 (sliding window)
      Faults at run time: GET/PUT/DELETE <url>__faults[/<index>]
      Fault fields: down, statusRate, status, latencyMs, bandwidthBps, corruptRate,
                    truncateRate, seed      e.g. --fault "1:statusRate=0.5,status=503"
  hivecast-origin hash --playlist <playlist.m3u8>
      Hashes every segment of the (multivariant or media) playlist: refreshes the
      #EXT-X-HIVECAST-SHA256 tags and writes segments-sha256.json beside each media playlist.
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
      dir: { type: "string" },
      origins: { type: "string" },
      port: { type: "string" },
      host: { type: "string" },
      "live-window": { type: "string" },
      fault: { type: "string", multiple: true },
    },
  });
  if (!values.dir) throw new UsageError("--dir is required");
  const origins = intFlag("origins", values.origins) ?? 3;
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
    dir: values.dir,
    origins,
    port: intFlag("port", values.port) ?? 0,
    host: values.host ?? "127.0.0.1",
    liveWindow: intFlag("live-window", values["live-window"]) ?? 6,
    faults,
  });
  cluster.urls.forEach((url, i) => process.stdout.write(`origin ${i} ${url}\n`));
  process.stderr.write(`live: ${cluster.urls[0] ?? ""}live/master.m3u8 (Ctrl-C to stop)\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  await cluster.close();
}

async function hash(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: { playlist: { type: "string" } },
  });
  if (!values.playlist) throw new UsageError("--playlist is required");
  const report = await hashPlaylist(values.playlist);
  for (const p of report.playlists) {
    const state = p.playlistChanged || p.manifestChanged ? "updated" : "unchanged";
    process.stdout.write(
      `${relative(process.cwd(), p.playlist)}: ${p.segments} segments, ${p.initSegments} init, ${state}\n`,
    );
  }
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
