#!/usr/bin/env node
// Launcher of the `hivecast-origin` CLI: the compiled dist/cli.js when built; inside the
// repository before a build, the TypeScript sources through tsx (a workspace dev dependency).
import { existsSync } from "node:fs";

const built = new URL("../dist/cli.js", import.meta.url);
if (existsSync(built)) {
  await import(built.href);
} else {
  let register;
  try {
    ({ register } = await import("tsx/esm/api"));
  } catch {
    process.stderr.write(
      "hivecast-origin: not built (run `pnpm run build`), and tsx is not available\n",
    );
    process.exit(1);
  }
  register();
  await import(new URL("../src/cli.ts", import.meta.url).href);
}
