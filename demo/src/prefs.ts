import type { StreamKind } from "./player.js";

const CONSENT_KEY = "hivecast-demo-p2p";

/** Stream from `?stream=live|vod` (live by default). */
export function readStreamKind(search: string): StreamKind {
  return new URLSearchParams(search).get("stream") === "vod" ? "vod" : "live";
}

/**
 * P2P consent: `?p2p=0|1` wins, then the viewer's remembered choice. This local demo exists to
 * show sharing between viewers, so it starts on; the toggle in the header turns it off for good.
 */
export function readP2PConsent(search: string): boolean {
  const q = new URLSearchParams(search).get("p2p");
  if (q === "0" || q === "1") return q === "1";
  try {
    const stored = localStorage.getItem(CONSENT_KEY);
    if (stored === "0" || stored === "1") return stored === "1";
  } catch {
    // storage may be blocked; fall through to the default
  }
  return true;
}

/** Remembers the viewer's P2P choice. */
export function writeP2PConsent(enabled: boolean): void {
  try {
    localStorage.setItem(CONSENT_KEY, enabled ? "1" : "0");
  } catch {
    // storage may be blocked; the choice then lasts for this page only
  }
}
