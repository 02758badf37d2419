/** Machine-readable reasons an origin tool call can fail. */
export type OriginErrorCode =
  /** A fault setting (CLI flag, HTTP body or `setFaults`) is unknown or out of range. */
  | "invalid-faults"
  /** An option passed to `startOrigins` or the CLI is invalid. */
  | "invalid-option"
  /** A playlist could not be parsed or references something that cannot be hashed. */
  | "invalid-playlist"
  /** An origin index outside the cluster. */
  | "unknown-origin"
  /** A file could not be read or written. */
  | "io"
  /** ffmpeg/ffprobe is not installed (or not runnable). */
  | "ffmpeg-missing"
  /** The packager's input file cannot be read or decoded. */
  | "input-unreadable"
  /** The RTMP listen port is already in use. */
  | "port-busy"
  /** ffmpeg failed while packaging. */
  | "ffmpeg-failed"
  /** A segment's bytes do not match its published SHA-256, or it is missing. */
  | "integrity";

/** Typed error thrown by `@hivecast/origin`. */
export class OriginError extends Error {
  /** What went wrong, as a stable code. */
  readonly code: OriginErrorCode;
  /** The offending field or option name, when one is to blame. */
  readonly field: string | undefined;

  /**
   * @param code - stable reason code
   * @param message - human-readable description
   * @param field - name of the offending field or option, if any
   * @param options - standard `ErrorOptions` (e.g. `cause`)
   */
  constructor(code: OriginErrorCode, message: string, field?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "OriginError";
    this.code = code;
    this.field = field;
  }
}
