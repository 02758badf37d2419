import type { Browser, Page } from "@playwright/test";
import { fileURLToPath } from "node:url";
import { startOrigins, type OriginCluster } from "@hivecast/origin";
import { startSignalingServer, type SignalingServer } from "@hivecast/signaling-server";
import { startPageServer, type PageServer } from "./page-server.js";

/** The fixture stream's directory (served by the origins, never imported). */
export const mediaDir = fileURLToPath(new URL("../fixtures/media", import.meta.url));

/** What a swarm test runs against: one origin, our signaling server, and its pages. */
export interface SwarmEnv {
  origins: OriginCluster;
  signaling: SignalingServer;
  pages: PageServer;
  /** Stops all three (pages first). */
  close(): Promise<void>;
}

/** Starts one origin on the fixtures, a signaling server and a page server, all on port 0. */
export async function startSwarmEnv(routes: Record<string, string>): Promise<SwarmEnv> {
  const origins = await startOrigins({ dir: mediaDir, origins: 1, port: 0, host: "127.0.0.1" });
  const signaling = await startSignalingServer({ port: 0, host: "127.0.0.1", logLevel: "warn" });
  const pages = await startPageServer(routes);
  return {
    origins,
    signaling,
    pages,
    close: async () => {
      await pages.close();
      await signaling.close();
      await origins.close();
    },
  };
}

/** A page in a browser context of its own (no shared cache); its console errors are printed. */
export async function openLoggedPage(browser: Browser): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  page.on("console", (m) => {
    if (m.type() === "error") console.log(`[page] ${m.text()}`);
  });
  return page;
}
