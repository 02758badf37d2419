import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createSocket } from "node:dgram";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { turnChallenge } from "./turn-client.js";

/** True when Debian's coturn (`turnserver`) can be run here. */
export function hasTurnserver(): boolean {
  const r = spawnSync("turnserver", ["--version"], { stdio: "ignore" });
  return r.error === undefined;
}

/** A port free for both UDP and TCP on 127.0.0.1 (coturn listens on both). */
async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const udp = createSocket("udp4");
    const port = await new Promise<number>((resolve, reject) => {
      udp.once("error", reject);
      udp.bind(0, "127.0.0.1", () => resolve(udp.address().port));
    });
    const tcpOk = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once("error", () => resolve(false));
      srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
    });
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (tcpOk) return port;
  }
  throw new Error("no free port for coturn");
}

/** A coturn instance of the test's own, on loopback, with `use-auth-secret`. */
export interface Coturn {
  port: number;
  realm: string;
  /** coturn's log so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts `turnserver` on a free loopback port with a temp config (REST-API shared secret, no
 * TLS/DTLS/CLI, relay ports in a random 200-port range) and waits until it answers an Allocate.
 */
export async function startCoturn(secret: string): Promise<Coturn> {
  const dir = mkdtempSync(join(tmpdir(), "hivecast-coturn-"));
  const port = await freePort();
  const realm = "hivecast.test";
  const minPort = 40_000 + Math.floor(Math.random() * 100) * 200;
  const logFile = join(dir, "turn.log");
  const conf = [
    `listening-port=${port}`,
    "listening-ip=127.0.0.1",
    "relay-ip=127.0.0.1",
    `min-port=${minPort}`,
    `max-port=${minPort + 199}`,
    "use-auth-secret",
    `static-auth-secret=${secret}`,
    `realm=${realm}`,
    "no-tls",
    "no-dtls",
    "no-cli",
    "allow-loopback-peers",
    `userdb=${join(dir, "turndb")}`,
    `pidfile=${join(dir, "turnserver.pid")}`,
    `log-file=${logFile}`,
    "simple-log",
    "no-stdout-log",
  ];
  writeFileSync(join(dir, "turnserver.conf"), conf.join("\n") + "\n");
  const child: ChildProcess = spawn("turnserver", ["-c", join(dir, "turnserver.conf")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const log = (): string => {
    let text = stderr;
    try {
      text += readFileSync(logFile, "utf8");
    } catch {
      // no log yet
    }
    return text;
  };
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`turnserver exited: ${log()}`);
      try {
        await turnChallenge("127.0.0.1", port, 500);
        break;
      } catch (err) {
        if (Date.now() > deadline)
          throw new Error(`turnserver not ready: ${String(err)}\n${log()}`);
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, realm, log, stop };
}
