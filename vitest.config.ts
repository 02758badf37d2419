import { defineConfig } from "vitest/config";
import { fileURLToPath } from "node:url";

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

/** Workspace packages resolve to their sources, so tests never need a prior build. */
export const workspaceAlias = {
  // Sub-path entries first: an alias also matches its key followed by "/…".
  "@hivecast/core/address": here("./packages/core/src/p2p/peer-address.ts"),
  "@hivecast/core": here("./packages/core/src/index.ts"),
  "@hivecast/hlsjs": here("./packages/hlsjs/src/index.ts"),
  "@hivecast/origin": here("./packages/origin/src/index.ts"),
  "@hivecast/signaling-server": here("./signaling-server/src/index.ts"),
};

const project = (name: string, dir: string) => ({
  extends: false as const,
  resolve: { alias: workspaceAlias },
  test: {
    name,
    root: here(`./${dir}`),
    include: ["test/**/*.test.ts"],
    environment: "node",
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});

export default defineConfig({
  test: {
    projects: [
      project("core", "packages/core"),
      project("hlsjs", "packages/hlsjs"),
      project("origin", "packages/origin"),
      project("signaling", "signaling-server"),
      project("bench", "bench"),
      project("demo", "demo"),
    ],
  },
});
