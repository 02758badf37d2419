/**
 * The one owner of Hivecast's integrity tag: its name, its playlist form and what counts as a
 * well-formed value. The playlist parser, the engine and the hls.js adapter all read it here.
 */

/** The tag's name, as hls.js keeps it in `frag.tagList` (`["EXT-X-HIVECAST-SHA256", "<hex>"]`). */
export const HASH_TAG_NAME = "EXT-X-HIVECAST-SHA256";

/** The tag as a playlist line starts, placed before a segment's URI (or before `EXT-X-MAP`). */
export const HASH_TAG = `#${HASH_TAG_NAME}:`;

const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

/** True for a well-formed SHA-256 hex digest (any case). */
export function isSha256Hex(v: unknown): v is string {
  return typeof v === "string" && SHA256_HEX.test(v);
}

/**
 * A tag value as a trusted hash: trimmed and lowercased when it is a well-formed SHA-256 hex
 * digest, otherwise undefined (a malformed tag is no hash at all, never a wrong one).
 */
export function hashFromTagValue(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const v = value.trim();
  return isSha256Hex(v) ? v.toLowerCase() : undefined;
}
