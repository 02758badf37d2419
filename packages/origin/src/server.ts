import { realpath, stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { OriginAccess, type SteeringSettings } from "./access.js";
import { OriginError } from "./errors.js";
import { createPrng, DEFAULT_FAULTS, validateFaultPatch, type FaultSettings } from "./faults.js";
import { parseRequestPath } from "./http-util.js";
import { LiveCatalog } from "./live.js";
import { OriginMetrics } from "./metrics.js";
import { ResourceResolver } from "./resources.js";
import {
  applyFaults,
  resetFaults,
  sendJson,
  type OriginState,
  type RequestContext,
} from "./routes/context.js";
import { ROUTES } from "./routes/index.js";

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
  const access = new OriginAccess(opts.tokenSecrets, opts.steering, clock);

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
  const resolvers = new Map<string, ResourceResolver>();
  for (const [r, cat] of catalogs) resolvers.set(r, new ResourceResolver(r, cat));

  const handle = async (self: OriginState, req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? "GET";
    const ctx: RequestContext = { method, truncated: false, bytes: 0 };
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
    // Writes racing a client disconnect may error; the "close" handler above accounts for it.
    res.on("error", () => undefined);

    const segs = parseRequestPath(req.url ?? "/");
    if (!segs) return sendJson(res, ctx, 400, { error: "bad request path" });
    const route = ROUTES.find((r) => r.match(segs));
    if (!route) return sendJson(res, ctx, 404, { error: "not found" });
    await route.handle({
      self,
      states,
      metrics,
      req,
      res,
      segs,
      method,
      ctx,
      signal: aborter.signal,
    });
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
        if (!state.faults.down && access.intercept(state.index, req, res)) return;
        handle(state, req, res).catch(() => {
          if (!res.headersSent) {
            try {
              sendJson(res, undefined, 500, { error: "internal error" });
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
      if (index === undefined) states.forEach(resetFaults);
      else resetFaults(stateAt(index));
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
