import { HivecastError } from "./errors.js";

type Digest = (data: Uint8Array) => Uint8Array;
let fallback: Promise<Digest> | undefined;

/**
 * The pure-JS SHA-256 (`@noble/hashes`), loaded on first use by a dynamic import: bundlers put
 * it in its own chunk, fetched only on a page where WebCrypto is missing (not a secure
 * context: plain `http://` on a host other than localhost). A load failure is remembered as a
 * typed error, never retried per segment.
 */
function loadFallback(): Promise<Digest> {
  fallback ??= import("@noble/hashes/sha2.js").then(
    (m) => m.sha256,
    (e: unknown) => {
      throw new HivecastError(
        "INSECURE_CONTEXT",
        'Integrity verification needs WebCrypto, which only a secure context (HTTPS or localhost) has, and the pure-JS SHA-256 fallback could not be loaded: serve the page over HTTPS, or set integrity: "off"',
        { fatal: true, cause: e, details: { secureContext: false } },
      );
    },
  );
  return fallback;
}

/** True where WebCrypto's digest exists (secure contexts, Node ≥ 20). */
export function hasWebCrypto(): boolean {
  return typeof globalThis.crypto?.subtle?.digest === "function";
}

function toHex(digest: Uint8Array): string {
  let hex = "";
  for (const byte of digest) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

/**
 * SHA-256 of `data` as 64 lowercase hex digits, via WebCrypto (browsers and Node ≥ 20 alike;
 * no Node `crypto` import so the browser bundle stays shim-free). Without WebCrypto (an
 * insecure page) a pure-JS SHA-256 is loaded once and used instead (8–24× slower, see bench/sha256).
 */
export async function sha256Hex(data: Uint8Array): Promise<string> {
  if (!hasWebCrypto()) return toHex((await loadFallback())(data));
  // WebCrypto wants an ArrayBuffer-backed view; copy only in the rare SharedArrayBuffer case.
  const view =
    data.buffer instanceof ArrayBuffer
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data);
  return toHex(new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", view)));
}

/** The pure-JS SHA-256, whatever the context (tests, benchmarks). */
export async function sha256HexPureJs(data: Uint8Array): Promise<string> {
  return toHex((await loadFallback())(data));
}
