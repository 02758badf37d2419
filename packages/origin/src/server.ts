import { createReadStream } from "node:fs";
import { readFile, realpath, stat } from "node:fs/promises";
import {
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from "node:http";
import { isAbsolute, join, relative } from "node:path";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { OriginAccess, type SteeringSettings } from "./access.js";
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
import { LIVE_SEGMENT_DIR, LiveCatalog, type LiveSource } from "./live.js";
import { OriginMetrics } from "./metrics.js";
import { MANIFEST_NAME, parsePlaylist, type ByteRange } from "./playlist.js";

/** Options of `startOrigins`. */
export interface StartOriginsOptions {
  /** Directory served by every origin (VOD files as they are, plus simulated live). */
  dir: string;
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
  /**
   * HMAC secret per origin index: that origin serves content only to URLs signed with it
   * (`signUrl`; 401 without a token, 403 for a wrong or expired one). @default [] (no tokens)
   */
  tokenSecrets?: Array<string | undefined>;
  /** Serve this content steering manifest at `/steering.json` on every origin. @default undefined */
  steering?: SteeringSettings;
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
  /** Replaces the steering manifest served at `/steering.json` (`undefined`: 404). */
  setSteering(s: SteeringSettings | undefined): void;
  /** Steering manifest requests served so far. */
  readonly steeringRequests: number;
}

const MAX_ORIGINS = 64;
const MAX_FAULT_BODY = 64 * 1024;
const MAX_PLAYLIST_BYTES = 8 * 1024 * 1024;
const THROTTLE_TICK_MS = 50;
const INJECTED_FAULT_STATUS_TEXT = "injected fault";

interface OriginState {
  index: number;
  faults: FaultSettings;
  rng: () => number;
  server: Server;
  /** Token bucket of the bandwidth cap, shared by all responses of this origin (one "link"). */
  bucket: { credit: number; last: number };
}

/** A body the origin can send, in whole or by range. */
interface Resource {
  /** Name used for the content type and cache policy. */
  name: string;
  size: number;
  /** Media bytes (eligible for corruption), as opposed to playlists/manifests. */
  segment: boolean;
  /** Bytes `start..end` inclusive. */
  open(start: number, end: number): Readable;
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

function fileResource(path: string, size: number, name: string, range?: ByteRange): Resource {
  const base = range?.offset ?? 0;
  return {
    name,
    size: range?.length ?? size,
    segment: !isPlaylistLike(name),
    open: (start, end) => createReadStream(path, { start: base + start, end: base + end }),
  };
}

function bufferResource(name: string, data: Buffer): Resource {
  return {
    name,
    size: data.length,
    segment: false,
    open: (start, end) => Readable.from([data.subarray(start, end + 1)]),
  };
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
  const count = intOption("origins", opts.origins, 3, 1, MAX_ORIGINS);
  const firstPort = intOption("port", opts.port, 0, 0, 65535);
  if (firstPort !== 0 && firstPort + count - 1 > 65535) {
    throw badOption("port", "port + origins - 1 exceeds 65535");
  }
  const windowSize = intOption("liveWindow", opts.liveWindow, 6, 1, 1000);
  const host = opts.host ?? "127.0.0.1";
  const clock = opts.clock ?? Date.now;
  if (typeof opts.dir !== "string" || opts.dir === "") throw badOption("dir", "required");
  let root: string;
  try {
    root = await realpath(opts.dir);
    if (!(await stat(root)).isDirectory()) throw new Error("not a directory");
  } catch (err) {
    throw badOption("dir", `not a readable directory: ${String(err)}`);
  }
  if ((opts.faults?.length ?? 0) > count) throw badOption("faults", "more entries than origins");
  const initial = (opts.faults ?? []).map((f) => validateFaultPatch(f));
  const access = new OriginAccess(opts.tokenSecrets, opts.steering, clock);

  const metrics = new OriginMetrics(root);
  const live = new LiveCatalog(root, clock, clock(), windowSize);
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

  /** Resolves a path inside the root to a regular file, refusing anything (incl. symlinks) outside. */
  const safeFile = async (path: string): Promise<{ path: string; size: number } | undefined> => {
    try {
      const real = await realpath(path);
      const rel = relative(root, real);
      if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) return undefined;
      const st = await stat(real);
      return st.isFile() ? { path: real, size: st.size } : undefined;
    } catch {
      return undefined;
    }
  };
  const vodFile = async (segs: string[]): Promise<Resource | undefined> => {
    if (segs.length === 0) return undefined;
    const f = await safeFile(join(root, ...segs));
    return f ? fileResource(f.path, f.size, segs[segs.length - 1] ?? "", undefined) : undefined;
  };
  const liveSource = async (dirSegs: string[]): Promise<LiveSource | undefined> => {
    const f = await safeFile(join(root, ...dirSegs, "index.m3u8"));
    return f ? live.source(f.path).catch(() => undefined) : undefined;
  };

  const resolveLive = async (rest: string[]): Promise<Resource | undefined> => {
    const last = rest[rest.length - 1];
    if (last === undefined) return undefined;
    const dirSegs = rest.slice(0, -1);
    if (last.toLowerCase().endsWith(".m3u8")) {
      const f = await safeFile(join(root, ...rest));
      if (!f || f.size > MAX_PLAYLIST_BYTES) return undefined;
      const text = await readFile(f.path, "utf8");
      let kind: "media" | "multivariant";
      try {
        kind = parsePlaylist(text).kind;
      } catch {
        return undefined;
      }
      // Variant URIs are relative, so the multivariant playlist works unchanged under /live/.
      if (kind === "multivariant") return bufferResource(last, Buffer.from(text));
      if (last !== "index.m3u8") return undefined;
      const src = await live.source(f.path).catch(() => undefined);
      return src ? bufferResource(last, Buffer.from(live.playlist(src))) : undefined;
    }
    if (last === MANIFEST_NAME) {
      const src = await liveSource(dirSegs);
      return src ? bufferResource(last, Buffer.from(live.manifest(src))) : undefined;
    }
    const m = /^(0|[1-9]\d{0,15})\.[A-Za-z0-9]+$/.exec(last);
    if (m?.[1] !== undefined && dirSegs[dirSegs.length - 1] === LIVE_SEGMENT_DIR) {
      const src = await liveSource(dirSegs.slice(0, -1));
      if (!src) return undefined;
      const msn = Number(m[1]);
      if (live.segmentUri(src, msn) !== `${LIVE_SEGMENT_DIR}/${last}`) return undefined;
      const seg = live.segmentFile(src, msn);
      const f = seg ? await safeFile(seg.path) : undefined;
      if (!seg || !f) return undefined;
      if (seg.range && seg.range.offset + seg.range.length > f.size) return undefined;
      return fileResource(f.path, f.size, last, seg.range);
    }
    return vodFile(rest);
  };

  const resolveResource = (segs: string[]): Promise<Resource | undefined> =>
    segs[0] === "live" ? resolveLive(segs.slice(1)) : vodFile(segs);

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

    const resource = await resolveResource(segs);
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
      };
      applyFaults(state, initial[i] ?? {});
      states.push(state);
      server.on("request", (req: IncomingMessage, res: ServerResponse) => {
        if (!state.faults.down && access.intercept(state.index, req, res)) return;
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
    setSteering(st) {
      access.setSteering(st);
    },
    get steeringRequests() {
      return access.steeringRequests;
    },
  };
}
