#!/usr/bin/env node
import { parseCli, usage } from "./cli-config.js";
import { SignalingError } from "./errors.js";
import { startSignalingServer } from "./server.js";

async function main(): Promise<void> {
  const req = parseCli(process.argv.slice(2), process.env);
  if (req.kind === "help") {
    process.stdout.write(usage() + "\n");
    return;
  }
  const server = await startSignalingServer(req.config);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(
      JSON.stringify({ time: new Date().toISOString(), level: "info", msg: "signal", signal }) +
        "\n",
    );
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((err: unknown) => {
  const message = err instanceof SignalingError ? err.message : String(err);
  process.stderr.write(
    JSON.stringify({ time: new Date().toISOString(), level: "error", msg: message }) + "\n",
  );
  process.exit(2);
});
