import type { IncomingMessage } from "node:http";
import { OriginError } from "../errors.js";
import { validateFaultPatch } from "../faults.js";
import { PREFLIGHT_HEADERS } from "../http-util.js";
import { applyFaults, baseHeaders, resetFaults, sendJson, type RouteRequest } from "./context.js";

const MAX_FAULT_BODY = 64 * 1024;

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += b.length;
    if (size > MAX_FAULT_BODY) return undefined;
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** `GET/PUT/DELETE /__faults[/<index>]`: read, merge or reset an origin's fault settings. */
export async function faultsRoute({ self, states, segs, req, res, method, ctx }: RouteRequest) {
  if (method === "OPTIONS") {
    res.writeHead(204, baseHeaders(PREFLIGHT_HEADERS));
    res.end();
    return;
  }
  let target = self;
  if (segs.length > 2) return sendJson(res, ctx, 404, { error: "not found", field: null });
  if (segs.length === 2) {
    const idx = segs[1] ?? "";
    const s = /^\d{1,3}$/.test(idx) ? states[Number(idx)] : undefined;
    if (!s) return sendJson(res, ctx, 404, { error: `no origin "${idx}"`, field: "index" });
    target = s;
  }
  if (method === "GET" || method === "HEAD") {
    return sendJson(res, ctx, 200, target.faults, method === "HEAD");
  }
  if (method === "DELETE") {
    resetFaults(target);
    return sendJson(res, ctx, 200, target.faults);
  }
  if (method !== "PUT") {
    res.setHeader("Allow", "GET, HEAD, PUT, DELETE, OPTIONS");
    return sendJson(res, ctx, 405, { error: "method not allowed", field: null });
  }
  const text = await readBody(req);
  if (text === undefined) {
    sendJson(res, ctx, 413, { error: "body too large", field: "body" });
    req.destroy();
    return;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return sendJson(res, ctx, 400, { error: "body is not valid JSON", field: "body" });
  }
  try {
    applyFaults(target, validateFaultPatch(parsed));
  } catch (err) {
    if (err instanceof OriginError) {
      return sendJson(res, ctx, 400, { error: err.message, field: err.field ?? null });
    }
    throw err;
  }
  return sendJson(res, ctx, 200, target.faults);
}
