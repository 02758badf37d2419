import { defineConfig } from "vite";
import { fileURLToPath } from "node:url";

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

/**
 * The demo bundles the workspace packages straight from their sources (no prior package build).
 * Media never passes through Vite: the page fetches it from the origins named in /config.json.
 */
export default defineConfig({
  root: here("."),
  base: "./",
  publicDir: false,
  resolve: {
    alias: {
      "@hivecast/core": here("../packages/core/src/index.ts"),
      "@hivecast/hlsjs": here("../packages/hlsjs/src/index.ts"),
    },
    // The SDK and the page must share one hls.js (its events and classes are compared by identity).
    dedupe: ["hls.js"],
  },
  build: {
    outDir: here("./dist"),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
    chunkSizeWarningLimit: 1024,
    rolldownOptions: {
      input: {
        index: here("./index.html"),
        swarm: here("./swarm.html"),
        embed: here("./embed.html"),
      },
    },
  },
  // `vite` in demo/ (hot reload) while `npm start` runs: config.json comes from the launcher.
  server: {
    host: "127.0.0.1",
    proxy: { "/config.json": `http://127.0.0.1:${process.env.PORT ?? "8080"}` },
  },
});
