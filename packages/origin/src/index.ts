/**
 * `@hivecast/origin`: dev/test HLS origins with fault injection and simulated live, and the
 * integrity hashing tool.
 * @packageDocumentation
 */
export { startOrigins } from "./server.js";
export type { OriginCluster, StartOriginsOptions } from "./server.js";
export {
  DEFAULT_FAULTS,
  INJECTABLE_STATUSES,
  parseFaultFlag,
  validateFaultPatch,
} from "./faults.js";
export type { FaultSettings } from "./faults.js";
export { hashPlaylist } from "./hash.js";
export type { HashReport, HashedMediaPlaylist } from "./hash.js";
export { HASH_TAG, MANIFEST_NAME } from "./playlist.js";
export { OriginError } from "./errors.js";
export type { OriginErrorCode } from "./errors.js";
export {
  signUrl,
  tokenSignature,
  STEERING_PATH,
  TOKEN_EXPIRY_PARAM,
  TOKEN_SIGNATURE_PARAM,
} from "./access.js";
export type { SteeringSettings } from "./access.js";
export { startPackager, DEFAULT_LADDER, ffmpegArgs } from "./packager.js";
export type { Packager, PackagerOptions, Rendition } from "./packager.js";
export { PackagerMetrics } from "./packager-metrics.js";
export { exportRecording } from "./export.js";
export type { ExportOptions, ExportReport } from "./export.js";
export { watchHls } from "./hash-watch.js";
export type { HlsWatcher, WatchOptions } from "./hash-watch.js";
export { formatStatus, parseMetrics } from "./status.js";
