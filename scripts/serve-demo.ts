/**
 * `npm start` launcher: origins + tracker + demo page in one process, until Ctrl-C.
 * Ports and bind address come from the environment: HOST, PORT (page), ORIGIN_PORT (first
 * origin), ORIGINS (count), SIGNALING_PORT, DEMO_BUILD (if-stale | always | never).
 */
import { DemoServerError, startDemoServers } from "../demo/server.js";

function envPort(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    console.error(`✗ ${name}=${raw} is not a port number`);
    process.exit(2);
  }
  return n;
}

/** DEMO_BUILD: "if-stale" (default), "always", or "never" (serve demo/dist as it is). */
function buildMode(raw: string | undefined): "if-stale" | "always" | "never" {
  if (raw === undefined || raw === "" || raw === "if-stale") return "if-stale";
  if (raw === "always" || raw === "never") return raw;
  console.error(`✗ DEMO_BUILD=${raw}: expected if-stale, always or never`);
  process.exit(2);
}

async function main(): Promise<void> {
  const host = process.env.HOST || "127.0.0.1";
  const demo = await startDemoServers({
    host,
    port: envPort("PORT", 8080),
    originPort: envPort("ORIGIN_PORT", 8081),
    origins: envPort("ORIGINS", 3),
    signalingPort: envPort("SIGNALING_PORT", 8090),
    build: buildMode(process.env.DEMO_BUILD),
    log: (m) => console.log(`› ${m}`),
  });

  // On loopback, "localhost" is the friendlier thing to type; the servers answer on both.
  const shown = (u: string): string => u.replace("://127.0.0.1:", "://localhost:");
  const bar = "─".repeat(56);
  console.log(`\n${bar}`);
  console.log(`  Hivecast demo is running:   ${shown(demo.url)}`);
  console.log(`  swarm view:                 ${shown(demo.url)}swarm.html`);
  console.log(bar);
  demo.origins.forEach((o, i) => console.log(`  origin ${i}:  ${o}`));
  console.log(`  tracker:   ${demo.tracker}`);
  console.log(`\n  Press Ctrl-C to stop.\n`);

  let closing = false;
  const stop = (signal: string): void => {
    if (closing) {
      process.exit(130);
    }
    closing = true;
    console.log(`\n› ${signal}: stopping…`);
    // Never hang on a stuck socket: leave after 3 s whatever happens.
    setTimeout(() => process.exit(0), 3000).unref();
    demo.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

main().catch((e: unknown) => {
  if (e instanceof DemoServerError) console.error(`✗ ${e.code}: ${e.message}`);
  else console.error("✗", e);
  process.exit(1);
});
