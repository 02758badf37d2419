import { existsSync } from "node:fs";

/** Path of the system Chromium (Debian `chromium`), overridable with CHROMIUM_PATH. */
export function chromiumPath(): string {
  const candidates = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"];
  for (const c of candidates) if (c && existsSync(c)) return c;
  throw new Error("System Chromium not found: apt-get install -y chromium (or set CHROMIUM_PATH)");
}

/** Launch flags for headless Chromium here: no sandbox as root, no GPU, no background traffic. */
export const chromiumArgs = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--autoplay-policy=no-user-gesture-required",
];
