import { createServer, type Server } from "node:net";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportRecording } from "../src/export.js";
import { startPackager, type Packager, type PackagerOptions } from "../src/packager.js";
import { OriginError } from "../src/errors.js";
import { formatStatus } from "../src/status.js";
import { removeDir, tempCopy } from "./helpers.js";
import {
  checkMediaPlaylist,
  exited,
  freePort,
  listedSegments,
  makeTestMp4,
  probeDuration,
  startPublisher,
} from "./media-helpers.js";

const LADDER = [
  { width: 192, height: 108, videoKbps: 200 },
  { width: 128, height: 72, videoKbps: 100 },
];

let dir = "";
let input = "";
const packagers = new Set<Packager>();
const children = new Set<ReturnType<typeof startPublisher>>();

beforeAll(async () => {
  dir = await tempCopy(false);
  input = join(dir, "input.mp4");
  makeTestMp4(input, 6);
});

afterAll(async () => {
  for (const c of children) c.kill("SIGKILL");
  for (const p of packagers) await p.stop();
  await removeDir(dir);
});

/**
 * A packager with the tests' ladder, a fast poll and its log in `logs`; stopped after the suite.
 * `opts` gives the input, the mirrors and whatever else the test needs.
 */
async function testPackager(
  opts: Pick<PackagerOptions, "input" | "mirrors"> & Partial<PackagerOptions>,
  logs: string[],
): Promise<Packager> {
  const p = await startPackager({
    renditions: LADDER,
    pollMs: 50,
    log: (l) => logs.push(l),
    ...opts,
  });
  packagers.add(p);
  return p;
}

async function recordingDirs(mirror: string): Promise<string[]> {
  return (await readdir(mirror)).filter((n) => n.startsWith("rec-")).sort();
}

async function expectError(p: Promise<unknown>, code: string, text: RegExp): Promise<void> {
  const err: unknown = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OriginError);
  expect((err as OriginError).code).toBe(code);
  expect((err as OriginError).message).toMatch(text);
}

describe("package: file input", () => {
  it("publishes atomically to every mirror (a fast reader never sees a segment without file + hash), keeps the live window, ends as VOD; an unwritable mirror catches up; export verifies and merges", async () => {
    const mirrors = [join(dir, "a", "m1"), join(dir, "a", "m2"), join(dir, "a", "m3")];
    // m3 is unwritable at first: a regular file where its directory should be.
    await mkdir(join(dir, "a"), { recursive: true });
    await writeFile(mirrors[2] ?? "", "not a directory");
    const logs: string[] = [];
    const p = await testPackager({ input, mirrors, segmentSeconds: 1, window: 3 }, logs);

    let checks = 0;
    let maxLiveListed = 0;
    const problems: string[] = [];
    let unblocked = false;
    let running = true;
    void p.done.finally(() => (running = false));
    while (running) {
      for (const m of mirrors.slice(0, 2)) {
        let master: string;
        try {
          master = await readFile(join(m, "master.m3u8"), "utf8");
        } catch {
          continue;
        }
        for (const uri of master.split("\n").filter((l) => l !== "" && !l.startsWith("#"))) {
          const path = join(m, uri);
          const text = await readFile(path, "utf8");
          if (!text.includes("#EXT-X-ENDLIST")) {
            maxLiveListed = Math.max(maxLiveListed, listedSegments(text).length);
          }
          problems.push(...(await checkMediaPlaylist(path)));
          checks++;
        }
      }
      if (!unblocked && checks > 20) {
        await rm(mirrors[2] ?? "", { force: true });
        unblocked = true;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    await p.done;
    expect(problems).toEqual([]);
    expect(checks).toBeGreaterThan(50);
    expect(maxLiveListed).toBeGreaterThan(0);
    expect(maxLiveListed).toBeLessThanOrEqual(3);
    expect(unblocked).toBe(true);
    expect(logs.some((l) => /mirror .*m3: cannot publish/.test(l))).toBe(true);
    expect(logs.some((l) => /m3: writable again/.test(l))).toBe(true);

    expect(p.recordings).toHaveLength(1);
    const rec = p.recordings[0] ?? "";
    expect(rec).toMatch(/^rec-\d{8}T\d{6}Z$/);
    const first = await readFile(join(mirrors[0] ?? "", rec, "v0", "index.m3u8"), "utf8");
    for (const m of mirrors) {
      expect(await recordingDirs(m)).toEqual([rec]);
      for (const v of ["v0", "v1"]) {
        const path = join(m, rec, v, "index.m3u8");
        const text = await readFile(path, "utf8");
        expect(text).toContain("#EXT-X-ENDLIST");
        expect(text).toContain("#EXT-X-PLAYLIST-TYPE:VOD");
        expect(text).toContain("#EXT-X-PROGRAM-DATE-TIME:");
        expect(text).toMatch(/#EXT-X-MAP:URI="init_\d\.mp4"/);
        expect(listedSegments(text).length).toBeGreaterThanOrEqual(5);
        expect(await checkMediaPlaylist(path)).toEqual([]);
      }
      // Every mirror holds the same recording.
      expect(await readFile(join(m, rec, "v0", "index.m3u8"), "utf8")).toBe(first);
      const top = await readFile(join(m, "master.m3u8"), "utf8");
      expect(top).toContain(`${rec}/v0/index.m3u8`);
      expect(top).toContain(`${rec}/v1/index.m3u8`);
    }
    // No temp file left behind.
    const all = await readdir(join(mirrors[0] ?? "", rec, "v0"));
    expect(all.filter((n) => n.endsWith(".tmp"))).toEqual([]);

    // export: verified merge, duration matches the playlist.
    const out = join(dir, "a", "export.mp4");
    const report = await exportRecording({ playlist: join(mirrors[1] ?? "", "master.m3u8"), out });
    expect(report.segments).toBe(listedSegments(first).length);
    expect(Math.abs(probeDuration(out) - report.playlistDuration)).toBeLessThan(0.25);

    // A corrupt segment: clear error naming it, no output file.
    const seg = listedSegments(first)[2]?.uri ?? "";
    const segPath = join(mirrors[1] ?? "", rec, "v0", seg);
    const bytes = await readFile(segPath);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    await writeFile(segPath, bytes);
    const bad = join(dir, "a", "bad.mp4");
    await expectError(
      exportRecording({ playlist: join(mirrors[1] ?? "", "master.m3u8"), out: bad }),
      "integrity",
      new RegExp(`${seg} does not match its SHA-256`),
    );
    await rm(segPath);
    await expectError(
      exportRecording({ playlist: join(mirrors[1] ?? "", "master.m3u8"), out: bad }),
      "integrity",
      new RegExp(`${seg} is missing`),
    );
    expect(existsSync(bad)).toBe(false);
    expect((await readdir(join(dir, "a"))).filter((n) => n.startsWith(".bad"))).toEqual([]);
  }, 90_000);
});

/** Pids of running ffmpeg processes whose command line mentions `needle`. */
async function ffmpegPids(needle: string): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const cmd = await readFile(`/proc/${name}/cmdline`, "utf8").catch(() => "");
    const argv = cmd.split("\0");
    if (/(^|\/)ffmpeg$/.test(argv[0] ?? "") && argv.some((a) => a.includes(needle)))
      out.push(Number(name));
  }
  return out;
}

describe("package: ffmpeg dies mid-stream", () => {
  it("keeps every published segment valid (file, hash, playlist), never lists the cut-off segment, and ends the recording as VOD, saying so", async () => {
    const own = join(dir, "dies", "input.mp4");
    await mkdir(join(dir, "dies"), { recursive: true });
    makeTestMp4(own, 20);
    const mirrors = [join(dir, "dies", "m1"), join(dir, "dies", "m2")];
    const logs: string[] = [];
    const p = await testPackager(
      {
        input: own,
        mirrors,
        segmentSeconds: 1,
        window: 4,
      },
      logs,
    );
    // Wait until a few segments are out (ffmpeg reads the file in real time), then kill it hard.
    const published = async (): Promise<number> => {
      const recs = await recordingDirs(mirrors[0] ?? "").catch(() => []);
      const rec = recs[0];
      if (!rec) return 0;
      const text = await readFile(join(mirrors[0] ?? "", rec, "v0", "index.m3u8"), "utf8").catch(
        () => "",
      );
      return listedSegments(text).length;
    };
    for (let i = 0; i < 300 && (await published()) < 3; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(await published()).toBeGreaterThanOrEqual(3);
    const pids = await ffmpegPids(own);
    expect(pids).toHaveLength(1);
    process.kill(pids[0] ?? 0, "SIGKILL");
    await p.done; // a file input ends with its ffmpeg
    packagers.delete(p);

    expect(logs.some((l) => /ended abnormally/.test(l))).toBe(true);
    expect(p.recordings).toHaveLength(1);
    const metrics = await p.metrics.registry.metrics();
    expect(metrics).toMatch(/hivecast_packager_ffmpeg_failures_total 1\n/);
    expect(metrics).toMatch(/hivecast_packager_recordings_total 1\n/);
    const rec = p.recordings[0] ?? "";
    for (const m of mirrors)
      for (const r of ["v0", "v1"]) {
        const path = join(m, rec, r, "index.m3u8");
        const text = await readFile(path, "utf8");
        expect(text).toContain("#EXT-X-ENDLIST");
        const listed = listedSegments(text);
        // Killed at second 3-4 of 20: what is listed stops well before the input's end.
        expect(listed.length).toBeGreaterThanOrEqual(2);
        expect(listed.length).toBeLessThan(19);
        // Every listed segment exists with exactly the bytes its hash names (no partial file).
        expect(await checkMediaPlaylist(path)).toEqual([]);
      }
    expect(await ffmpegPids(own)).toEqual([]);
  }, 90_000);
});

describe("package: an ffmpeg that keeps dying", () => {
  it("is restarted with a growing backoff (not in a tight loop), said in the log; stop() ends the wait at once", async () => {
    // A stand-in ffmpeg: answers -version, then fails every run at once.
    const fake = join(dir, "failing-ffmpeg.sh");
    await writeFile(
      fake,
      '#!/bin/sh\ncase "$*" in *-version*) echo "ffmpeg version fake"; exit 0;; esac\necho "boom: cannot open encoder" >&2\nexit 1\n',
      { mode: 0o755 },
    );
    const port = await freePort();
    const logs: string[] = [];
    const p = await testPackager(
      {
        input: `rtmp://127.0.0.1:${port}/live/stream`,
        mirrors: [join(dir, "dying", "m1")],
        ffmpeg: fake,
      },
      logs,
    );
    await new Promise((r) => setTimeout(r, 2_600));
    const failed = logs.filter((l) => l.startsWith("publish attempt failed"));
    // 0.5 s, 1 s, 2 s: three or four attempts in 2.6 s (a tight loop makes hundreds).
    expect(failed.length).toBeGreaterThanOrEqual(2);
    expect(failed.length).toBeLessThanOrEqual(4);
    expect(failed[0]).toMatch(/boom: cannot open encoder; retrying in 0\.5 s/);
    expect(failed[1]).toMatch(/retrying in 1\.0 s/);
    const t0 = Date.now();
    await p.stop();
    packagers.delete(p);
    expect(Date.now() - t0).toBeLessThan(1_000); // the backoff wait does not hold stop()
    expect(p.recordings).toEqual([]);
    const metrics = await p.metrics.registry.metrics();
    expect(metrics).toMatch(/hivecast_packager_recordings_total 0\n/);
    // One failure per failed attempt (counted again after stop: one may have ended meanwhile).
    expect(Number(/hivecast_packager_ffmpeg_failures_total (\d+)/.exec(metrics)?.[1])).toBe(
      logs.filter((l) => l.startsWith("publish attempt failed")).length,
    );
  }, 30_000);
});

describe("package: RTMP input", () => {
  it("listens like nginx-rtmp; a publisher disconnect ends the recording as VOD; the next publish is a new recording", async () => {
    const port = await freePort();
    const url = `rtmp://127.0.0.1:${port}/live/stream`;
    const mirrors = [join(dir, "r", "m1"), join(dir, "r", "m2")];
    const logs: string[] = [];
    const p = await testPackager(
      {
        input: url,
        mirrors,
        segmentSeconds: 1,
        window: 4,
      },
      logs,
    );

    // The port is taken while it listens (once ffmpeg has bound it: we try binding it too).
    const bound = () =>
      new Promise<boolean>((resolve) => {
        const probe = createServer();
        probe.once("error", () => resolve(true));
        probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(false)));
      });
    for (let i = 0; i < 300 && !(await bound()); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await expectError(
      startPackager({ input: url, mirrors: [join(dir, "r", "x")] }),
      "port-busy",
      /port already in use/,
    );

    const waitFor = async (cond: () => boolean | Promise<boolean>) => {
      for (let i = 0; i < 400 && !(await cond()); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const publish = async (seconds: number) => {
      await waitFor(() => logs.filter((l) => l.startsWith("waiting")).length > p.recordings.length);
      // ffmpeg needs a moment after spawning before it accepts.
      for (let attempt = 0; attempt < 20; attempt++) {
        const pub = startPublisher(url, seconds);
        children.add(pub);
        const code = await exited(pub, 30_000);
        children.delete(pub);
        if (code === 0) return;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error("publisher could not connect");
    };

    await publish(3);
    await waitFor(() => logs.some((l) => /publisher disconnected/.test(l)));
    expect(p.recordings).toHaveLength(1);
    const rec1 = p.recordings[0] ?? "";
    for (const m of mirrors) {
      const path = join(m, rec1, "v0", "index.m3u8");
      const text = await readFile(path, "utf8");
      expect(text).toContain("#EXT-X-ENDLIST");
      expect(listedSegments(text).length).toBeGreaterThanOrEqual(2);
      expect(await checkMediaPlaylist(path)).toEqual([]);
    }

    await publish(2);
    await waitFor(() => logs.filter((l) => /publisher disconnected/.test(l)).length >= 2);
    expect(p.recordings).toHaveLength(2);
    const rec2 = p.recordings[1] ?? "";
    expect(rec2).not.toBe(rec1);
    for (const m of mirrors) {
      expect(await recordingDirs(m)).toEqual([rec1, rec2].sort());
      expect(await readFile(join(m, "master.m3u8"), "utf8")).toContain(`${rec2}/v0/index.m3u8`);
      expect(await readFile(join(m, rec2, "v1", "index.m3u8"), "utf8")).toContain("#EXT-X-ENDLIST");
    }
    const metrics = await p.metrics.registry.metrics();
    // Two publishes that ended normally: two recordings, no ffmpeg failure.
    expect(metrics).toMatch(/hivecast_packager_recordings_total 2\n/);
    expect(metrics).toMatch(/hivecast_packager_ffmpeg_failures_total 0\n/);
    const status = formatStatus(metrics, "packager");
    expect(status).toMatch(
      /packager {2}last segment [\d.]+ s ago, recordings 2, ffmpeg failures 0/,
    );
    expect(status).toMatch(/mirror {4}.*m1: [1-9]\d* segments, .* written, lag 0, disk free/);
    expect(metrics).toMatch(/hivecast_packager_segments_published_total\{mirror="[^"]+m1"\} [1-9]/);
    expect(metrics).toMatch(/hivecast_packager_disk_free_bytes\{mirror="[^"]+m2"\} [1-9]/);

    await p.stop();
    packagers.delete(p);
    // Stopping while waiting for a publisher creates no empty recording.
    for (const m of mirrors) expect(await recordingDirs(m)).toHaveLength(2);
  }, 90_000);
});

describe("package: clear errors", () => {
  let blocker: Server | undefined;
  afterAll(() => blocker?.close());

  it("names the Debian package when ffmpeg is missing", async () => {
    await expectError(
      startPackager({ input, mirrors: [join(dir, "e1")], ffmpeg: join(dir, "no-ffmpeg") }),
      "ffmpeg-missing",
      /Debian package `ffmpeg`/,
    );
  });

  it("refuses an unreadable or undecodable input, and unsupported URLs", async () => {
    await expectError(
      startPackager({ input: join(dir, "missing.mp4"), mirrors: [join(dir, "e2")] }),
      "input-unreadable",
      /cannot read input .*missing\.mp4/,
    );
    await writeFile(join(dir, "text.mp4"), "this is not a video");
    await expectError(
      startPackager({ input: join(dir, "text.mp4"), mirrors: [join(dir, "e2")] }),
      "input-unreadable",
      /cannot read input .*text\.mp4/,
    );
    await expectError(
      startPackager({ input: "http://127.0.0.1:1/x.mp4", mirrors: [join(dir, "e2")] }),
      "invalid-option",
      /unsupported input URL/,
    );
    await expectError(startPackager({ input, mirrors: [] }), "invalid-option", /mirror/);
    await expectError(
      startPackager({ input, mirrors: [join(dir, "e2")], renditions: [] }),
      "invalid-option",
      /ladder/,
    );
  });

  it("says when the RTMP port is busy", async () => {
    const srv = createServer();
    blocker = srv;
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
    const addr = srv.address();
    const port = addr && typeof addr !== "string" ? addr.port : 0;
    await expectError(
      startPackager({ input: `rtmp://127.0.0.1:${port}/live/s`, mirrors: [join(dir, "e3")] }),
      "port-busy",
      new RegExp(`127\\.0\\.0\\.1:${port}: port already in use`),
    );
  });
});
