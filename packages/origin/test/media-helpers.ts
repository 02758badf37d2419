import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { sha256 } from "./helpers.js";

/** ffmpeg arguments for `seconds` of testsrc + sine, H.264 (GOP 1 s) + AAC, before the output. */
function testSourceArgs(seconds: number, size: string, live: boolean): string[] {
  return [
    "-hide_banner",
    "-loglevel",
    "error",
    ...(live ? ["-re"] : ["-y"]),
    "-f",
    "lavfi",
    "-i",
    `testsrc=size=${size}:rate=25`,
    "-f",
    "lavfi",
    "-i",
    "sine=frequency=440:sample_rate=44100",
    "-t",
    String(seconds),
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    ...(live ? ["-tune", "zerolatency"] : []),
    "-pix_fmt",
    "yuv420p",
    "-g",
    "25",
    "-c:a",
    "aac",
  ];
}

/** Writes a small test MP4 (testsrc + sine) of `seconds` at `path`, synchronously. */
export function makeTestMp4(path: string, seconds: number, size = "320x180"): void {
  const r = spawnSync("ffmpeg", [...testSourceArgs(seconds, size, false), path], {
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`ffmpeg failed: ${r.stderr}`);
}

/** Duration of a media file in seconds, via ffprobe. */
export function probeDuration(path: string): number {
  const r = spawnSync(
    "ffprobe",
    ["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path],
    { encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`ffprobe failed: ${r.stderr}`);
  return Number(r.stdout.trim());
}

/** A free TCP port on 127.0.0.1 (bound then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = addr && typeof addr !== "string" ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts an RTMP publisher pushing testsrc + sine for `seconds` (real time) to `url`. */
export function startPublisher(url: string, seconds: number): ChildProcess {
  return spawn("ffmpeg", [...testSourceArgs(seconds, "320x180", true), "-f", "flv", url], {
    stdio: ["ignore", "ignore", "pipe"],
  });
}

/** Waits for a child to exit; SIGKILLs it after `ms`. */
export function exited(child: ChildProcess, ms = 60_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve(child.exitCode);
  }
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill("SIGKILL"), ms);
    child.once("exit", (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

/** A media playlist's listed segments with their tags (URI, tag hash). */
export function listedSegments(text: string): Array<{ uri: string; tag: string | undefined }> {
  const out: Array<{ uri: string; tag: string | undefined }> = [];
  let tag: string | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("#EXT-X-HIVECAST-SHA256:")) tag = line.slice(23).trim();
    else if (line !== "" && !line.startsWith("#")) {
      out.push({ uri: line.trim(), tag });
      tag = undefined;
    }
  }
  return out;
}

/**
 * Checks one media playlist of a mirror: every listed segment (and the init) exists, its
 * bytes hash to the tag and to the manifest entry. Returns problems (empty = consistent).
 */
export async function checkMediaPlaylist(playlistPath: string): Promise<string[]> {
  const problems: string[] = [];
  const dir = dirname(playlistPath);
  const text = await readFile(playlistPath, "utf8");
  const manifest = JSON.parse(await readFile(join(dir, "segments-sha256.json"), "utf8")) as Record<
    string,
    string
  >;
  const init = /#EXT-X-MAP:URI="([^"]+)"/.exec(text)?.[1];
  const refs = listedSegments(text);
  if (init) refs.unshift({ uri: init, tag: manifest[init] });
  for (const { uri, tag } of refs) {
    let data: Buffer;
    try {
      data = await readFile(join(dir, uri));
    } catch {
      problems.push(`${uri}: listed but missing`);
      continue;
    }
    const h = sha256(data);
    if (tag !== h) problems.push(`${uri}: tag ${String(tag)} != ${h}`);
    if (manifest[uri] !== h) problems.push(`${uri}: manifest ${String(manifest[uri])} != ${h}`);
  }
  return problems;
}
