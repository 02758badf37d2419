import { createHash } from "node:crypto";
import { cp, mkdtemp, rm } from "node:fs/promises";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The committed fixture stream (read-only in tests: copy it before writing). */
export const FIXTURE_DIR = fileURLToPath(new URL("../../../fixtures/media/", import.meta.url));

/** Path of the CLI source, spawned with `node --import tsx`. */
export const CLI_PATH = fileURLToPath(new URL("../src/cli.ts", import.meta.url));

/** Repository root (cwd for spawned CLIs). */
export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** Lowercase hex SHA-256 computed with node:crypto, independent of the code under test. */
export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A fresh copy of the fixture (or an empty dir) in the OS temp dir; remove with `rm`. */
export async function tempCopy(withFixture = true): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "hivecast-origin-test-"));
  if (withFixture) await cp(FIXTURE_DIR, join(dir, "media"), { recursive: true });
  return dir;
}

/** Removes a temp dir made by `tempCopy`. */
export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** What a raw HTTP exchange produced, including transport failures. */
export interface RawResponse {
  status: number | undefined;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Number of `data` events the body arrived in. */
  chunks: number;
  /** Socket/transport error (reset, aborted body), if any. */
  error: Error | undefined;
  /** Milliseconds from request start to the end (or failure). */
  ms: number;
}

/**
 * One HTTP request on a fresh connection, with the request target sent exactly as given
 * (fetch would normalise `..`). Never rejects: transport failures land in `error`.
 */
export function rawRequest(
  base: string,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<RawResponse> {
  const u = new URL(base);
  const t0 = performance.now();
  return new Promise((resolve) => {
    let status: number | undefined;
    let headers: IncomingHttpHeaders = {};
    const parts: Buffer[] = [];
    let chunks = 0;
    let settled = false;
    const finish = (error: Error | undefined) => {
      if (settled) return;
      settled = true;
      resolve({
        status,
        headers,
        body: Buffer.concat(parts),
        chunks,
        error,
        ms: performance.now() - t0,
      });
    };
    const req = httpRequest(
      {
        host: u.hostname,
        port: u.port,
        path,
        method: opts.method ?? "GET",
        headers: opts.headers,
        agent: false,
      },
      (res) => {
        status = res.statusCode;
        headers = res.headers;
        res.on("data", (c: Buffer) => {
          parts.push(c);
          chunks++;
        });
        res.on("end", () => finish(undefined));
        res.on("error", (e) => finish(e));
        res.on("aborted", () => finish(new Error("aborted")));
      },
    );
    req.on("error", (e) => finish(e));
    req.setTimeout(20_000, () => req.destroy(new Error("test client timeout")));
    req.end(opts.body);
  });
}

/** JSON body of a response (throws if it is not JSON). */
export function json(r: RawResponse): unknown {
  return JSON.parse(r.body.toString("utf8"));
}
