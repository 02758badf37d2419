import type { IncomingMessage } from "node:http";
import type { SignalingConfig } from "./config.js";
import { verifySignalingToken, type SignalingTokenClaims, type TokenRejection } from "./token.js";

/**
 * Who may use the server: the `Origin` allowlist and the signed token, checked the same way at
 * the WebSocket upgrade and on `GET /ice` (so TURN credentials never reach a page or viewer the
 * tracker itself would refuse).
 */

/** Result of checking a request's Origin and token. */
export type Admission =
  | {
      ok: true;
      /** The verified token's claims, or `null` when no token is required. */
      claims: SignalingTokenClaims | null;
    }
  | {
      ok: false;
      /** 403 for a refused Origin, 401 for a missing or bad token. */
      status: 401 | 403;
      reason: "origin_not_allowed" | TokenRejection;
    };

/** The `?token=` query parameter of a request URL, or `null`. */
function tokenOf(url: string | undefined): string | null {
  try {
    return new URL(url ?? "/", "http://tracker.invalid").searchParams.get("token");
  } catch {
    return null;
  }
}

/** Checks `req`'s `Origin` header against `allowedOrigins`, then its `?token=`. Never throws. */
export function admit(
  config: Pick<Readonly<SignalingConfig>, "allowedOrigins" | "tokenSecret">,
  req: IncomingMessage,
  nowMs: number,
): Admission {
  const allowed = config.allowedOrigins;
  if (allowed.length > 0) {
    const origin = req.headers.origin;
    if (typeof origin !== "string" || !allowed.includes(origin))
      return { ok: false, status: 403, reason: "origin_not_allowed" };
  }
  const secret = config.tokenSecret;
  if (secret === null) return { ok: true, claims: null };
  const result = verifySignalingToken(secret, tokenOf(req.url), nowMs);
  if (typeof result === "string") return { ok: false, status: 401, reason: result };
  return { ok: true, claims: result };
}
