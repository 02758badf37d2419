import { actionFor, httpFailureKind, isHivecastError } from "@hivecast/core";

/** How a failed engine load is reported to hls.js. */
export type LoadFailure =
  /** `callbacks.onError({ code, text })`: `code` is the HTTP status, or 0 when there was none. */
  | { kind: "error"; code: number; text: string }
  /** `callbacks.onTimeout()`: hls.js applies its `timeoutRetry` policy. */
  | { kind: "timeout" }
  /** The load was aborted: nothing more is reported. */
  | { kind: "aborted" }
  /** The engine was destroyed under the load: hls.js's own loader takes over. */
  | { kind: "destroyed" };

/** Errors wrap their causes (ALL_ORIGINS_FAILED → last attempt); a few levels are plenty. */
const MAX_CAUSE_DEPTH = 4;

/**
 * Classifies an engine rejection for hls.js by the failure policy's `player` column
 * (`@hivecast/core`'s FAILURE_POLICY). The first HTTP status found (on the error or its causes)
 * becomes the `code`, so hls.js's own rules apply unchanged: no retry on 4xx, retry on 5xx.
 * Timeouts become `onTimeout`. Anything else (network failure, integrity failure after every
 * source was tried) is reported like hls.js's own loaders report a network error: code 0.
 */
export function classifyFailure(e: unknown): LoadFailure {
  if (isHivecastError(e)) {
    if (e.code === "ABORTED") return { kind: "aborted" };
    if (e.code === "DESTROYED") return { kind: "destroyed" };
  }
  let timeout = false;
  let cur: unknown = e;
  for (let depth = 0; depth <= MAX_CAUSE_DEPTH && isHivecastError(cur); depth++) {
    const status = cur.details["status"];
    const player = actionFor(httpFailureKind(cur)).player;
    if (player === "status" && typeof status === "number" && Number.isInteger(status) && status > 0)
      return { kind: "error", code: status, text: describe(e) };
    if (player === "timeout") timeout = true;
    cur = cur.cause;
  }
  if (timeout) return { kind: "timeout" };
  return { kind: "error", code: 0, text: describe(e) };
}

function describe(e: unknown): string {
  if (isHivecastError(e)) return `${e.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}
