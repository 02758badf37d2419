/**
 * @hivecast/hlsjs — Hivecast for hls.js: segments and playlists from the best of several CDN
 * origins and from other viewers, verified against SHA-256 before hls.js sees them.
 *
 * hls.js is a peer dependency and is never bundled: pass your `Hls` instance (or class).
 * @packageDocumentation
 */
export { Hivecast, LIVE_CATCH_UP_RATE } from "./hivecast.js";
export { playWithHivecast } from "./play.js";
export type { HivecastPlayback, PlayWithHivecastConfig } from "./play.js";
export type { HivecastLoaders } from "./loaders.js";
export { HivecastError, isHivecastError, DEFAULT_CONFIG, ErrorCodes } from "@hivecast/core";
export type {
  Engine,
  EngineDeps,
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
  ErrorCode,
  HivecastEvents,
  HivecastWarning,
  WarningKind,
  Clock,
  ByteRange,
  SegmentKind,
  SegmentSource,
  SegmentRequest,
  LoadTiming,
  SegmentResult,
  LoadOptions,
  PlaylistResult,
  OriginState,
  OriginStats,
  PeerStats,
  HivecastStats,
} from "@hivecast/core";
