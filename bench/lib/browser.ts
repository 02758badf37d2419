/** Launching the system Chromium for benchmarks (never a downloaded browser). */
import { chromium, type Browser } from "@playwright/test";
import { chromiumArgs, chromiumPath } from "../../e2e/chromium.js";

/** Launches headless Chromium with the project's flags plus `extraArgs`. */
export function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    args: [...chromiumArgs, ...extraArgs],
    headless: true,
  });
}
