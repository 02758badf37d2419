import type { Origin, RequestContext, RequestSetup } from "./config.js";
import { HivecastError } from "./errors.js";
import type { RequestInitExtras } from "./http-attempt.js";

/** A request ready for `httpAttempt`: the URL to ask for and its init. */
export interface PreparedRequest {
  url: string;
  init: RequestInitExtras | undefined;
}

/**
 * The request for `ctx`: the origin's own headers and credentials, then whatever `setup`
 * (the config's `requestSetup`) returns, its headers merged over the origin's. A hook that
 * throws or returns something unusable fails the attempt with `REQUEST_SETUP` (not fatal: the
 * next origin is tried) — never a network error.
 */
export async function prepareRequest(
  origin: Origin | undefined,
  setup: RequestSetup | undefined,
  ctx: RequestContext,
): Promise<PreparedRequest> {
  const base: RequestInitExtras | undefined =
    origin && (Object.keys(origin.headers).length > 0 || origin.credentials !== undefined)
      ? {
          headers: { ...origin.headers },
          ...(origin.credentials === undefined ? {} : { credentials: origin.credentials }),
        }
      : undefined;
  if (!setup) return { url: ctx.url, init: base };
  let out: unknown;
  try {
    out = await setup(ctx);
  } catch (e) {
    throw setupError(ctx, `requestSetup threw: ${e instanceof Error ? e.message : String(e)}`, e);
  }
  if (out === undefined || out === null) return { url: ctx.url, init: base };
  if (typeof out !== "object") throw setupError(ctx, "requestSetup returned a non-object");
  const url: unknown = Reflect.get(out, "url") ?? ctx.url;
  if (typeof url !== "string" || !isHttpUrl(url))
    throw setupError(ctx, `requestSetup returned a bad url: ${String(url)}`);
  const init: unknown = Reflect.get(out, "init");
  if (init === undefined) return { url, init: base };
  if (typeof init !== "object" || init === null)
    throw setupError(ctx, "requestSetup returned a bad init");
  const extra = init as RequestInitExtras;
  const headers = new Headers(base?.headers);
  try {
    new Headers(extra.headers).forEach((v, k) => headers.set(k, v));
  } catch (e) {
    throw setupError(ctx, "requestSetup returned bad headers", e);
  }
  return {
    url,
    init: {
      ...base,
      ...(extra.credentials === undefined ? {} : { credentials: extra.credentials }),
      ...(extra.mode === undefined ? {} : { mode: extra.mode }),
      ...(extra.referrerPolicy === undefined ? {} : { referrerPolicy: extra.referrerPolicy }),
      ...(extra.cache === undefined ? {} : { cache: extra.cache }),
      headers,
    },
  };
}

function isHttpUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return u.protocol === "http:" || u.protocol === "https:";
  } catch {
    return false;
  }
}

function setupError(ctx: RequestContext, message: string, cause?: unknown): HivecastError {
  return new HivecastError("REQUEST_SETUP", message, {
    cause,
    details: { url: ctx.url, origin: ctx.origin, kind: ctx.kind },
  });
}
