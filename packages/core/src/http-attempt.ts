import type { Clock } from "./clock.js";
import { HivecastError } from "./errors.js";
import type { ByteRange } from "./types.js";

/** What a response's headers say about the body, before any byte is read. */
export interface ResponseInfo {
  status: number;
  /** Size of the whole resource, when the headers tell it. */
  total: number | undefined;
}

/** One HTTP request to one URL. */
export interface AttemptRequest {
  url: string;
  /** Only these bytes (sent as `Range`; a 200 full body is sliced). */
  range?: ByteRange;
  signal: AbortSignal;
  firstByteTimeoutMs: number;
  stallTimeoutMs: number;
  requestTimeoutMs: number;
  /**
   * Called once the headers are in: return N to read only the first N bytes and cancel the rest
   * (used to turn a running GET into the first range of a split, and to cap manifests).
   */
  capFor?: (info: ResponseInfo) => number | undefined;
  /** Bytes received (delta), for progress. */
  onBytes?: (n: number) => void;
  /** Headers, credentials… of the request (an origin's options, `requestSetup`'s result). */
  init?: RequestInitExtras;
}

/** The parts of a `RequestInit` a caller may set; signal, method and body stay the attempt's own. */
export type RequestInitExtras = Pick<
  RequestInit,
  "headers" | "credentials" | "mode" | "referrerPolicy" | "cache"
>;

/** A completed request. `data` has exactly the promised length (range, Content-Length or cap). */
export interface AttemptResult {
  data: Uint8Array;
  status: number;
  /** Final URL after redirects. */
  url: string;
  total: number | undefined;
  startedAt: number;
  firstByteAt: number;
  endedAt: number;
}

function httpError(
  code: "HTTP_STATUS" | "HTTP_NETWORK" | "HTTP_TIMEOUT" | "HTTP_TRUNCATED",
  message: string,
  details: Record<string, string | number | undefined>,
  cause?: unknown,
): HivecastError {
  return new HivecastError(code, message, { details, cause });
}

/** Parses `Content-Range: bytes a-b/total` into its numbers (total undefined for `*`). */
export function parseContentRange(
  v: string | null,
): { start: number; end: number; total: number | undefined } | undefined {
  const m = v === null ? null : /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(v.trim());
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]) + 1;
  const total = m[3] === "*" ? undefined : Number(m[3]);
  if (end <= start || (total !== undefined && end > total)) return undefined;
  return { start, end, total };
}

function parseLength(v: string | null): number | undefined {
  if (v === null || !/^\d+$/.test(v.trim())) return undefined;
  return Number(v);
}

/** How the body maps onto what was asked for. */
interface BodyPlan {
  /** Bytes the body must contain (undefined: unknown, read to the end). */
  length: number | undefined;
  /** Bytes to drop from the body's start (a range served as a 200 full body). */
  skip: number;
  /** The body must end exactly at `length` (any extra byte means a wrong length header). */
  exact: boolean;
  total: number | undefined;
}

function planBody(res: Response, req: AttemptRequest): BodyPlan {
  const contentLength = parseLength(res.headers.get("content-length"));
  const details = { url: req.url, status: res.status };
  if (res.status === 206) {
    const cr = parseContentRange(res.headers.get("content-range"));
    const wanted = req.range;
    if (
      !cr ||
      (wanted
        ? cr.start !== wanted.start || cr.end !== wanted.end
        : cr.start !== 0 || cr.end !== cr.total)
    )
      throw httpError("HTTP_STATUS", `Unexpected Content-Range for ${req.url}`, details);
    if (contentLength !== undefined && contentLength !== cr.end - cr.start)
      throw httpError(
        "HTTP_TRUNCATED",
        `Content-Length disagrees with Content-Range for ${req.url}`,
        details,
      );
    return { length: cr.end - cr.start, skip: 0, exact: true, total: cr.total };
  }
  if (req.range) {
    // The server ignored Range: read through the range's end and slice.
    if (contentLength !== undefined && contentLength < req.range.end)
      throw httpError(
        "HTTP_TRUNCATED",
        `Resource shorter than the requested range: ${req.url}`,
        details,
      );
    return { length: req.range.end, skip: req.range.start, exact: false, total: contentLength };
  }
  return {
    length: contentLength,
    skip: 0,
    exact: contentLength !== undefined,
    total: contentLength,
  };
}

/** Concatenates chunks into one buffer. */
export function concatChunks(chunks: readonly Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * One GET with first-byte, stall and total timeouts, read through a streaming reader so that
 * progress and stalls are seen as they happen. Rejects with a non-fatal HivecastError
 * (HTTP_STATUS / HTTP_NETWORK / HTTP_TIMEOUT / HTTP_TRUNCATED) or, when `signal` aborts, with
 * its reason. Never returns a short body: truncation is an error, not data.
 */
export async function httpAttempt(
  fetchFn: typeof fetch,
  clock: Clock,
  req: AttemptRequest,
): Promise<AttemptResult> {
  const controller = new AbortController();
  const timers = new Set<unknown>();
  const startedAt = clock.now();
  const timeoutAfter = (ms: number, what: string): unknown => {
    const h = clock.setTimeout(() => {
      timers.delete(h);
      controller.abort(
        httpError("HTTP_TIMEOUT", `${what} timeout (${ms} ms) for ${req.url}`, {
          url: req.url,
          timeout: what,
        }),
      );
    }, ms);
    timers.add(h);
    return h;
  };
  const clear = (h: unknown): void => {
    clock.clearTimeout(h);
    timers.delete(h);
  };
  const onParentAbort = (): void => controller.abort(req.signal.reason);
  if (req.signal.aborted) throw req.signal.reason;
  req.signal.addEventListener("abort", onParentAbort, { once: true });
  timeoutAfter(req.requestTimeoutMs, "request");
  let firstByteTimer = timeoutAfter(req.firstByteTimeoutMs, "first-byte");
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  try {
    const headers = new Headers(req.init?.headers);
    if (req.range) headers.set("Range", `bytes=${req.range.start}-${req.range.end - 1}`);
    let res: Response;
    try {
      res = await fetchFn(req.url, { ...req.init, signal: controller.signal, headers });
    } catch (e) {
      throw controller.signal.aborted
        ? controller.signal.reason
        : httpError(
            "HTTP_NETWORK",
            `Network error for ${req.url}`,
            { url: req.url, stage: "connect" },
            e,
          );
    }
    if (res.status < 200 || res.status > 299) {
      void res.body?.cancel().catch(() => undefined);
      throw httpError("HTTP_STATUS", `HTTP ${res.status} for ${req.url}`, {
        url: req.url,
        status: res.status,
      });
    }
    const plan = planBody(res, req);
    const cap = req.capFor?.({ status: res.status, total: plan.total });
    const mustEndExactly = plan.exact && cap === undefined;
    // With a cap the body may legitimately stop early; without one it must be complete.
    const need =
      cap === undefined
        ? plan.length
        : plan.length === undefined
          ? cap + plan.skip
          : Math.min(plan.length, cap + plan.skip);
    const chunks: Uint8Array[] = [];
    let received = 0;
    let firstByteAt: number | undefined;
    let stallTimer: unknown;
    if (res.body) {
      reader = res.body.getReader();
      for (;;) {
        let step: ReadableStreamReadResult<Uint8Array>;
        try {
          step = await reader.read();
        } catch (e) {
          throw controller.signal.aborted
            ? controller.signal.reason
            : httpError("HTTP_NETWORK", `Connection lost reading ${req.url}`, { url: req.url }, e);
        }
        if (step.done) break;
        const chunk = step.value;
        if (chunk.length === 0) continue;
        if (firstByteAt === undefined) {
          firstByteAt = clock.now();
          clear(firstByteTimer);
          firstByteTimer = undefined;
        }
        if (stallTimer !== undefined) clear(stallTimer);
        stallTimer = timeoutAfter(req.stallTimeoutMs, "stall");
        const room = need === undefined ? chunk.length : need - received;
        if (mustEndExactly && chunk.length > room)
          throw httpError(
            "HTTP_TRUNCATED",
            `Body longer than announced (${plan.length} bytes) for ${req.url}`,
            { url: req.url, status: res.status },
          );
        const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
        chunks.push(kept);
        received += kept.length;
        req.onBytes?.(kept.length);
        // An exact body is read to its end, so that a longer-than-announced body is caught.
        if (need !== undefined && received >= need && !mustEndExactly) break;
      }
      if (stallTimer !== undefined) clear(stallTimer);
    }
    if (need !== undefined && received < need)
      throw httpError(
        "HTTP_TRUNCATED",
        `Truncated body: ${received} of ${need} bytes for ${req.url}`,
        {
          url: req.url,
          status: res.status,
          received,
          expected: need,
        },
      );
    const whole = concatChunks(chunks, received);
    const endedAt = clock.now();
    return {
      data: plan.skip > 0 ? whole.subarray(plan.skip) : whole,
      status: res.status,
      url: res.url || req.url,
      total: plan.total,
      startedAt,
      firstByteAt: firstByteAt ?? endedAt,
      endedAt,
    };
  } finally {
    for (const h of timers) clock.clearTimeout(h);
    timers.clear();
    req.signal.removeEventListener("abort", onParentAbort);
    if (reader) void reader.cancel().catch(() => undefined);
    // Closes the connection of a capped, failed or finished read; a no-op otherwise.
    if (!controller.signal.aborted) controller.abort();
  }
}
