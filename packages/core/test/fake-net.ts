/**
 * Test doubles: an in-memory multi-origin HTTP "network" behind a fetch function, with faults
 * per origin (status, refused, slow headers, trickle, stall, reset, truncation, lying
 * Content-Length, corruption), and a clock on the global (fakeable) timers.
 */
import { expect, type vi } from "vitest";
import type { Clock } from "../src/clock.js";
import { HivecastError } from "../src/errors.js";

export const ORIGINS = [
  "http://a.test/live/",
  "http://b.test/live/",
  "http://c.test/live/",
] as const;

/** How one origin misbehaves for one request. */
export interface Fault {
  status?: number;
  refuse?: boolean;
  headerDelayMs?: number;
  chunkBytes?: number;
  /** Delay before every chunk (a trickle when large). */
  chunkDelayMs?: number;
  /** The body ends after N bytes while the headers announce all of it. */
  truncateAt?: number;
  /** The connection resets after N bytes. */
  resetAt?: number;
  /** No byte after N (until aborted). */
  stallAt?: number;
  contentLength?: number;
  corrupt?: boolean;
  ignoreRange?: boolean;
}

/** One request the fake network saw. */
export interface Call {
  url: string;
  origin: string;
  path: string;
  range: { start: number; end: number } | undefined;
  signal: AbortSignal | undefined;
  /** Response fully sent, errored or cancelled. */
  finished: boolean;
  /** Date.now() when the request was made. */
  at: number;
}

/** A clock on the global timers, so `vi.useFakeTimers()` drives it. */
export const testClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** Timers vitest should fake in these tests (streams need real microtasks and setImmediate). */
export const FAKE_TIMERS: Parameters<typeof vi.useFakeTimers>[0] = {
  toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"],
};

/** Deterministic PRNG (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` bytes of a recognisable pattern. */
export function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return out;
}

/** Byte equality without vitest's slow deep-diff of big typed arrays. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** SHA-256 hex via WebCrypto (the same as production). */
export async function sha(data: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(data)));
  return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function parseRange(h: string | null): { start: number; end: number } | undefined {
  const m = h === null ? null : /^bytes=(\d+)-(\d+)$/.exec(h);
  return m ? { start: Number(m[1]), end: Number(m[2]) + 1 } : undefined;
}

/** The same files on every origin, with per-origin faults. */
export class FakeNet {
  readonly calls: Call[] = [];
  readonly files = new Map<string, Uint8Array | string>();
  /** Per-origin fault chooser; return undefined to behave. */
  readonly faults = new Map<string, (call: Call) => Fault | undefined>();

  constructor(readonly origins: readonly string[] = ORIGINS) {}

  /** Calls to `path` (any origin). */
  callsTo(path: string): Call[] {
    return this.calls.filter((c) => c.path === path);
  }

  /** Calls whose response is still streaming and whose signal is not aborted. */
  pending(): Call[] {
    return this.calls.filter((c) => !c.finished && !c.signal?.aborted);
  }

  readonly fetch: typeof fetch = async (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const origin = this.origins.find((o) => url.startsWith(o)) ?? new URL(url).origin + "/";
    const path = url.slice(origin.length).split("?")[0] ?? "";
    const signal = init?.signal ?? undefined;
    const call: Call = {
      url,
      origin,
      path,
      range: parseRange(new Headers(init?.headers).get("range")),
      signal,
      finished: false,
      at: Date.now(),
    };
    this.calls.push(call);
    const fault = this.faults.get(origin)?.(call) ?? {};
    try {
      if (signal?.aborted) throw signal.reason;
      if (fault.headerDelayMs) await wait(fault.headerDelayMs, signal);
      if (fault.refuse) throw new TypeError("fetch failed: connection refused");
      if (fault.status) {
        call.finished = true;
        return new Response(null, { status: fault.status });
      }
      const file = this.files.get(path);
      if (file === undefined) {
        call.finished = true;
        return new Response(null, { status: 404 });
      }
      let body = typeof file === "string" ? new TextEncoder().encode(file) : file;
      const headers = new Headers();
      let status = 200;
      if (call.range && !fault.ignoreRange) {
        const end = Math.min(call.range.end, body.length);
        headers.set("content-range", `bytes ${call.range.start}-${end - 1}/${body.length}`);
        body = body.subarray(call.range.start, end);
        status = 206;
      }
      if (fault.corrupt) {
        body = body.slice();
        body[0] = (body[0] ?? 0) ^ 0xff;
      }
      headers.set("content-length", String(fault.contentLength ?? body.length));
      const sent = fault.truncateAt === undefined ? body : body.subarray(0, fault.truncateAt);
      return new Response(this.stream(sent, fault, call), { status, headers });
    } catch (e) {
      call.finished = true;
      throw e;
    }
  };

  private stream(data: Uint8Array, fault: Fault, call: Call): ReadableStream<Uint8Array> {
    let at = 0;
    const signal = call.signal;
    return new ReadableStream<Uint8Array>({
      start(ctrl) {
        signal?.addEventListener(
          "abort",
          () => {
            if (call.finished) return;
            call.finished = true;
            ctrl.error(signal.reason);
          },
          { once: true },
        );
      },
      async pull(ctrl) {
        if (call.finished) return;
        if (fault.stallAt !== undefined && at >= fault.stallAt) {
          await new Promise<void>((resolve) =>
            signal?.addEventListener("abort", () => resolve(), { once: true }),
          );
          return;
        }
        if (fault.resetAt !== undefined && at >= fault.resetAt) {
          call.finished = true;
          ctrl.error(new TypeError("connection reset"));
          return;
        }
        if (at >= data.length) {
          call.finished = true;
          ctrl.close();
          return;
        }
        if (fault.chunkDelayMs) {
          try {
            await wait(fault.chunkDelayMs, signal);
          } catch {
            return; // the abort listener already errored the stream
          }
        }
        let n = fault.chunkBytes ?? 64 * 1024;
        for (const limit of [fault.stallAt, fault.resetAt])
          if (limit !== undefined && limit > at) n = Math.min(n, limit - at);
        ctrl.enqueue(data.slice(at, at + n));
        at += n;
      },
      cancel() {
        call.finished = true;
      },
    });
  }
}

/** A media playlist over `names` with optional hash tags. */
export function mediaPlaylist(
  segments: ReadonlyArray<{ name: string; hash?: string; duration?: number }>,
  opts: { live?: boolean; sequence?: number; target?: number } = {},
): string {
  const lines = [
    "#EXTM3U",
    "#EXT-X-VERSION:3",
    `#EXT-X-TARGETDURATION:${opts.target ?? 4}`,
    `#EXT-X-MEDIA-SEQUENCE:${opts.sequence ?? 0}`,
  ];
  for (const s of segments) {
    if (s.hash) lines.push(`#EXT-X-HIVECAST-SHA256:${s.hash}`);
    lines.push(`#EXTINF:${(s.duration ?? 4).toFixed(3)},`, s.name);
  }
  if (!opts.live) lines.push("#EXT-X-ENDLIST");
  return lines.join("\n") + "\n";
}

/** The HivecastError a promise rejects with (fails the test if it resolves or throws something else). */
export async function rejection(p: Promise<unknown>): Promise<HivecastError> {
  const e: unknown = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(HivecastError);
  return e as HivecastError;
}
