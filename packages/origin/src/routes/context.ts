import type { IncomingMessage, OutgoingHttpHeaders, Server, ServerResponse } from "node:http";
import { createPrng, DEFAULT_FAULTS, type FaultSettings } from "../faults.js";
import { CORS_HEADERS } from "../http-util.js";
import type { OriginMetrics } from "../metrics.js";
import type { ResourceResolver } from "../resources.js";

/** One origin of a cluster: its server, fault settings and the directory it serves. */
export interface OriginState {
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

/** Per-request accounting, read by the metrics when the response closes. */
export interface RequestContext {
  method: string;
  truncated: boolean;
  /** Body bytes written so far. */
  bytes: number;
}

/** What every route handler gets. */
export interface RouteRequest {
  /** The origin that received the request. */
  self: OriginState;
  /** Every origin of the cluster, by index. */
  states: OriginState[];
  metrics: OriginMetrics;
  req: IncomingMessage;
  res: ServerResponse;
  /** Decoded path segments (already checked by `parseRequestPath`). */
  segs: string[];
  method: string;
  ctx: RequestContext;
  /** Aborted when the response closes (client gone or cluster closing). */
  signal: AbortSignal;
}

/** A route: `match` on the path segments, `handle` the request. First match wins. */
export interface Route {
  name: string;
  match(segs: string[]): boolean;
  handle(r: RouteRequest): Promise<void>;
}

/** CORS headers plus `extra`. */
export function baseHeaders(extra: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
  return { ...CORS_HEADERS, ...extra };
}

/** Sends a small JSON body (no-store), counting its bytes in `ctx`. */
export function sendJson(
  res: ServerResponse,
  ctx: RequestContext | undefined,
  status: number,
  body: unknown,
  head = false,
): void {
  const data = Buffer.from(`${JSON.stringify(body)}\n`);
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
}

/** Merges a validated patch into an origin's faults (a `seed` re-seeds its PRNG). */
export function applyFaults(s: OriginState, patch: Partial<FaultSettings>): void {
  s.faults = { ...s.faults, ...patch };
  if (patch.seed !== undefined) s.rng = createPrng(s.faults.seed);
}

/** Restores `DEFAULT_FAULTS` on an origin. */
export function resetFaults(s: OriginState): void {
  s.faults = { ...DEFAULT_FAULTS };
  s.rng = createPrng(DEFAULT_FAULTS.seed);
}
