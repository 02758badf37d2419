import { defineConfig } from "@playwright/test";
import { chromiumArgs, chromiumPath } from "./e2e/chromium.js";

/**
 * E2E runs in the system Chromium (Debian package `chromium`); browsers are never downloaded.
 * Each spec starts its own origins / signaling server on port 0 (see e2e/fixtures.ts).
 */
export default defineConfig({
  testDir: "./e2e",
  testMatch: /.*\.spec\.ts/,
  timeout: 120_000,
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [["list"], ["json", { outputFile: ".e2e-results.json" }]],
  use: {
    headless: true,
    launchOptions: {
      executablePath: chromiumPath(),
      args: chromiumArgs,
    },
  },
});
