import { createHmac, timingSafeEqual } from "node:crypto";
import { SignalingError } from "./errors.js";

/**
 * Signed access tokens checked at the WebSocket upgrade (`?token=` on the tracker URL, since
 * browsers cannot set headers on a WebSocket). Format: `base64url(JSON payload) "." base64url(
 * HMAC-SHA256(secret, first part))`, payload `{ "exp": <unix seconds>, "sub"?: <string> }`.
 */

/** What a token carries. */
export interface SignalingTokenClaims {
  /** Expiry, Unix time in seconds. */
  exp: number;
  /** Optional subject (e.g. a viewer or stream id), for logs. */
  sub?: string;
}

/** Why a token was refused. */
export type TokenRejection = "token_missing" | "token_malformed" | "token_forged" | "token_expired";

const MAX_TOKEN_CHARS = 2048;

function sign(secret: string, body: string): Buffer {
  return createHmac("sha256", secret).update(body).digest();
}

/**
 * Creates a token valid until `claims.exp` (Unix seconds) for servers started with the same
 * `tokenSecret`.
 * @throws SignalingError `token_invalid` for a short secret or a non-integer expiry.
 */
export function createSignalingToken(secret: string, claims: SignalingTokenClaims): string {
  if (typeof secret !== "string" || secret.length < 16) {
    throw new SignalingError("token_invalid", "token secret must be at least 16 characters");
  }
  if (!Number.isSafeInteger(claims.exp)) {
    throw new SignalingError("token_invalid", "token `exp` must be an integer (Unix seconds)");
  }
  const payload: SignalingTokenClaims = { exp: claims.exp };
  if (claims.sub !== undefined) payload.sub = claims.sub;
  const body = Buffer.from(JSON.stringify(payload)).toString("base64url");
  return `${body}.${sign(secret, body).toString("base64url")}`;
}

/** Verifies a token; returns its claims or why it is refused. Never throws. */
export function verifySignalingToken(
  secret: string,
  token: string | null,
  nowMs: number,
): SignalingTokenClaims | TokenRejection {
  if (token === null || token.length === 0) return "token_missing";
  if (token.length > MAX_TOKEN_CHARS) return "token_malformed";
  const dot = token.indexOf(".");
  if (dot <= 0 || dot !== token.lastIndexOf(".")) return "token_malformed";
  const body = token.slice(0, dot);
  const given = Buffer.from(token.slice(dot + 1), "base64url");
  const expected = sign(secret, body);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return "token_forged";
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(body, "base64url").toString("utf8"));
  } catch {
    return "token_malformed";
  }
  if (typeof payload !== "object" || payload === null) return "token_malformed";
  const exp: unknown = Reflect.get(payload, "exp");
  const sub: unknown = Reflect.get(payload, "sub");
  if (typeof exp !== "number" || !Number.isSafeInteger(exp)) return "token_malformed";
  if (sub !== undefined && typeof sub !== "string") return "token_malformed";
  if (exp * 1000 <= nowMs) return "token_expired";
  return sub === undefined ? { exp } : { exp, sub };
}
