import { baseHeaders, sendJson, type Route } from "./context.js";
import { faultsRoute } from "./faults-api.js";
import { fileRoute } from "./files.js";

/** `GET /healthz`: liveness and the origin's fault settings. */
const healthRoute: Route = {
  name: "healthz",
  match: (segs) => segs.length === 1 && segs[0] === "healthz",
  handle: ({ res, ctx, self }) => {
    sendJson(res, ctx, 200, { status: "ok", origin: self.index, faults: self.faults });
    return Promise.resolve();
  },
};

/** `GET /metrics`: the cluster's Prometheus registry. */
const metricsRoute: Route = {
  name: "metrics",
  match: (segs) => segs.length === 1 && segs[0] === "metrics",
  handle: async ({ res, ctx, method, metrics }) => {
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
  },
};

/** The origin's routes, first match wins (faults, health and metrics bypass injected faults). */
export const ROUTES: readonly Route[] = [
  { name: "faults", match: (segs) => segs[0] === "__faults", handle: faultsRoute },
  healthRoute,
  metricsRoute,
  { name: "files", match: () => true, handle: fileRoute },
];
