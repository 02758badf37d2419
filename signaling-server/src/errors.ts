/** Codes of {@link SignalingError}. */
export type SignalingErrorCode =
  /** A config field has a wrong type or value; the message names the field. */
  | "config_invalid"
  /** The server could not bind its port. */
  | "listen_failed"
  /** A signed token could not be created (bad secret or expiry). */
  | "token_invalid";

/** The one error type the signaling server throws to its users. */
export class SignalingError extends Error {
  /** What went wrong, as a stable string. */
  readonly code: SignalingErrorCode;

  constructor(code: SignalingErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SignalingError";
    this.code = code;
  }
}
