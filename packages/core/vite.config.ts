import { defineConfig } from "vite";
import { fileURLToPath } from "node:url";

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

/**
 * ESM library build of `src/index.ts` → `dist/index.js`, `src/simple-peer.ts` →
 * `dist/simple-peer.js`, the test doubles `src/testing/index.ts` → `dist/testing.js` and the
 * address rules `src/p2p/peer-address.ts` → `dist/address.js` (the signaling server's too; shared
 * code in a chunk). Dependencies stay external (npm users'
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
      // The simple-peer entry is separate so the default bundle never reaches simple-peer.
      entry: {
        index: here("./src/index.ts"),
        "simple-peer": here("./src/simple-peer.ts"),
        testing: here("./src/testing/index.ts"),
        address: here("./src/p2p/peer-address.ts"),
      },
      formats: ["es"],
      fileName: (_format, name) => `${name}.js`,
    },
    rolldownOptions: {
      output: { chunkFileNames: "chunks/[name].js" },
      external: [/^@thaunknown\/simple-peer(\/.*)?$/, "events"],
    },
  },
});
