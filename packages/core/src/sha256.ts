/**
 * SHA-256 of `data` as 64 lowercase hex digits, via WebCrypto (browsers and Node ≥ 20 alike;
 * no Node `crypto` import so the browser bundle stays shim-free).
 */
export async function sha256Hex(data: Uint8Array): Promise<string> {
  // WebCrypto wants an ArrayBuffer-backed view; copy only in the rare SharedArrayBuffer case.
  const view =
    data.buffer instanceof ArrayBuffer
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data);
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", view));
  let hex = "";
  for (const byte of digest) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

/** True for a well-formed SHA-256 hex digest (any case). */
export function isSha256Hex(v: unknown): v is string {
  return typeof v === "string" && /^[0-9a-fA-F]{64}$/.test(v);
}
