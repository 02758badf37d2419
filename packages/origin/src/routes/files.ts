import type { OutgoingHttpHeaders } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { contentTypeFor, isPlaylistLike, parseRange, PREFLIGHT_HEADERS } from "../http-util.js";
import { sendBody } from "./body.js";
import { baseHeaders, sendJson, type RouteRequest } from "./context.js";

const INJECTED_FAULT_STATUS_TEXT = "injected fault";

/**
 * Every other path: a file of the origin's directory or of its simulated live (see
 * `ResourceResolver`), with the origin's injected faults, byte ranges and CORS.
 */
export async function fileRoute(r: RouteRequest): Promise<void> {
  const { self, req, res, segs, method, ctx, signal, metrics } = r;
  const origin = String(self.index);
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
    return sendJson(res, ctx, 405, { error: "method not allowed" });
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
      ctx,
      f.status,
      { error: INJECTED_FAULT_STATUS_TEXT, status: f.status },
      method === "HEAD",
    );
  }

  const resource = await self.resolver.resolve(segs);
  if (signal.aborted) return;
  if (!resource) return sendJson(res, ctx, 404, { error: "not found" }, method === "HEAD");

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
}
