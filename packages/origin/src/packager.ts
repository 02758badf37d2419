import { spawn, type ChildProcess } from "node:child_process";
import { access, constants, mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { OriginError } from "./errors.js";
import {
  DEFAULT_LADDER,
  ffmpegArgs,
  lastLines,
  missingTool,
  probeStreams,
  runTool,
  type Rendition,
} from "./ffmpeg.js";

export { DEFAULT_LADDER, ffmpegArgs, type Rendition };
import { PackagerMetrics } from "./packager-metrics.js";
import { Publisher, type Session } from "./packager-publish.js";

/** Options of `startPackager`. */
export interface PackagerOptions {
  /**
   * What to package: a media file path (read at its native pace, like `ffmpeg -re`), or an
   * `rtmp://host:port/app/stream` URL on which the packager listens for one publisher at a time.
   */
  input: string;
  /** Origin directories that receive every recording (at least one). */
  mirrors: string[];
  /** Target segment duration, seconds (1..10). @default 2 (1 with the low-latency preset) */
  segmentSeconds?: number;
  /** Segments in the live playlists (1..100). @default 6 */
  window?: number;
  /** The encoding ladder, best first (1..6 rungs). @default DEFAULT_LADDER */
  renditions?: Rendition[];
  /** Encode audio (AAC). Files: probed when undefined; RTMP: true when undefined. */
  audio?: boolean;
  /** RTMP: stop after the first publish ends instead of waiting for the next. @default false */
  once?: boolean;
  /** ffmpeg executable. @default "ffmpeg" */
  ffmpeg?: string;
  /** ffprobe executable. @default "ffprobe" */
  ffprobe?: string;
  /** How often the work directory is scanned for completed segments, ms. @default 200 */
  pollMs?: number;
  /** Receives one line per notable event (publishes, errors, mirror state). */
  log?: (line: string) => void;
  /** Metrics to update (a fresh `PackagerMetrics` when omitted). */
  metrics?: PackagerMetrics;
}

/** A running packager. */
export interface Packager {
  /** Recording ids published so far (directory names inside each mirror), oldest first. */
  readonly recordings: string[];
  /** The packager's metrics. */
  readonly metrics: PackagerMetrics;
  /** Resolves when the packager ended (file input done, `once`, or `stop()`); rejects on failure. */
  readonly done: Promise<void>;
  /** Stops ffmpeg gracefully, publishes the recording as VOD, resolves when done. Idempotent. */
  stop(): Promise<void>;
}

/** Restart backoff after an ffmpeg run that ended before any segment: first wait, ms. */
const RESTART_BASE_MS = 500;
/** Longest restart backoff, ms. */
const RESTART_MAX_MS = 30_000;

function parseRtmp(input: string): { host: string; port: number } | undefined {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return undefined;
  }
  if (url.protocol !== "rtmp:") return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  return { host, port: url.port === "" ? 1935 : Number(url.port) };
}

function checkPortFree(host: string, port: number): Promise<void> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once("error", (err: NodeJS.ErrnoException) => {
      reject(
        new OriginError(
          "port-busy",
          `cannot listen for RTMP on ${host}:${port}: ${err.code === "EADDRINUSE" ? "port already in use" : String(err.code ?? err)}`,
          "input",
          { cause: err },
        ),
      );
    });
    srv.listen(port, host, () => srv.close(() => resolvePort()));
  });
}

function intIn(name: string, v: number | undefined, dflt: number, min: number, max: number) {
  const value = v ?? dflt;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new OriginError("invalid-option", `${name} must be an integer in [${min}, ${max}]`, name);
  }
  return value;
}

/**
 * Starts packaging `opts.input` into live HLS (fMP4, a ladder of renditions, PROGRAM-DATE-TIME,
 * a sliding window, per-segment SHA-256 tags and the sidecar manifest) mirrored to every
 * `opts.mirrors` directory. Each publish (or the file) becomes one recording
 * `<mirror>/<id>/` (id = UTC start time, `rec-YYYYMMDDTHHMMSSZ`) and `<mirror>/master.m3u8`
 * always points at the newest one; when the input ends the recording is rewritten as VOD
 * (ENDLIST). Publication order per mirror: segment files, then the manifest, then the
 * playlist, each by temp file + rename, so no mirror lists a segment whose bytes or hash are
 * missing. A mirror that cannot be written is skipped and catches up when writable again.
 *
 * @throws OriginError `ffmpeg-missing`, `input-unreadable`, `port-busy`, `invalid-option`
 */
export async function startPackager(opts: PackagerOptions): Promise<Packager> {
  const ffmpeg = opts.ffmpeg ?? "ffmpeg";
  const ffprobe = opts.ffprobe ?? "ffprobe";
  const log = opts.log ?? (() => undefined);
  const segmentSeconds = intIn("segmentSeconds", opts.segmentSeconds, 2, 1, 10);
  const window = intIn("window", opts.window, 6, 1, 100);
  const pollMs = intIn("pollMs", opts.pollMs, 200, 10, 10_000);
  const ladder = opts.renditions ?? DEFAULT_LADDER;
  if (ladder.length < 1 || ladder.length > 6) {
    throw new OriginError("invalid-option", "the ladder needs 1..6 renditions", "renditions");
  }
  for (const r of ladder) {
    const ok = (v: number, max: number) => Number.isInteger(v) && v >= 2 && v <= max;
    if (!ok(r.width, 7680) || !ok(r.height, 4320) || !ok(r.videoKbps, 100_000)) {
      throw new OriginError("invalid-option", `bad rendition ${JSON.stringify(r)}`, "renditions");
    }
    if (r.width % 2 !== 0 || r.height % 2 !== 0) {
      throw new OriginError("invalid-option", "rendition sizes must be even", "renditions");
    }
  }
  if (opts.mirrors.length === 0) {
    throw new OriginError("invalid-option", "at least one mirror directory is needed", "mirrors");
  }
  const mirrors = opts.mirrors.map((m) => resolve(m));
  if (new Set(mirrors).size !== mirrors.length) {
    throw new OriginError("invalid-option", "the same mirror directory is given twice", "mirrors");
  }

  // ffmpeg present?
  const v = await runTool(ffmpeg, ["-hide_banner", "-version"], 15_000);
  if (v.code !== 0) {
    throw new OriginError("ffmpeg-missing", `${ffmpeg} -version failed: ${lastLines(v.stderr)}`);
  }

  const rtmp = parseRtmp(opts.input);
  let audio: boolean;
  if (rtmp) {
    if (!Number.isInteger(rtmp.port) || rtmp.port < 1 || rtmp.port > 65535) {
      throw new OriginError("invalid-option", `bad RTMP port in ${opts.input}`, "input");
    }
    await checkPortFree(rtmp.host, rtmp.port);
    audio = opts.audio ?? true;
  } else {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(opts.input)) {
      throw new OriginError(
        "invalid-option",
        `unsupported input URL ${opts.input} (a file path or rtmp://host:port/app/stream)`,
        "input",
      );
    }
    try {
      await access(opts.input, constants.R_OK);
      if (!(await stat(opts.input)).isFile()) throw new Error("not a regular file");
    } catch (err) {
      throw new OriginError(
        "input-unreadable",
        `cannot read input ${opts.input}: ${err instanceof Error ? err.message : String(err)}`,
        "input",
        { cause: err },
      );
    }
    const probe = await probeStreams(ffprobe, opts.input);
    if (!probe.video) {
      throw new OriginError("input-unreadable", `input ${opts.input} has no video stream`, "input");
    }
    if (opts.audio === true && !probe.audio) {
      throw new OriginError("input-unreadable", `input ${opts.input} has no audio stream`, "input");
    }
    audio = opts.audio ?? probe.audio;
  }

  const metrics = opts.metrics ?? new PackagerMetrics(mirrors);
  const workRoot = await mkdtemp(join(tmpdir(), "hivecast-package-"));
  const publisher = new Publisher({ ladder, window, mirrors, metrics, log, workRoot });
  const { recordings, sessions } = publisher;
  let child: ChildProcess | undefined;
  let stopping = false;
  let timer: NodeJS.Timeout | undefined;

  for (const m of mirrors) {
    await mkdir(m, { recursive: true }).catch((err: unknown) => {
      log(`mirror ${m}: cannot create (${String(err)}); will retry`);
    });
  }

  /** Runs ffmpeg once; resolves with its exit code and stderr tail. */
  const runFfmpeg = (s: Session): Promise<{ code: number | null; stderr: string }> =>
    new Promise((resolveRun, reject) => {
      const args = ffmpegArgs({
        input: opts.input,
        rtmp: rtmp !== undefined,
        work: s.work,
        ladder,
        audio,
        segmentSeconds,
      });
      const c = spawn(ffmpeg, args, { stdio: ["ignore", "ignore", "pipe"] });
      child = c;
      let stderr = "";
      c.stderr.on("data", (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-8192);
      });
      c.on("error", (err: NodeJS.ErrnoException) => reject(missingTool(ffmpeg, err)));
      c.on("close", (code) => {
        child = undefined;
        resolveRun({ code, stderr });
      });
    });

  /** Ends a restart backoff early (stop()). */
  let wake: (() => void) | undefined;
  const pause = (ms: number): Promise<void> =>
    new Promise((resolvePause) => {
      const t = setTimeout(resolvePause, ms);
      wake = () => {
        clearTimeout(t);
        resolvePause();
      };
    });

  const loop = async (): Promise<void> => {
    /** ffmpeg runs in a row that ended before any segment (RTMP): the restart backoff. */
    let failures = 0;
    for (;;) {
      if (stopping) return;
      const s = await publisher.newSession();
      sessions.push(s);
      if (rtmp) log(`waiting for a publisher on ${opts.input}`);
      const { code, stderr } = await runFfmpeg(s);
      await publisher.tick();
      const produced = s.renditions.some((r) => r.segments.length > 0);
      const segs = s.renditions[0]?.segments.length ?? 0;
      if (code !== 0 && !stopping) metrics.ffmpegFailures.inc();
      if (segs > 0 || produced) {
        failures = 0;
        await publisher.finish(s);
        const how = code === 0 || stopping ? "ended" : `ended abnormally (${lastLines(stderr, 2)})`;
        log(
          `recording ${s.id}: ${rtmp ? "publisher disconnected, " : ""}${how}; VOD, ${segs} segments`,
        );
      } else if (!stopping && code !== 0) {
        sessions.splice(sessions.indexOf(s), 1);
        await rm(s.work, { recursive: true, force: true });
        const tail = lastLines(stderr);
        if (!rtmp) {
          throw new OriginError("ffmpeg-failed", `ffmpeg could not package ${opts.input}: ${tail}`);
        }
        if (/Address already in use/i.test(stderr)) {
          throw new OriginError("port-busy", `cannot listen on ${opts.input}: port already in use`);
        }
        // An ffmpeg that keeps dying must not be restarted in a tight loop.
        failures++;
        const delay = Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** (failures - 1));
        log(
          `publish attempt failed before any segment: ${tail}; retrying in ${(delay / 1000).toFixed(1)} s`,
        );
        await pause(delay);
      } else {
        sessions.splice(sessions.indexOf(s), 1);
        await rm(s.work, { recursive: true, force: true });
      }
      if (!rtmp || opts.once || stopping) return;
    }
  };

  timer = setInterval(() => void publisher.tick(), pollMs);

  const done = (async () => {
    try {
      await loop();
    } finally {
      if (timer) clearInterval(timer);
      timer = undefined;
      await publisher.tick();
      await rm(workRoot, { recursive: true, force: true }).catch(() => undefined);
    }
  })();
  done.catch(() => undefined);

  return {
    recordings,
    metrics,
    done,
    async stop() {
      stopping = true;
      wake?.();
      const c = child;
      if (c && c.exitCode === null) {
        c.kill("SIGINT");
        const killer = setTimeout(() => c.kill("SIGKILL"), 5_000);
        await new Promise<void>((r) => c.once("close", () => r()));
        clearTimeout(killer);
      }
      await done.catch(() => undefined);
    },
  };
}
