import { spawn } from "node:child_process";
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
