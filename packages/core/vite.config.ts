import { defineConfig } from "vite";
import { fileURLToPath } from "node:url";

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

/**
 * ESM library build of `src/index.ts` → `dist/index.js`. Dependencies stay external (npm users'
 * bundlers resolve them once); declarations come from `tsc -p tsconfig.build.json`.
 */
export default defineConfig({
  publicDir: false,
  build: {
    outDir: here("./dist"),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
    minify: false,
    lib: {
      entry: here("./src/index.ts"),
      formats: ["es"],
      fileName: () => "index.js",
    },
    rolldownOptions: {
      external: [/^@thaunknown\/simple-peer(\/.*)?$/, "events"],
    },
  },
});
