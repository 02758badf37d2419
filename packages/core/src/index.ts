/**
 * @hivecast/core — player-agnostic engine: multi-origin HTTP with failover, hedging and split
 * ranges; SHA-256 verification; a verified-segment store; P2P sharing over WebRTC.
 * @packageDocumentation
 */
export { Engine } from "./engine.js";
export type { EngineDeps } from "./engine.js";
export { DEFAULT_CONFIG, resolveConfig } from "./config.js";
export type {
  Config,
  UserConfig,
  HttpConfig,
  P2PConfig,
  RetryConfig,
  IntegrityPolicy,
  Origin,
  OriginInput,
  OriginOptions,
  OriginQuery,
  PeerTransportFactory,
  RequestContext,
  RequestKind,
  RequestSetup,
  RequestSetupResult,
} from "./config.js";
export { FAILURE_POLICY, actionFor, httpFailureKind } from "./failure-policy.js";
export type { FailureAction, FailureKind, HttpFailureContext } from "./failure-policy.js";
export { HASH_TAG_NAME, hashFromTagValue, isSha256Hex } from "./hash-tag.js";
export { HivecastError, isHivecastError, ErrorCodes } from "./errors.js";
export type { ErrorCode } from "./errors.js";
export { WarningKinds } from "./events.js";
export type { HivecastEvents, HivecastWarning, WarningKind } from "./events.js";
export type { Clock } from "./clock.js";
export type * from "./types.js";
