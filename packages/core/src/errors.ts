/**
 * Error codes Hivecast reports. String literals (not an enum) so they survive bundling and
 * compare cheaply; grouped by where they arise.
 */
export const ErrorCodes = [
  // configuration
  "CONFIG_INVALID",
  // HTTP / origins
  "HTTP_STATUS",
  "HTTP_NETWORK",
  "HTTP_TIMEOUT",
  "HTTP_TRUNCATED",
  "ALL_ORIGINS_FAILED",
  /** The config's `requestSetup` threw or returned something unusable (that attempt failed). */
  "REQUEST_SETUP",
  // integrity
  "INTEGRITY_MISMATCH",
  "INTEGRITY_UNAVAILABLE",
  "INTEGRITY_MANIFEST_INVALID",
  /** No WebCrypto (page not a secure context) and the pure-JS SHA-256 could not be loaded. */
  "INSECURE_CONTEXT",
  // peers / tracker
  // (peer timeouts, peers gone and tracker protocol errors are recoverable: `warning` event kinds)
  "PEER_PROTOCOL",
  "TRACKER_UNAVAILABLE",
  // lifecycle
  "ABORTED",
  "DESTROYED",
  // playlists
  "PLAYLIST_INVALID",
] as const;

/** One of {@link ErrorCodes}. */
export type ErrorCode = (typeof ErrorCodes)[number];

/** Every error Hivecast raises or emits. `fatal` means the request (not the engine) cannot be served. */
export class HivecastError extends Error {
  override readonly name = "HivecastError";
  /** Machine-readable reason. */
  readonly code: ErrorCode;
  /** True when no retry or other source can serve the request any more. */
  readonly fatal: boolean;
  /** Extra facts for logs (status code, origin, peer id…). Never contains segment bytes. */
  readonly details: Readonly<Record<string, string | number | boolean | undefined>>;

  constructor(
    code: ErrorCode,
    message: string,
    options: {
      fatal?: boolean;
      cause?: unknown;
      details?: Record<string, string | number | boolean | undefined>;
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.fatal = options.fatal ?? false;
    this.details = Object.freeze({ ...(options.details ?? {}) });
  }
}

/** Type guard usable across bundles (checks shape, not prototype identity). */
export function isHivecastError(e: unknown): e is HivecastError {
  return (
    e instanceof HivecastError ||
    (typeof e === "object" &&
      e !== null &&
      (e as { name?: unknown }).name === "HivecastError" &&
      typeof (e as { code?: unknown }).code === "string")
  );
}
