import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CLI_PATH, FIXTURE_DIR, REPO_ROOT, rawRequest, removeDir, tempCopy } from "./helpers.js";

const BIN = join(REPO_ROOT, "node_modules", ".bin", "hivecast-origin");
const children = new Set<ChildProcess>();
let dir = "";

beforeAll(async () => {
  dir = await tempCopy(true);
});
afterEach(() => {
  for (const c of children) c.kill("SIGKILL");
});
afterAll(async () => {
  await removeDir(dir);
});

function run(args: string[], bin?: string): ChildProcess {
  const child = bin
    ? spawn(bin, args, { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] })
    : spawn(process.execPath, ["--import", "tsx", CLI_PATH, ...args], {
        cwd: REPO_ROOT,
        stdio: ["ignore", "pipe", "pipe"],
      });
  children.add(child);
  child.on("exit", () => children.delete(child));
  return child;
}

async function result(
  args: string[],
  bin?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = run(args, bin);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

/** Starts `serve` with `n` origins; returns their URLs and its stderr so far. */
async function serve(
  args: string[],
  n: number,
): Promise<{ urls: string[]; child: ChildProcess; err: () => string }> {
  const child = run(["serve", ...args]);
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const urls: string[] = [];
  const rl = createInterface({ input: child.stdout ?? process.stdin });
  for await (const line of rl) {
    const m = /^origin \d+ (\S+)$/.exec(line);
    if (m?.[1]) urls.push(m[1]);
    if (urls.length >= n) break;
  }
  for (let i = 0; i < 100 && !stderr.includes("serving"); i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  return { urls, child, err: () => stderr };
}

describe("hivecast-origin as a user meets it", () => {
  it("is on PATH in the workspace (pnpm exec hivecast-origin), built or not", async () => {
    const r = await result(["--help"], BIN);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("pnpm exec hivecast-origin");
    expect(r.stdout).toContain("hivecast-origin package");
  }, 60_000);

  it("hash: a directory is refused with a hint; several --playlist are all hashed", async () => {
    const d = await result(["hash", "--playlist", join(dir, "media")]);
    expect(d.code).toBe(2);
    expect(d.stderr).toMatch(/is a directory: give its playlist \(e\.g\. .*master\.m3u8\)/);
    const missing = await result(["hash", "--playlist", join(dir, "nope.m3u8")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nope\.m3u8: no such file/);
    const none = await result(["hash"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--playlist \(or --watch\) is required/);

    // Two playlists: both are processed (the second one's tags change too).
    const v0 = join(dir, "media", "v0", "index.m3u8");
    const v1 = join(dir, "media", "v1", "index.m3u8");
    await writeFile(v0, (await readFile(v0, "utf8")).replace(/^#EXT-X-HIVECAST-SHA256:.*\n/gm, ""));
    await writeFile(v1, (await readFile(v1, "utf8")).replace(/^#EXT-X-HIVECAST-SHA256:.*\n/gm, ""));
    const both = await result(["hash", "--playlist", v0, "--playlist", v1]);
    expect(both.code, both.stderr).toBe(0);
    expect(both.stdout.trim().split("\n")).toHaveLength(2);
    expect(await readFile(v0, "utf8")).toContain("#EXT-X-HIVECAST-SHA256:");
    expect(await readFile(v1, "utf8")).toContain("#EXT-X-HIVECAST-SHA256:");
  }, 60_000);

  it("hash --watch needs --out and a directory", async () => {
    const r = await result(["hash", "--watch", join(dir, "media")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--watch needs --out/);
    const f = await result([
      "hash",
      "--watch",
      join(dir, "media", "master.m3u8"),
      "--out",
      join(dir, "o"),
    ]);
    expect(f.code).toBe(2);
    expect(f.stderr).toMatch(/not a directory/);
  }, 60_000);

  it("serve: a missing --dir is a clear error; the live hint only when there is a stream", async () => {
    const r = await result(["serve", "--dir", join(dir, "nope")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--dir .*nope: no such directory/);

    const empty = join(dir, "empty");
    await mkdir(empty, { recursive: true });
    const a = await serve(["--dir", empty, "--origins", "1"], 1);
    expect(a.urls).toHaveLength(1);
    expect(a.err()).not.toContain("live/master.m3u8");
    a.child.kill("SIGTERM");

    const b = await serve(["--dir", FIXTURE_DIR, "--origins", "1"], 1);
    expect(b.err()).toContain(`${b.urls[0] ?? ""}live/master.m3u8`);
    expect((await rawRequest(b.urls[0] ?? "", "/live/master.m3u8")).status).toBe(200);
    b.child.kill("SIGTERM");
  }, 60_000);

  it("serve: several --dir give each origin its own directory", async () => {
    const x = join(dir, "x");
    const y = join(dir, "y");
    await mkdir(x, { recursive: true });
    await mkdir(y, { recursive: true });
    await writeFile(join(x, "who.txt"), "x");
    await writeFile(join(y, "who.txt"), "y");
    const s = await serve(["--dir", x, "--dir", y, "--origins", "2"], 2);
    expect(s.urls).toHaveLength(2);
    expect((await rawRequest(s.urls[0] ?? "", "/who.txt")).body.toString()).toBe("x");
    expect((await rawRequest(s.urls[1] ?? "", "/who.txt")).body.toString()).toBe("y");
    s.child.kill("SIGTERM");
    const bad = await result(["serve", "--dir", x, "--dir", y, "--origins", "3"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/2 --dir given for --origins 3/);
  }, 60_000);

  it("package/export/status: usage errors exit 2, runtime errors exit 1, both with a message", async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [["package", "--input", "x.mp4"], 2, /at least one --mirror/],
      [["package", "--mirror", join(dir, "m")], 2, /--input .* is required/],
      [
        ["package", "--input", "x.mp4", "--mirror", "m", "--rendition", "big"],
        2,
        /WIDTHxHEIGHT@KBPS/,
      ],
      [["package", "--input", "x.mp4", "--mirror", "m", "--preset", "fast"], 2, /--preset must be/],
      [
        ["package", "--input", join(dir, "none.mp4"), "--mirror", join(dir, "m")],
        1,
        /cannot read input/,
      ],
      [["export", "--playlist", "p.m3u8"], 2, /--out .* is required/],
      [
        ["export", "--playlist", join(dir, "none.m3u8"), "--out", join(dir, "o.mp4")],
        1,
        /cannot read playlist/,
      ],
      [
        ["export", "--playlist", join(dir, "media"), "--out", join(dir, "o.mp4")],
        1,
        /is a directory/,
      ],
      [["status"], 2, /--url .* is required/],
      [["status", "--url", "not a url"], 2, /not a URL/],
      [
        ["status", "--url", "http://127.0.0.1:1/metrics"],
        1,
        /cannot read http:\/\/127\.0\.0\.1:1\/metrics/,
      ],
    ];
    for (const [args, code, re] of cases) {
      const r = await result(args);
      expect(r.code, args.join(" ")).toBe(code);
      expect(r.stderr, args.join(" ")).toMatch(re);
    }
  }, 60_000);

  it("status prints an origin's one-screen summary", async () => {
    const s = await serve(["--dir", FIXTURE_DIR, "--origins", "1"], 1);
    await rawRequest(s.urls[0] ?? "", "/master.m3u8");
    const r = await result(["status", "--url", `${s.urls[0] ?? ""}metrics`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/process\s+cpu [\d.]+ s, memory [\d.]+ MiB/);
    expect(r.stdout).toMatch(/origin\s+[1-9]\d* requests, 0 errors/);
    expect(r.stdout).toMatch(/disk\s+.* free/);
    s.child.kill("SIGTERM");
  }, 60_000);
});
