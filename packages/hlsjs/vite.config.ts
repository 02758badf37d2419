import { defineConfig } from "vite";
import { fileURLToPath } from "node:url";

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

/**
 * Two library builds:
 * - default mode: ESM `dist/index.js` for bundler users; `@hivecast/core` (a dependency) and
 *   `hls.js` (a peer dependency) stay external.
 * - `--mode iife`: `dist/hivecast.iife.js` for `<script>` users, global `Hivecast`, core bundled
 *   from its sources, minified. hls.js is never bundled: the page loads it from its own script
 *   tag (global `Hls`), and the adapter only uses the instance it is given.
 */
export default defineConfig(({ mode }) => {
  const iife = mode === "iife";
  return {
    publicDir: false,
    resolve: iife ? { alias: { "@hivecast/core": here("../core/src/index.ts") } } : {},
    build: {
      outDir: here("./dist"),
      emptyOutDir: !iife,
      target: "es2022",
      sourcemap: true,
      minify: iife,
      lib: iife
        ? {
            entry: here("./src/iife.ts"),
            name: "Hivecast",
            formats: ["iife"],
            fileName: () => "hivecast.iife.js",
          }
        : {
            entry: here("./src/index.ts"),
            formats: ["es"],
            fileName: () => "index.js",
          },
      rolldownOptions: {
        external: iife ? ["hls.js"] : ["hls.js", /^@hivecast\/core(\/.*)?$/],
        output: iife ? { globals: { "hls.js": "Hls" }, exports: "default" } : {},
      },
    },
  };
});
