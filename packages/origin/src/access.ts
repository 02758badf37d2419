/**
 * Optional per-origin behaviour of the dev origins that real CDNs have and tests need:
 * a signed-URL requirement (each origin its own HMAC secret, like per-CDN URL signing) and a
 * content-steering endpoint (`/steering.json`, HLS content steering manifest).
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { OriginError } from "./errors.js";
import { CORS_HEADERS } from "./http-util.js";

/** Query parameter holding the expiry (Unix milliseconds) of a signed URL. */
export const TOKEN_EXPIRY_PARAM = "hc_exp";
/** Query parameter holding the signature of a signed URL. */
export const TOKEN_SIGNATURE_PARAM = "hc_sig";
/** Path of the content steering manifest on every origin. */
export const STEERING_PATH = "/steering.json";

/** The steering manifest the origins serve (HLS content steering, version 1). */
export interface SteeringSettings {
  /** PATHWAY-PRIORITY: pathway ids, most preferred first (1..32 ids of `[A-Za-z0-9._-]`). */
  priority: string[];
  /** TTL in seconds. @default 300 */
  ttl?: number;
  /** RELOAD-URI, when set. */
  reloadUri?: string;
}

/** Signature of `path` (URL pathname) valid until `expiresAt` (Unix ms) under `secret`. */
export function tokenSignature(secret: string, path: string, expiresAt: number): string {
  return createHmac("sha256", secret).update(`${expiresAt}:${path}`).digest("hex");
}

/** `url` with a token for `secret` valid until `expiresAt` (Unix ms); other query kept. */
export function signUrl(url: string, secret: string, expiresAt: number): string {
  const u = new URL(url);
  u.searchParams.delete(TOKEN_EXPIRY_PARAM);
  u.searchParams.delete(TOKEN_SIGNATURE_PARAM);
  u.searchParams.set(TOKEN_EXPIRY_PARAM, String(expiresAt));
  u.searchParams.set(TOKEN_SIGNATURE_PARAM, tokenSignature(secret, u.pathname, expiresAt));
  return u.toString();
}

/** Paths every origin serves without a token (control plane, not content). */
const OPEN_PATHS = /^\/(?:__faults(?:\/.*)?|healthz|metrics)$/;

function validateSteering(s: SteeringSettings): SteeringSettings {
  const ids = s.priority;
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > 32)
    throw new OriginError("invalid-option", "steering.priority: 1..32 pathway ids", "steering");
  for (const id of ids)
    if (typeof id !== "string" || !/^[A-Za-z0-9._-]{1,64}$/.test(id))
      throw new OriginError(
        "invalid-option",
        `steering.priority: bad id ${String(id)}`,
        "steering",
      );
  const ttl = s.ttl ?? 300;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > 86_400)
    throw new OriginError("invalid-option", "steering.ttl: integer seconds 1..86400", "steering");
  return { priority: [...ids], ttl, reloadUri: s.reloadUri };
}

/** State and request interception for tokens and steering, shared by a cluster. */
export class OriginAccess {
  private steering: SteeringSettings | undefined;
  /** Steering manifest requests served (for tests). */
  steeringRequests = 0;

  constructor(
    /** Secret per origin index; an origin without one needs no token. */
    private readonly secrets: ReadonlyArray<string | undefined> = [],
    steering?: SteeringSettings,
    private readonly now: () => number = Date.now,
  ) {
    for (const s of secrets)
      if (s !== undefined && (typeof s !== "string" || s.length === 0))
        throw new OriginError("invalid-option", "tokenSecrets: non-empty strings", "tokenSecrets");
    this.steering = steering && validateSteering(steering);
  }

  /** Replaces the steering manifest (or removes the endpoint with `undefined`). */
  setSteering(s: SteeringSettings | undefined): void {
    this.steering = s && validateSteering(s);
  }

  /**
   * Answers the request when it is the steering manifest or lacks a valid token for origin
   * `index`; returns false when the origin should serve it as usual.
   */
  intercept(index: number, req: IncomingMessage, res: ServerResponse): boolean {
    const method = req.method ?? "GET";
    if (method === "OPTIONS") return false;
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://origin.invalid");
    } catch {
      return false;
    }
    if (url.pathname === STEERING_PATH && this.steering) {
      this.steeringRequests++;
      const s = this.steering;
      const body: Record<string, unknown> = {
        VERSION: 1,
        TTL: s.ttl,
        "PATHWAY-PRIORITY": s.priority,
      };
      if (s.reloadUri !== undefined) body["RELOAD-URI"] = s.reloadUri;
      send(res, 200, body);
      return true;
    }
    const secret = this.secrets[index];
    if (secret === undefined || OPEN_PATHS.test(url.pathname)) return false;
    const exp = url.searchParams.get(TOKEN_EXPIRY_PARAM);
    const sig = url.searchParams.get(TOKEN_SIGNATURE_PARAM);
    if (exp === null || sig === null) {
      send(res, 401, { error: "token required" });
      return true;
    }
    const expiresAt = /^\d{1,15}$/.test(exp) ? Number(exp) : Number.NaN;
    const want = Buffer.from(tokenSignature(secret, url.pathname, expiresAt), "hex");
    const got = /^[0-9a-f]{64}$/.test(sig) ? Buffer.from(sig, "hex") : Buffer.alloc(0);
    if (Number.isNaN(expiresAt) || got.length !== want.length || !timingSafeEqual(got, want)) {
      send(res, 403, { error: "bad token" });
      return true;
    }
    if (expiresAt <= this.now()) {
      send(res, 403, { error: "token expired" });
      return true;
    }
    return false;
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    ...CORS_HEADERS,
    "Content-Type": "application/json",
    "Content-Length": data.length,
    "Cache-Control": "no-store",
  });
  res.end(data);
}
