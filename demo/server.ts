/**
 * The demo's servers in one process: N dev origins serving the fixture stream (with fault
 * injection), the signaling server (tracker), and a static server for the built demo that also
 * answers `/config.json` with the URLs of the other two, so the page works on any ports.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { readFile, stat, readdir, writeFile, mkdir } from "node:fs/promises";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { AddressInfo } from "node:net";
import { startOrigins } from "@hivecast/origin";
import { startSignalingServer } from "@hivecast/signaling-server";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const demoRoot = fileURLToPath(new URL(".", import.meta.url));

/** Where the production build goes by default. */
export const DEFAULT_DIST_DIR = join(demoRoot, "dist");
/** The committed fixture stream the origins serve by default. */
export const DEFAULT_MEDIA_DIR = join(repoRoot, "fixtures", "media");

/** Error codes of {@link DemoServerError}. */
export type DemoServerErrorCode = "NO_MEDIA" | "NO_BUILD" | "BAD_OPTION" | "LISTEN_FAILED";

/** A failure starting the demo, with a code callers can branch on. */
export class DemoServerError extends Error {
  override readonly name = "DemoServerError";
  constructor(
    readonly code: DemoServerErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Options for {@link startDemoServers}. */
export interface DemoServerOptions {
  /** Port of the page server (0 = any free port). @default 8080 */
  port?: number;
  /** Address every server binds to. @default "127.0.0.1" */
  host?: string;
  /** Number of origins. @default 3 */
  origins?: number;
  /** First origin port; origin i listens on originPort + i (0 = any free ports). @default 8081 */
  originPort?: number;
  /** Port of the signaling server (0 = any free port). @default 8090 */
  signalingPort?: number;
  /** Directory holding the HLS fixture (master.m3u8, v0/, v1/). @default fixtures/media */
  mediaDir?: string;
  /** Built demo to serve. @default demo/dist */
  distDir?: string;
  /** Build the demo first: only when sources changed, always, or never. @default "if-stale" */
  build?: "if-stale" | "always" | "never";
  /** Progress messages (building…). @default no output */
  log?: (message: string) => void;
}

/** The running demo. */
export interface DemoServers {
  /** Page URL, ending with "/". */
  url: string;
  /** Origin base URLs, each ending with "/". */
  origins: string[];
  /** Tracker WebSocket URL. */
  tracker: string;
  /** Sets faults of origin i directly (tests); the page does the same over HTTP. */
  setFaults: (i: number, faults: Parameters<OriginCluster["setFaults"]>[1]) => void;
  /** Stops every server. */
  close(): Promise<void>;
}

type OriginCluster = Awaited<ReturnType<typeof startOrigins>>;

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
};

const BUILD_INPUTS = [
  join(demoRoot, "index.html"),
  join(demoRoot, "swarm.html"),
  join(demoRoot, "embed.html"),
  join(demoRoot, "vite.config.ts"),
  join(demoRoot, "src"),
  join(repoRoot, "packages", "core", "src"),
  join(repoRoot, "packages", "hlsjs", "src"),
];
const STAMP = ".hivecast-build";

async function newestMtime(path: string): Promise<number> {
  let s;
  try {
    s = await stat(path);
  } catch {
    return 0;
  }
  if (!s.isDirectory()) return s.mtimeMs;
  let newest = s.mtimeMs;
  for (const entry of await readdir(path)) {
    newest = Math.max(newest, await newestMtime(join(path, entry)));
  }
  return newest;
}

/** True when `distDir` holds a build at least as new as every demo and SDK source file. */
export async function isBuildFresh(distDir = DEFAULT_DIST_DIR): Promise<boolean> {
  let built: number;
  try {
    built = (await stat(join(distDir, STAMP))).mtimeMs;
    await stat(join(distDir, "index.html"));
  } catch {
    return false;
  }
  const inputs = await Promise.all(BUILD_INPUTS.map(newestMtime));
  return Math.max(...inputs) <= built;
}

/** Production build of the demo with Vite (bundles the SDK from its sources). */
export async function buildDemo(outDir = DEFAULT_DIST_DIR): Promise<void> {
  const { build } = await import("vite");
  await build({
    configFile: join(demoRoot, "vite.config.ts"),
    logLevel: "warn",
    build: { outDir, emptyOutDir: true },
  });
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, STAMP), `${new Date().toISOString()}\n`);
}

const WILDCARD_HOSTS = new Set(["0.0.0.0", "::", "[::]", ""]);

/**
 * When the servers listen on every interface, the URLs they report name the wildcard address;
 * the page must instead reach them by the host name the browser used for the page itself.
 */
function rewriteHost(url: string, req: IncomingMessage, bindHost: string): string {
  if (!WILDCARD_HOSTS.has(bindHost)) return url;
  const hostHeader = req.headers.host;
  if (typeof hostHeader !== "string") return url;
  let seen: URL;
  try {
    seen = new URL(`http://${hostHeader}`);
  } catch {
    return url;
  }
  const u = new URL(url);
  u.hostname = seen.hostname;
  return u.href;
}

function send(res: ServerResponse, status: number, type: string, body: string | Uint8Array): void {
  res.writeHead(status, {
    "content-type": type,
    "content-length": Buffer.byteLength(body),
    "x-content-type-options": "nosniff",
  });
  res.end(body);
}

async function serveStatic(root: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let pathname: string;
  try {
    pathname = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
  } catch {
    send(res, 400, "text/plain; charset=utf-8", "bad path\n");
    return;
  }
  if (pathname.endsWith("/")) pathname += "index.html";
  const file = resolve(root, `.${pathname}`);
  if (!file.startsWith(root + sep) || pathname.includes("\0") || pathname.includes(STAMP)) {
    send(res, 404, "text/plain; charset=utf-8", "not found\n");
    return;
  }
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch {
    send(res, 404, "text/plain; charset=utf-8", "not found\n");
    return;
  }
  const type = CONTENT_TYPES[extname(file)] ?? "application/octet-stream";
  // Vite puts content hashes in asset names, so those may be cached for good; pages may not.
  const immutable = pathname.startsWith("/assets/");
  res.writeHead(200, {
    "content-type": type,
    "content-length": body.length,
    "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache",
    "x-content-type-options": "nosniff",
  });
  res.end(req.method === "HEAD" ? undefined : body);
}

function checkPort(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 65535) {
    throw new DemoServerError("BAD_OPTION", `${name} must be a port number 0…65535, got ${v}`);
  }
  return v;
}

/**
 * Starts origins, tracker and page server. Every server is stopped again if one fails to start.
 */
export async function startDemoServers(opts: DemoServerOptions = {}): Promise<DemoServers> {
  const host = opts.host ?? "127.0.0.1";
  const port = checkPort("port", opts.port ?? 8080);
  const originPort = checkPort("originPort", opts.originPort ?? 8081);
  const signalingPort = checkPort("signalingPort", opts.signalingPort ?? 8090);
  const count = opts.origins ?? 3;
  if (!Number.isInteger(count) || count < 1 || count > 16) {
    throw new DemoServerError("BAD_OPTION", `origins must be 1…16, got ${count}`);
  }
  const mediaDir = resolve(opts.mediaDir ?? DEFAULT_MEDIA_DIR);
  const distDir = resolve(opts.distDir ?? DEFAULT_DIST_DIR);
  const log = opts.log ?? ((): void => {});

  try {
    await stat(join(mediaDir, "master.m3u8"));
  } catch {
    throw new DemoServerError("NO_MEDIA", `no HLS fixture at ${join(mediaDir, "master.m3u8")}`);
  }

  const mode = opts.build ?? "if-stale";
  if (mode === "always" || (mode === "if-stale" && !(await isBuildFresh(distDir)))) {
    log("building the demo (vite build)…");
    const t0 = Date.now();
    await buildDemo(distDir);
    log(`built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } else {
    try {
      await stat(join(distDir, "index.html"));
    } catch {
      throw new DemoServerError("NO_BUILD", `no demo build in ${distDir} (run vite build)`);
    }
  }

  const closers: (() => Promise<void>)[] = [];
  const closeAll = async (): Promise<void> => {
    for (const c of closers.splice(0).reverse()) {
      try {
        await c();
      } catch {
        // keep closing the others
      }
    }
  };

  try {
    const cluster = await startOrigins({ dir: mediaDir, origins: count, port: originPort, host });
    closers.push(() => cluster.close());
    // Only warnings and errors from the tracker: the console is for the demo's URLs.
    const signaling = await startSignalingServer({
      port: signalingPort,
      host,
      logLevel: "warn",
      shutdownTimeoutMs: 1000,
    });
    closers.push(() => signaling.close());

    const server: Server = createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      if (req.method !== "GET" && req.method !== "HEAD") {
        send(res, 405, "text/plain; charset=utf-8", "method not allowed\n");
        return;
      }
      if (path === "/config.json") {
        const origins = cluster.urls.map((u) => rewriteHost(u, req, host));
        const first = origins[0] ?? "";
        const body = JSON.stringify({
          origins,
          tracker: rewriteHost(signaling.url, req, host),
          live: new URL("live/master.m3u8", first).href,
          vod: new URL("master.m3u8", first).href,
        });
        res.setHeader("cache-control", "no-store");
        send(res, 200, "application/json; charset=utf-8", body);
        return;
      }
      serveStatic(distDir, req, res).catch(() => {
        if (!res.headersSent) send(res, 500, "text/plain; charset=utf-8", "error\n");
        else res.destroy();
      });
    });
    await new Promise<void>((ok, fail) => {
      server.once("error", (e) =>
        fail(new DemoServerError("LISTEN_FAILED", `page server on ${host}:${port}: ${e.message}`)),
      );
      server.listen(port, host, () => ok());
    });
    closers.push(
      () =>
        new Promise<void>((ok) => {
          server.closeAllConnections();
          server.close(() => ok());
        }),
    );
    const address = server.address() as AddressInfo;
    const pageHost = WILDCARD_HOSTS.has(host)
      ? "localhost"
      : host.includes(":")
        ? `[${host}]`
        : host;
    return {
      url: `http://${pageHost}:${address.port}/`,
      origins: [...cluster.urls],
      tracker: signaling.url,
      setFaults: (i, faults) => cluster.setFaults(i, faults),
      close: closeAll,
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
