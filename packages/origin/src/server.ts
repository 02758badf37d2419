import { realpath, stat } from "node:fs/promises";
import {
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { OriginError } from "./errors.js";
import { createPrng, DEFAULT_FAULTS, validateFaultPatch, type FaultSettings } from "./faults.js";
import {
  CORS_HEADERS,
  contentTypeFor,
  isPlaylistLike,
  parseRange,
  parseRequestPath,
  PREFLIGHT_HEADERS,
} from "./http-util.js";
import { LiveCatalog } from "./live.js";
import { OriginMetrics } from "./metrics.js";
import { ResourceResolver, type Resource } from "./resources.js";

/** Options of `startOrigins`. */
export interface StartOriginsOptions {
  /**
   * Directory served by every origin (VOD files as they are, plus simulated live), or one
   * directory per origin index (e.g. one mirror each; its length must equal `origins`).
   */
  dir: string | string[];
  /** Number of origins (1..64). @default 3 */
  origins?: number;
  /** Port of origin 0; origin i listens on port + i. 0 = every origin on a random port. @default 0 */
  port?: number;
  /** Interface to bind. @default "127.0.0.1" */
  host?: string;
  /** Segments in each simulated live window (1..1000). @default 6 */
  liveWindow?: number;
  /** Clock in milliseconds driving the live window, shared by the cluster. @default Date.now */
  clock?: () => number;
  /** Initial fault settings per origin index (missing entries: no faults). */
  faults?: Partial<FaultSettings>[];
}

/** A running set of origins serving one directory. */
export interface OriginCluster {
  /** Base URL of each origin, ending with "/" (index = origin index). */
  readonly urls: string[];
  /** Merges `f` over origin `index`'s faults (validated; a `seed` re-seeds its PRNG). */
  setFaults(index: number, f: Partial<FaultSettings>): void;
  /** Resets one origin's faults (or every origin's) to `DEFAULT_FAULTS`. */
  resetFaults(index?: number): void;
  /** Current fault settings of origin `index` (a copy). */
  getFaults(index: number): FaultSettings;
  /** Stops every origin, dropping open connections. Idempotent. */
  close(): Promise<void>;
}

const MAX_ORIGINS = 64;
const MAX_FAULT_BODY = 64 * 1024;
const THROTTLE_TICK_MS = 50;
const INJECTED_FAULT_STATUS_TEXT = "injected fault";

interface OriginState {
  index: number;
  faults: FaultSettings;
  rng: () => number;
  server: Server;
  /** Token bucket of the bandwidth cap, shared by all responses of this origin (one "link"). */
  bucket: { credit: number; last: number };
  /** Real path of the directory this origin serves. */
  root: string;
  /** Resolves request paths to files of `root` (and its simulated live). */
  resolver: ResourceResolver;
}

interface RequestContext {
  method: string;
  truncated: boolean;
  /** Body bytes written so far. */
  bytes: number;
}

function badOption(field: string, message: string): OriginError {
  return new OriginError("invalid-option", `option "${field}": ${message}`, field);
}

function intOption(field: string, v: number | undefined, dflt: number, min: number, max: number) {
  const value = v ?? dflt;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw badOption(field, `must be an integer in [${min}, ${max}]`);
  }
  return value;
}

/** Flips bytes of `chunk` (a copy) at body offsets ≡ 511 (mod 1024), or the middle of tiny bodies. */
function corruptChunk(chunk: Buffer, bodyOffset: number, bodyLength: number): Buffer {
  const out = Buffer.from(chunk);
  if (bodyLength <= 511) {
    const p = Math.floor(bodyLength / 2) - bodyOffset;
    if (p >= 0 && p < out.length) out[p] = (out[p] ?? 0) ^ 0xff;
    return out;
  }
  let p = bodyOffset + ((511 - (bodyOffset % 1024) + 1024) % 1024);
  for (; p < bodyOffset + out.length; p += 1024) {
    const i = p - bodyOffset;
    out[i] = (out[i] ?? 0) ^ 0xff;
  }
  return out;
}

function waitDrain(res: ServerResponse, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    res.on("drain", done);
    signal.addEventListener("abort", done);
  });
}

/** Starts `origins` HTTP origins serving `dir` (see the package README for routes). */
export async function startOrigins(opts: StartOriginsOptions): Promise<OriginCluster> {
  const dirList = Array.isArray(opts.dir) ? opts.dir : undefined;
  const count = intOption("origins", opts.origins ?? dirList?.length, 3, 1, MAX_ORIGINS);
  if (dirList && dirList.length !== count) {
    throw badOption("dir", `${dirList.length} directories for ${count} origins`);
  }
  const firstPort = intOption("port", opts.port, 0, 0, 65535);
  if (firstPort !== 0 && firstPort + count - 1 > 65535) {
    throw badOption("port", "port + origins - 1 exceeds 65535");
  }
  const windowSize = intOption("liveWindow", opts.liveWindow, 6, 1, 1000);
  const host = opts.host ?? "127.0.0.1";
  const clock = opts.clock ?? Date.now;
  const dirs = dirList ?? Array.from({ length: count }, () => opts.dir as string);
  const roots: string[] = [];
  for (const d of dirs) {
    if (typeof d !== "string" || d === "") throw badOption("dir", "required");
    try {
      const real = await realpath(d);
      if (!(await stat(real)).isDirectory()) throw new Error("not a directory");
      roots.push(real);
    } catch (err) {
      throw badOption("dir", `${d}: not a readable directory: ${String(err)}`);
    }
  }
  const root = roots[0] ?? "";
  if ((opts.faults?.length ?? 0) > count) throw badOption("faults", "more entries than origins");
  const initial = (opts.faults ?? []).map((f) => validateFaultPatch(f));

  const metrics = new OriginMetrics(root);
  const startedAt = clock();
  const catalogs = new Map<string, LiveCatalog>();
  for (const r of roots) {
    if (!catalogs.has(r)) catalogs.set(r, new LiveCatalog(r, clock, startedAt, windowSize));
  }
  const states: OriginState[] = [];
  const aborters = new Set<AbortController>();
  let closed = false;

  const stateAt = (index: number): OriginState => {
    const s = Number.isInteger(index) ? states[index] : undefined;
    if (!s) throw new OriginError("unknown-origin", `no origin ${index}`, "index");
    return s;
  };
  const applyFaults = (s: OriginState, patch: Partial<FaultSettings>) => {
    s.faults = { ...s.faults, ...patch };
    if (patch.seed !== undefined) s.rng = createPrng(s.faults.seed);
  };
  const reset = (s: OriginState) => {
    s.faults = { ...DEFAULT_FAULTS };
    s.rng = createPrng(DEFAULT_FAULTS.seed);
  };

  const resolvers = new Map<string, ResourceResolver>();
  for (const [r, cat] of catalogs) resolvers.set(r, new ResourceResolver(r, cat));

  const baseHeaders = (extra: OutgoingHttpHeaders = {}): OutgoingHttpHeaders => ({
    ...CORS_HEADERS,
    ...extra,
  });

  const contexts = new WeakMap<ServerResponse, RequestContext>();

  const sendJson = (res: ServerResponse, status: number, body: unknown, head = false) => {
    const data = Buffer.from(`${JSON.stringify(body)}\n`);
    const ctx = contexts.get(res);
    if (ctx && !head) ctx.bytes += data.length;
    res.writeHead(
      status,
      baseHeaders({
        "Content-Type": "application/json",
        "Content-Length": data.length,
        "Cache-Control": "no-store",
      }),
    );
    res.end(head ? undefined : data);
  };

  const readBody = async (req: IncomingMessage): Promise<string | undefined> => {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
      size += b.length;
      if (size > MAX_FAULT_BODY) return undefined;
      chunks.push(b);
    }
    return Buffer.concat(chunks).toString("utf8");
  };

  const faultsApi = async (
    self: OriginState,
    segs: string[],
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
  ) => {
    if (method === "OPTIONS") {
      res.writeHead(204, baseHeaders(PREFLIGHT_HEADERS));
      res.end();
      return;
    }
    let target = self;
    if (segs.length > 2) return sendJson(res, 404, { error: "not found", field: null });
    if (segs.length === 2) {
      const idx = segs[1] ?? "";
      const s = /^\d{1,3}$/.test(idx) ? states[Number(idx)] : undefined;
      if (!s) return sendJson(res, 404, { error: `no origin "${idx}"`, field: "index" });
      target = s;
    }
    if (method === "GET" || method === "HEAD") {
      return sendJson(res, 200, target.faults, method === "HEAD");
    }
    if (method === "DELETE") {
      reset(target);
      return sendJson(res, 200, target.faults);
    }
    if (method !== "PUT") {
      res.setHeader("Allow", "GET, HEAD, PUT, DELETE, OPTIONS");
      return sendJson(res, 405, { error: "method not allowed", field: null });
    }
    const text = await readBody(req);
    if (text === undefined) {
      sendJson(res, 413, { error: "body too large", field: "body" });
      req.destroy();
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return sendJson(res, 400, { error: "body is not valid JSON", field: "body" });
    }
    try {
      applyFaults(target, validateFaultPatch(parsed));
    } catch (err) {
      if (err instanceof OriginError) {
        return sendJson(res, 400, { error: err.message, field: err.field ?? null });
      }
      throw err;
    }
    return sendJson(res, 200, target.faults);
  };

  const sendBody = async (
    self: OriginState,
    res: ServerResponse,
    resource: Resource,
    start: number,
    end: number,
    corrupt: boolean,
    truncateAt: number | undefined,
    ctx: RequestContext,
    signal: AbortSignal,
  ) => {
    const length = end - start + 1;
    const stream = resource.open(start, end);
    const bucket = self.bucket;
    let sent = 0;
    try {
      for await (const piece of stream) {
        let chunk = Buffer.isBuffer(piece) ? piece : Buffer.from(String(piece));
        if (corrupt) chunk = corruptChunk(chunk, sent, length);
        if (truncateAt !== undefined && sent + chunk.length > truncateAt) {
          chunk = chunk.subarray(0, truncateAt - sent);
        }
        let off = 0;
        while (off < chunk.length) {
          let n = chunk.length - off;
          const bps = self.faults.bandwidthBps;
          if (bps > 0) {
            for (;;) {
              const now = performance.now();
              const burst = Math.max(1, (bps * THROTTLE_TICK_MS * 2) / 1000);
              bucket.credit = Math.min(bucket.credit + ((now - bucket.last) * bps) / 1000, burst);
              bucket.last = now;
              if (bucket.credit >= 1) break;
              await sleep(THROTTLE_TICK_MS, undefined, { signal });
            }
            n = Math.min(n, Math.floor(bucket.credit));
            bucket.credit -= n;
          }
          const ok = res.write(chunk.subarray(off, off + n));
          off += n;
          sent += n;
          ctx.bytes += n;
          if (!ok) await waitDrain(res, signal);
          if (signal.aborted) return;
        }
        if (truncateAt !== undefined && sent >= truncateAt) break;
      }
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    } finally {
      stream.destroy();
    }
    if (truncateAt !== undefined) {
      ctx.truncated = true;
      // Let what was written reach the socket, then cut the connection mid-body.
      await new Promise<void>((resolve) => {
        res.write("", () => resolve());
        signal.addEventListener("abort", () => resolve(), { once: true });
      });
      res.destroy();
      return;
    }
    res.end();
  };

  const handle = async (self: OriginState, req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? "GET";
    const ctx: RequestContext = { method, truncated: false, bytes: 0 };
    contexts.set(res, ctx);
    const origin = String(self.index);
    const aborter = new AbortController();
    aborters.add(aborter);
    res.on("close", () => {
      aborter.abort();
      aborters.delete(aborter);
      const status = res.headersSent ? String(res.statusCode) : "reset";
      const m = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"].includes(method) ? method : "other";
      metrics.requests.inc({ origin, method: m, status });
      if (status === "reset" || res.statusCode >= 400) metrics.errors.inc({ origin, status });
      if (ctx.truncated) metrics.errors.inc({ origin, status: "truncated" });
      if (ctx.bytes > 0) metrics.bytes.inc({ origin, status }, ctx.bytes);
    });
    const signal = aborter.signal;
    // Writes racing a client disconnect may error; the "close" handler above accounts for it.
    res.on("error", () => undefined);

    const segs = parseRequestPath(req.url ?? "/");
    if (!segs) return sendJson(res, 400, { error: "bad request path" });
    const head = segs[0];
    if (head === "__faults") return faultsApi(self, segs, req, res, method);
    if (segs.length === 1 && head === "healthz") {
      return sendJson(res, 200, { status: "ok", origin: self.index, faults: self.faults });
    }
    if (segs.length === 1 && head === "metrics") {
      const body = Buffer.from(await metrics.registry.metrics());
      res.writeHead(
        200,
        baseHeaders({
          "Content-Type": metrics.registry.contentType,
          "Content-Length": body.length,
          "Cache-Control": "no-store",
        }),
      );
      if (method !== "HEAD") ctx.bytes += body.length;
      res.end(method === "HEAD" ? undefined : body);
      return;
    }

    const f = self.faults;
    if (f.down) {
      metrics.faults.inc({ origin, kind: "down" });
      req.socket.destroy();
      return;
    }
    if (method === "OPTIONS") {
      res.writeHead(204, baseHeaders(PREFLIGHT_HEADERS));
      res.end();
      return;
    }
    if (method !== "GET" && method !== "HEAD") {
      res.setHeader("Allow", "GET, HEAD, OPTIONS");
      return sendJson(res, 405, { error: "method not allowed" });
    }

    // Three draws per file request, always, so outcomes depend only on seed and request order.
    const statusDraw = self.rng();
    const corruptDraw = self.rng();
    const truncateDraw = self.rng();

    if (f.latencyMs > 0) {
      metrics.faults.inc({ origin, kind: "latency" });
      try {
        await sleep(f.latencyMs, undefined, { signal });
      } catch {
        return;
      }
    }
    if (statusDraw < f.statusRate) {
      metrics.faults.inc({ origin, kind: "status" });
      if (f.status === 429) res.setHeader("Retry-After", "1");
      return sendJson(
        res,
        f.status,
        { error: INJECTED_FAULT_STATUS_TEXT, status: f.status },
        method === "HEAD",
      );
    }

    const resource = await self.resolver.resolve(segs);
    if (signal.aborted) return;
    if (!resource) return sendJson(res, 404, { error: "not found" }, method === "HEAD");

    const range = parseRange(req.headers.range, resource.size);
    const common: OutgoingHttpHeaders = {
      "Content-Type": contentTypeFor(resource.name),
      "Accept-Ranges": "bytes",
    };
    if (isPlaylistLike(resource.name)) common["Cache-Control"] = "no-cache";
    if (range.kind === "unsatisfiable") {
      res.writeHead(
        416,
        baseHeaders({
          ...common,
          "Content-Range": `bytes */${resource.size}`,
          "Content-Length": 0,
        }),
      );
      res.end();
      return;
    }
    const start = range.kind === "partial" ? range.start : 0;
    const end = range.kind === "partial" ? range.end : resource.size - 1;
    const length = end - start + 1;
    const headers: OutgoingHttpHeaders = { ...common, "Content-Length": Math.max(0, length) };
    if (range.kind === "partial") {
      headers["Content-Range"] = `bytes ${start}-${end}/${resource.size}`;
    }
    res.writeHead(range.kind === "partial" ? 206 : 200, baseHeaders(headers));
    if (method === "HEAD" || length <= 0) {
      res.end();
      return;
    }
    const corrupt = resource.segment && corruptDraw < f.corruptRate;
    const truncate = truncateDraw < f.truncateRate;
    if (corrupt) metrics.faults.inc({ origin, kind: "corrupt" });
    if (truncate) metrics.faults.inc({ origin, kind: "truncate" });
    if (f.bandwidthBps > 0) metrics.faults.inc({ origin, kind: "bandwidth" });
    await sendBody(
      self,
      res,
      resource,
      start,
      end,
      corrupt,
      truncate ? Math.floor(length / 2) : undefined,
      ctx,
      signal,
    );
  };

  const closeAll = async () => {
    closed = true;
    for (const a of aborters) a.abort();
    await Promise.all(
      states.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (!s.server.listening) return resolve();
            s.server.close(() => resolve());
            s.server.closeAllConnections();
          }),
      ),
    );
    metrics.registry.clear();
  };

  const urls: string[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer({ keepAliveTimeout: 5_000 });
      const state: OriginState = {
        index: i,
        faults: { ...DEFAULT_FAULTS },
        rng: createPrng(DEFAULT_FAULTS.seed),
        server,
        bucket: { credit: 0, last: performance.now() },
        root: roots[i] ?? root,
        resolver: resolvers.get(roots[i] ?? root) as ResourceResolver,
      };
      applyFaults(state, initial[i] ?? {});
      states.push(state);
      server.on("request", (req: IncomingMessage, res: ServerResponse) => {
        handle(state, req, res).catch(() => {
          if (!res.headersSent) {
            try {
              sendJson(res, 500, { error: "internal error" });
              return;
            } catch {
              // fall through to destroy
            }
          }
          res.destroy();
        });
      });
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(firstPort === 0 ? 0 : firstPort + i, host, () => {
          server.off("error", reject);
          resolve();
        });
      });
      const addr = server.address();
      if (addr === null || typeof addr === "string") throw new Error("no TCP address");
      const h = host.includes(":") ? `[${host}]` : host;
      urls.push(`http://${h}:${addr.port}/`);
    }
  } catch (err) {
    await closeAll();
    throw err instanceof OriginError
      ? err
      : new OriginError("io", `cannot start origins: ${String(err)}`, undefined, { cause: err });
  }

  return {
    urls,
    setFaults(index, f) {
      applyFaults(stateAt(index), validateFaultPatch(f));
    },
    resetFaults(index) {
      if (index === undefined) states.forEach(reset);
      else reset(stateAt(index));
    },
    getFaults(index) {
      return { ...stateAt(index).faults };
    },
    async close() {
      if (closed) return;
      await closeAll();
    },
  };
}
