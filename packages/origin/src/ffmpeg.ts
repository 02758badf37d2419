import { spawn } from "node:child_process";
import { join } from "node:path";
import { OriginError } from "./errors.js";

/** What to tell an operator when ffmpeg/ffprobe cannot be started. */
export const FFMPEG_HINT = "install the Debian package `ffmpeg` (apt-get install ffmpeg)";

/** Result of running a short-lived tool to completion. */
export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `bin args…` to completion, capturing output (bounded to 1 MiB per stream).
 * @throws OriginError `ffmpeg-missing` when the binary cannot be spawned (ENOENT/EACCES)
 */
export function runTool(bin: string, args: string[], timeoutMs = 60_000): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const cap = 1 << 20;
    child.stdout.on("data", (d: Buffer) => {
      if (stdout.length < cap) stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      if (stderr.length < cap) stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(missingTool(bin, err));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The typed error for a tool that cannot be spawned. */
export function missingTool(bin: string, err: NodeJS.ErrnoException): OriginError {
  return new OriginError(
    "ffmpeg-missing",
    `cannot run ${bin} (${err.code ?? String(err)}): ${FFMPEG_HINT}`,
    undefined,
    { cause: err },
  );
}

/** Last meaningful lines of an ffmpeg stderr, for error messages. */
export function lastLines(stderr: string, n = 3): string {
  return stderr
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "")
    .slice(-n)
    .join(" | ");
}

/** Stream kinds of a media file, via ffprobe. */
export async function probeStreams(
  ffprobe: string,
  input: string,
): Promise<{ video: boolean; audio: boolean; duration: number | undefined }> {
  const r = await runTool(ffprobe, [
    "-v",
    "error",
    "-show_entries",
    "stream=codec_type:format=duration",
    "-of",
    "json",
    input,
  ]);
  if (r.code !== 0) {
    throw new OriginError(
      "input-unreadable",
      `cannot read input ${input}: ${lastLines(r.stderr) || `ffprobe exit ${String(r.code)}`}`,
      "input",
    );
  }
  let parsed: { streams?: Array<{ codec_type?: string }>; format?: { duration?: string } };
  try {
    parsed = JSON.parse(r.stdout) as typeof parsed;
  } catch {
    throw new OriginError("input-unreadable", `cannot read input ${input}: bad ffprobe output`);
  }
  const kinds = new Set((parsed.streams ?? []).map((s) => s.codec_type));
  const d = Number(parsed.format?.duration);
  return {
    video: kinds.has("video"),
    audio: kinds.has("audio"),
    duration: Number.isFinite(d) ? d : undefined,
  };
}

/** One rung of the encoding ladder. */
export interface Rendition {
  width: number;
  height: number;
  /** Video bitrate, kbit/s. */
  videoKbps: number;
}

/** The default ladder: two small renditions (cheap on a laptop, enough to exercise ABR). */
export const DEFAULT_LADDER: readonly Rendition[] = [
  { width: 640, height: 360, videoKbps: 800 },
  { width: 320, height: 180, videoKbps: 250 },
];

/** ffmpeg arguments turning `input` into fMP4 HLS renditions in `work` (all segments kept). */
export function ffmpegArgs(o: {
  input: string;
  rtmp: boolean;
  work: string;
  ladder: readonly Rendition[];
  audio: boolean;
  segmentSeconds: number;
}): string[] {
  const n = o.ladder.length;
  const split = o.ladder.map((_, i) => `[s${i}]`).join("");
  const scales = o.ladder
    .map((r, i) => `[s${i}]scale=${r.width}:${r.height},format=yuv420p[v${i}]`)
    .join(";");
  const args = ["-hide_banner", "-nostats", "-loglevel", "warning", "-y"];
  if (o.rtmp) args.push("-listen", "1");
  else args.push("-re");
  args.push("-i", o.input, "-filter_complex", `[0:v]split=${n}${split};${scales}`);
  o.ladder.forEach((r, i) => {
    args.push("-map", `[v${i}]`);
    if (o.audio) args.push("-map", "0:a:0");
    args.push(
      `-b:v:${i}`,
      `${r.videoKbps}k`,
      `-maxrate:v:${i}`,
      `${Math.round(r.videoKbps * 1.2)}k`,
    );
    args.push(`-bufsize:v:${i}`, `${r.videoKbps * 2}k`);
  });
  args.push(
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-tune",
    "zerolatency",
    "-sc_threshold",
    "0",
    "-force_key_frames",
    `expr:gte(t,n_forced*${o.segmentSeconds})`,
  );
  if (o.audio) args.push("-c:a", "aac", "-b:a", "96k", "-ac", "2");
  args.push(
    "-f",
    "hls",
    "-hls_time",
    String(o.segmentSeconds),
    "-hls_list_size",
    "0",
    "-hls_segment_type",
    "fmp4",
    "-hls_flags",
    "independent_segments+program_date_time+temp_file",
    "-hls_fmp4_init_filename",
    "init.mp4",
    "-hls_segment_filename",
    join(o.work, "v%v", "seg-%05d.m4s"),
    "-master_pl_name",
    "master.m3u8",
    "-var_stream_map",
    o.ladder.map((_, i) => (o.audio ? `v:${i},a:${i}` : `v:${i}`)).join(" "),
    join(o.work, "v%v", "index.m3u8"),
  );
  return args;
}
