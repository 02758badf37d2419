import { STATUS_CODES, type IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
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

/** Why an upgrade is refused before the Origin and token are looked at. */
export type CapacityRefusal = "shutting_down" | "server_full";

/**
 * The whole upgrade decision: 503 while shutting down or when `maxConnections` are open, then
 * {@link admit}. Returns `null` to accept.
 */
export function admitUpgrade(
  config: Readonly<SignalingConfig>,
  req: IncomingMessage,
  state: { closing: boolean; connections: number },
  nowMs: number,
): {
  status: 401 | 403 | 503;
  reason: CapacityRefusal | TokenRejection | "origin_not_allowed";
} | null {
  if (state.closing) return { status: 503, reason: "shutting_down" };
  if (state.connections >= config.maxConnections) return { status: 503, reason: "server_full" };
  const admission = admit(config, req, nowMs);
  return admission.ok ? null : admission;
}

const noop = (): void => {};

/** Answers a refused upgrade with a plain HTTP status on the raw socket and closes it. */
export function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  socket.on("error", noop);
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${reason.length}\r\n\r\n${reason}`,
    );
  }
  socket.destroy();
}
