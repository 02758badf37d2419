import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { CLI_PATH, FIXTURE_DIR, REPO_ROOT, rawRequest, removeDir, tempCopy } from "./helpers.js";

const children = new Set<ChildProcess>();

function runCli(args: string[]): ChildProcess {
  const child = spawn(process.execPath, ["--import", "tsx", CLI_PATH, ...args], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  child.on("exit", () => children.delete(child));
  return child;
}

function exitOf(
  child: ChildProcess,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

afterEach(() => {
  for (const c of children) c.kill("SIGKILL");
});

describe("hivecast-origin CLI", () => {
  it("serve prints one URL line per origin and stops cleanly on SIGTERM", async () => {
    const child = runCli([
      "serve",
      "--dir",
      FIXTURE_DIR,
      "--origins",
      "2",
      "--port",
      "0",
      "--fault",
      "1:statusRate=1,status=503",
    ]);
    const done = exitOf(child);
    const urls: string[] = [];
    const rl = createInterface({ input: child.stdout ?? process.stdin });
    for await (const line of rl) {
      const m = /^origin (\d+) (http:\/\/127\.0\.0\.1:\d+\/)$/.exec(line);
      expect(m, line).not.toBeNull();
      urls.push(m?.[2] ?? "");
      if (urls.length === 2) break;
    }
    expect((await rawRequest(urls[0] ?? "", "/healthz")).status).toBe(200);
    expect((await rawRequest(urls[0] ?? "", "/live/master.m3u8")).status).toBe(200);
    expect((await rawRequest(urls[1] ?? "", "/master.m3u8")).status).toBe(503);
    child.kill("SIGTERM");
    const { code } = await done;
    expect(code).toBe(0);
  });

  it("hash --playlist hashes a copy of the fixture, idempotently", async () => {
    const tmp = await tempCopy(true);
    try {
      const playlist = join(tmp, "media", "master.m3u8");
      const before = await readFile(join(tmp, "media", "v0", "index.m3u8"), "utf8");
      const r = await exitOf(runCli(["hash", "--playlist", playlist]));
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/30 segments, 1 init, unchanged/);
      expect(await readFile(join(tmp, "media", "v0", "index.m3u8"), "utf8")).toBe(before);
    } finally {
      await removeDir(tmp);
    }
  });

  it("--help prints usage and exits 0", async () => {
    const { code, stdout } = await exitOf(runCli(["--help"]));
    expect(code).toBe(0);
    expect(stdout).toContain("hivecast-origin serve");
    expect(stdout).toContain("hivecast-origin hash");
  });

  it("bad flags exit 2 with a message", async () => {
    const cases = [
      ["serve", "--dir", FIXTURE_DIR, "--bogus"],
      ["serve"],
      ["serve", "--dir", FIXTURE_DIR, "--origins", "many"],
      ["serve", "--dir", FIXTURE_DIR, "--fault", "0:statusRate=7"],
      ["serve", "--dir", FIXTURE_DIR, "--fault", "5:down=true"],
      ["serve", "--dir", FIXTURE_DIR, "--live-window", "0"],
      ["serve", "--dir", "/definitely/not/here"],
      ["hash"],
      ["frobnicate"],
    ];
    const results = await Promise.all(cases.map((args) => exitOf(runCli(args))));
    results.forEach((r, i) => {
      expect(r.code, cases[i]?.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/hivecast-origin: .+/);
    });
  });
});
