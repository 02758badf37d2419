import { OriginError } from "./errors.js";

/** Fault injection settings of one origin. All rates are fractions in [0, 1]. */
export interface FaultSettings {
  /**
   * Origin is "down": every request except `/__faults`, `/healthz` and `/metrics` has its
   * socket destroyed without a response (the client sees a connection reset).
   * @default false
   */
  down: boolean;
  /**
   * Fraction of file requests (playlists, segments, manifests) answered with `status`
   * instead of the file.
   * @default 0
   */
  statusRate: number;
  /**
   * Status used by `statusRate`: one of 403, 404, 410, 429, 500, 502, 503, 504.
   * @default 503
   */
  status: number;
  /**
   * Delay in milliseconds before the response headers of every file request (0..600000).
   * @default 0
   */
  latencyMs: number;
  /**
   * Body throughput cap in BYTES per second, shared by all concurrent file responses of the
   * origin (like a capped link; written in chunks on a 50 ms timer); 0 = unlimited. Changes
   * apply to responses already in flight.
   * @default 0
   */
  bandwidthBps: number;
  /**
   * Fraction of media-segment responses (not playlists or JSON) whose body has bytes flipped
   * (same length, so only a hash check notices).
   * @default 0
   */
  corruptRate: number;
  /**
   * Fraction of file responses that announce the full `Content-Length` but send only the first
   * half of the body, then destroy the socket.
   * @default 0
   */
  truncateRate: number;
  /**
   * Seed of the origin's PRNG that makes every rate decision; setting it re-seeds the PRNG,
   * so the same seed and request sequence give the same faults.
   * @default 1
   */
  seed: number;
}

/** No faults at all: what `resetFaults` and `DELETE /__faults` restore. */
export const DEFAULT_FAULTS: Readonly<FaultSettings> = Object.freeze({
  down: false,
  statusRate: 0,
  status: 503,
  latencyMs: 0,
  bandwidthBps: 0,
  corruptRate: 0,
  truncateRate: 0,
  seed: 1,
});

/** Statuses `statusRate` may inject. */
export const INJECTABLE_STATUSES: readonly number[] = Object.freeze([
  403, 404, 410, 429, 500, 502, 503, 504,
]);

const MAX_LATENCY_MS = 600_000;
const MAX_BANDWIDTH = 10 * 1024 * 1024 * 1024;

type FaultField = keyof FaultSettings;
const FIELDS: readonly FaultField[] = [
  "down",
  "statusRate",
  "status",
  "latencyMs",
  "bandwidthBps",
  "corruptRate",
  "truncateRate",
  "seed",
];

function isFaultField(k: string): k is FaultField {
  return (FIELDS as readonly string[]).includes(k);
}

function bad(field: string, message: string): OriginError {
  return new OriginError("invalid-faults", `fault setting "${field}": ${message}`, field);
}

function checkNumber(field: string, v: unknown, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isFinite(v)) throw bad(field, "must be a finite number");
  if (v < min || v > max) throw bad(field, `must be in [${min}, ${max}]`);
  return v;
}

/**
 * Validates an untrusted value (parsed JSON, CLI flags) into a partial `FaultSettings`.
 * @throws OriginError `invalid-faults` naming the first bad field (`field` is `"body"` when the
 * value is not an object).
 */
export function validateFaultPatch(input: unknown): Partial<FaultSettings> {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw bad("body", "must be a JSON object");
  }
  const out: Partial<FaultSettings> = {};
  for (const [key, v] of Object.entries(input)) {
    if (!isFaultField(key)) throw bad(key, "unknown field");
    switch (key) {
      case "down":
        if (typeof v !== "boolean") throw bad(key, "must be a boolean");
        out.down = v;
        break;
      case "statusRate":
      case "corruptRate":
      case "truncateRate":
        out[key] = checkNumber(key, v, 0, 1);
        break;
      case "status":
        if (typeof v !== "number" || !INJECTABLE_STATUSES.includes(v)) {
          throw bad(key, `must be one of ${INJECTABLE_STATUSES.join(", ")}`);
        }
        out.status = v;
        break;
      case "latencyMs":
        out.latencyMs = checkNumber(key, v, 0, MAX_LATENCY_MS);
        break;
      case "bandwidthBps":
        out.bandwidthBps = checkNumber(key, v, 0, MAX_BANDWIDTH);
        break;
      case "seed":
        if (typeof v !== "number" || !Number.isSafeInteger(v)) throw bad(key, "must be an integer");
        out.seed = v;
        break;
    }
  }
  return out;
}

/**
 * Parses a CLI fault flag `"<index>:<field>=<value>,<field>=<value>…"`, e.g.
 * `"1:statusRate=0.5,status=503"`. Values `true`/`false` are booleans, others numbers.
 */
export function parseFaultFlag(flag: string): { index: number; patch: Partial<FaultSettings> } {
  const m = /^(\d+):(.*)$/.exec(flag.trim());
  if (!m || m[1] === undefined || m[2] === undefined) {
    throw bad("fault", `expected "<index>:<field>=<value>,…", got "${flag}"`);
  }
  const index = Number(m[1]);
  const raw: Record<string, unknown> = {};
  for (const part of m[2].split(",")) {
    if (part.trim() === "") continue;
    const eq = part.indexOf("=");
    if (eq <= 0) throw bad(part.trim(), `expected <field>=<value>`);
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (value === "true" || value === "false") raw[key] = value === "true";
    else if (value !== "" && Number.isFinite(Number(value))) raw[key] = Number(value);
    else raw[key] = value;
  }
  return { index, patch: validateFaultPatch(raw) };
}

/** Deterministic PRNG (mulberry32) returning floats in [0, 1). */
export function createPrng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
