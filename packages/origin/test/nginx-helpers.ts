import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's deploy/ directory. */
export const DEPLOY_DIR = fileURLToPath(new URL("../../../deploy/", import.meta.url));

/** Replaces every `@NAME@` of a deploy template with `vars.NAME` (throws on a missing one). */
export function renderTemplate(text: string, vars: Record<string, string>): string {
  return text.replace(/@([A-Z0-9_]+)@/g, (_, name: string) => {
    const v = vars[name];
    if (v === undefined) throw new Error(`template variable ${name} not set`);
    return v;
  });
}

/** An nginx started by a test, in its own prefix directory. */
export interface NginxProcess {
  prefix: string;
  child: ChildProcess;
  /** Everything nginx wrote to stderr. */
  stderr(): string;
  /** Stops nginx (SIGKILL after 3 s) and removes its prefix. Idempotent. */
  stop(): Promise<void>;
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/**
 * Renders `deploy/<template>` with `vars` (+ PREFIX = a fresh temp dir) and runs
 * `nginx -p <prefix> -c <conf>` in the foreground (`daemon off; master_process off;` from the
 * command line, so the deploy config stays production-shaped and everything runs as the test's
 * user). Resolves once `waitPort` accepts connections.
 */
export async function startNginx(
  template: string,
  vars: Record<string, string>,
  waitPort: { host: string; port: number },
): Promise<NginxProcess> {
  const prefix = await mkdtemp(join(tmpdir(), "hivecast-nginx-"));
  await mkdir(join(prefix, "logs"), { recursive: true });
  const conf = renderTemplate(await readFile(join(DEPLOY_DIR, template), "utf8"), {
    PREFIX: prefix,
    ...vars,
  });
  const confPath = join(prefix, "nginx.conf");
  await writeFile(confPath, conf);
  const child = spawn(
    "nginx",
    ["-p", prefix, "-c", confPath, "-g", "daemon off; master_process off;"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      const done = new Promise<void>((r) => child.once("exit", () => r()));
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 3_000);
      await done;
      clearTimeout(t);
    }
    await rm(prefix, { recursive: true, force: true });
  };
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break;
    if (await portOpen(waitPort.host, waitPort.port)) {
      return { prefix, child, stderr: () => stderr, stop };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  let log = "";
  try {
    log = await readFile(join(prefix, "edge-error.log"), "utf8");
  } catch {
    // none
  }
  await stop();
  throw new Error(`nginx did not start: ${stderr} ${log}`);
}
