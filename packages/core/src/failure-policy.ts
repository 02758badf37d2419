/**
 * The one failure policy: what each kind of failure does to the load, to the origin and to the
 * peer, and how a load that finally fails of it is told to the player. Every path reads it — the
 * origin pool (HTTP attempts), the segment load (hash mismatches), the P2P layer (peers) and the
 * hls.js adapter (final errors) — so "what happens on a hash mismatch" is changed here, in one
 * row. Like hls.js's error controller, the policy is data; the code only classifies and obeys.
 */
import { isHivecastError } from "./errors.js";

/** Every way a source can fail a load. */
export type FailureKind =
  /** HTTP 4xx other than 408 / 429: this origin will not serve it. */
  | "http-refused"
  /** HTTP 401 / 403 while a `requestSetup` hook signs requests: the token may have expired. */
  | "http-auth"
  /** HTTP 403 / 404 / 410 for an optional resource (a sidecar that may not exist). */
  | "http-absent"
  /** HTTP 5xx, 408 or 429: the origin may serve it on another try. */
  | "http-transient"
  /** No first byte, a stall, or the request's time budget ran out. */
  | "http-timeout"
  /** A blocking playlist reload's hold ran out: the playlist did not move in time. */
  | "http-hold-expired"
  /** No response at all (refused, reset before headers): the origin is down. */
  | "http-unreachable"
  /** Any other transport failure (reset mid-body, truncated, bad range reply). */
  | "http-network"
  /** The app's `requestSetup` hook threw. */
  | "request-setup"
  /** The caller (or a hedge, or destroy) aborted the attempt. */
  | "aborted"
  /** One origin served the whole segment and it failed the trusted hash. */
  | "origin-bad-bytes"
  /** A split download (parts from several origins) failed the hash; the culprit is unknown. */
  | "split-bad-bytes"
  /** A peer's bytes failed the trusted hash (whole, or the prefix of a stitched copy). */
  | "peer-bad-bytes"
  /** A peer announced a size that contradicts the origin's. */
  | "peer-size-lie"
  /** A peer broke the wire protocol (bad frame, flood, over budget). */
  | "peer-protocol-violation"
  /** A peer speaks another protocol version: not an attack. */
  | "peer-unsupported-version"
  /** A peer refused because it is busy. */
  | "peer-busy"
  /** A peer stopped sending mid-transfer. */
  | "peer-stalled"
  /** A peer sends too slowly to finish before the deadline. */
  | "peer-slow"
  /** A peer disconnected during a transfer. */
  | "peer-gone"
  /** A peer declined the request (it no longer holds the segment) or it was cancelled. */
  | "peer-refused";

/** What one failure does. */
export interface FailureAction {
  /**
   * The load's next step: `retry` tries another source now and this one again only after a
   * backoff; `skip-source` tries another source and never this one again in this load;
   * `fresh-credentials` asks `requestSetup` for a new signature and retries this origin once;
   * `refetch-whole` fetches whole copies from one origin at a time until one verifies (which
   * tells who lied); `absent` answers "not there" at once; `stop` ends the load.
   */
  load: "retry" | "skip-source" | "fresh-credentials" | "refetch-whole" | "absent" | "stop";
  /**
   * The origin's health: `failure` counts toward its circuit breaker, `down` (no answer at all)
   * weighs more, `penalise` records proven bad bytes (breaker and ranking), `none` says nothing
   * about the origin.
   */
  origin: "none" | "failure" | "down" | "penalise";
  /**
   * The peer: `ban` for the session (and its address, see `p2p.defense`), `drop` closes the link
   * without blame, `score` lowers its score (repeated, it is dropped), `later` asks it again
   * after a short wait, `none` leaves it alone.
   */
  peer: "none" | "later" | "score" | "drop" | "ban";
  /**
   * How a load that finally failed of this kind reaches hls.js: `status` as `onError` with the
   * HTTP status (hls.js then applies its own 4xx / 5xx rules), `timeout` as `onTimeout`,
   * `network` as a network error (code 0).
   */
  player: "status" | "timeout" | "network";
}

/** The policy table. One row per failure kind; nothing else in the code decides these. */
export const FAILURE_POLICY: Readonly<Record<FailureKind, Readonly<FailureAction>>> = {
  "http-refused": { load: "skip-source", origin: "failure", peer: "none", player: "status" },
  "http-auth": { load: "fresh-credentials", origin: "failure", peer: "none", player: "status" },
  "http-absent": { load: "absent", origin: "none", peer: "none", player: "status" },
  "http-transient": { load: "retry", origin: "failure", peer: "none", player: "status" },
  "http-timeout": { load: "retry", origin: "failure", peer: "none", player: "timeout" },
  "http-hold-expired": { load: "retry", origin: "none", peer: "none", player: "timeout" },
  "http-unreachable": { load: "retry", origin: "down", peer: "none", player: "network" },
  "http-network": { load: "retry", origin: "failure", peer: "none", player: "network" },
  "request-setup": { load: "retry", origin: "none", peer: "none", player: "network" },
  aborted: { load: "stop", origin: "none", peer: "none", player: "network" },
  "origin-bad-bytes": { load: "skip-source", origin: "penalise", peer: "none", player: "network" },
  "split-bad-bytes": { load: "refetch-whole", origin: "none", peer: "none", player: "network" },
  "peer-bad-bytes": { load: "skip-source", origin: "none", peer: "ban", player: "network" },
  "peer-size-lie": { load: "skip-source", origin: "none", peer: "ban", player: "network" },
  "peer-protocol-violation": {
    load: "skip-source",
    origin: "none",
    peer: "ban",
    player: "network",
  },
  "peer-unsupported-version": {
    load: "skip-source",
    origin: "none",
    peer: "drop",
    player: "network",
  },
  "peer-busy": { load: "retry", origin: "none", peer: "later", player: "network" },
  "peer-stalled": { load: "skip-source", origin: "none", peer: "score", player: "network" },
  "peer-slow": { load: "skip-source", origin: "none", peer: "score", player: "network" },
  "peer-gone": { load: "skip-source", origin: "none", peer: "none", player: "network" },
  "peer-refused": { load: "skip-source", origin: "none", peer: "none", player: "network" },
};

/** The action for `kind`. */
export function actionFor(kind: FailureKind): Readonly<FailureAction> {
  return FAILURE_POLICY[kind];
}

/** What an HTTP attempt's circumstances add to its error when classifying it. */
export interface HttpFailureContext {
  /** The attempt's own signal was aborted (caller, hedge loser, destroy). */
  aborted?: boolean;
  /** A blocking playlist reload held on purpose. */
  held?: boolean;
  /** The resource may not exist (optional sidecar). */
  optional?: boolean;
  /** A `requestSetup` hook signs requests (an auth refusal may be an expired token). */
  signed?: boolean;
}

/** The failure kind of a failed HTTP attempt's error. */
export function httpFailureKind(e: unknown, ctx: HttpFailureContext = {}): FailureKind {
  if (ctx.aborted) return "aborted";
  if (!isHivecastError(e)) return "http-network";
  const status = e.details["status"];
  switch (e.code) {
    case "ABORTED":
    case "DESTROYED":
      return "aborted";
    case "REQUEST_SETUP":
      return "request-setup";
    case "HTTP_TIMEOUT":
      return ctx.held && e.details["timeout"] === "first-byte"
        ? "http-hold-expired"
        : "http-timeout";
    case "HTTP_NETWORK":
      return e.details["stage"] === "connect" ? "http-unreachable" : "http-network";
    case "HTTP_STATUS":
      return statusKind(status, ctx);
    default:
      // A summary error (ALL_ORIGINS_FAILED, …) carrying the last HTTP status is that status.
      return typeof status === "number" ? statusKind(status, ctx) : "http-network";
  }
}

function statusKind(status: unknown, ctx: HttpFailureContext): FailureKind {
  if (typeof status !== "number") return "http-transient";
  if (ctx.optional && (status === 403 || status === 404 || status === 410)) return "http-absent";
  if (ctx.signed && (status === 401 || status === 403)) return "http-auth";
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) return "http-refused";
  return "http-transient";
}
