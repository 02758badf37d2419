import { createServer, type Server } from "node:http";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { AddressInfo } from "node:net";

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL("..", import.meta.url));

/** A file in a dependency's dist/, for packages whose `exports` map hides it. */
const distFile = (pkg: string, file: string): string =>
  `${root}e2e/node_modules/${pkg}/dist/${file}`;

/** Files the test pages may load, by URL path. Nothing else is served. */
const files: Record<string, () => string> = {
  "/hls.js": () => require.resolve("hls.js/dist/hls.min.js"),
  "/hivecast.iife.js": () => `${root}packages/hlsjs/dist/hivecast.iife.js`,
  "/p2pml-core.js": () => distFile("p2p-media-loader-core", "p2p-media-loader-core.es.min.js"),
  "/p2pml-hlsjs.js": () => distFile("p2p-media-loader-hlsjs", "p2p-media-loader-hlsjs.es.min.js"),
};

/** A loopback HTTP server on port 0 for e2e pages: static test pages plus the player scripts. */
export interface PageServer {
  url: string;
  close(): Promise<void>;
}

/**
 * Starts the page server; `pages` maps a path (e.g. "/play.html") to HTML. `host` is loopback
 * unless a test binds an address of a network namespace it created (the NAT lab).
 */
export async function startPageServer(
  pages: Record<string, string> = {},
  host = "127.0.0.1",
): Promise<PageServer> {
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const page = pages[path];
    if (page !== undefined) {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(page);
      return;
    }
    const file = files[path];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    readFile(file()).then(
      (body) => {
        res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" });
        res.end(body);
      },
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
