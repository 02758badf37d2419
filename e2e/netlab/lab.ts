/**
 * A NAT lab on Linux network namespaces (root only): one "public" namespace with a bridge that
 * plays the internet (coturn as STUN + TURN, the origins, the signaling server and the page
 * server listen there), and per viewer a router namespace doing NAT with nftables in front of a
 * viewer namespace where that viewer's Chromium runs.
 *
 *   viewer ns (10.77.<i+1>.2) ── lan | router ns (NAT) | wan 100.64.0.<10+i> ── br0 (public ns, 100.64.0.1)
 *
 * Every address exists only inside the lab's namespaces. Names carry a prefix, the pid and a
 * random tag, so parallel runs never collide; namespaces of dead runs with the prefix are
 * removed on start. `close()` kills every process the lab started and deletes every namespace
 * (which removes its veths and nftables tables); it also runs on process exit and on SIGINT /
 * SIGTERM.
 */
import { execFile, execSync, spawn, type ChildProcess } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync, chmodSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { chromium, type Browser } from "@playwright/test";
import { chromiumArgs, chromiumPath } from "../chromium.js";

const root = fileURLToPath(new URL("../../", import.meta.url));

/** How a viewer's router treats traffic. */
export type NatKind =
  /** Home router: port-preserving SNAT, and any inbound UDP to a mapped port is let in (full cone-like). */
  | "eim"
  /** Stock Linux `masquerade persistent`: mapping kept while it can, filtering by address and port. */
  | "port-restricted"
  /** Carrier-grade / symmetric: `masquerade fully-random`, a new random port per destination. */
  | "symmetric"
  /** Firewall that drops all forwarded UDP (TCP masqueraded). */
  | "udp-blocked";

export const NAT_KINDS: readonly NatKind[] = ["eim", "port-restricted", "symmetric", "udp-blocked"];

/** Namespace name prefix of every lab (used to find leftovers of dead runs). */
export const LAB_PREFIX = "hcl";

/** The public ("internet") address of the lab: coturn and every server listen here. */
export const PUBLIC_ADDR = "100.64.0.1";
/** The public namespace's default gateway: a fixed neighbour on a dead-end veth (see build()). */
const VOID_GATEWAY = "192.0.2.254";
/** coturn's listening port (inside the lab's own namespace, so a fixed port never collides). */
export const TURN_PORT = 3478;

/** One viewer: its namespace, its router's and its own address. */
export interface LabViewer {
  index: number;
  nat: NatKind;
  ns: string;
  routerNs: string;
  lanAddr: string;
  wanAddr: string;
}

/** Why the lab cannot run here, or null when it can (root, `ip netns`, `nft`, coturn). */
export function labUnavailableReason(): string | null {
  if (process.platform !== "linux") return "the NAT lab needs Linux network namespaces";
  if (typeof process.getuid !== "function" || process.getuid() !== 0)
    return "the NAT lab needs root (network namespaces, nftables)";
  for (const bin of ["/usr/sbin/ip", "/usr/sbin/nft", "/usr/bin/turnserver"]) {
    const alt = bin.replace("/usr/sbin/", "/sbin/").replace("/usr/bin/", "/bin/");
    if (!existsSync(bin) && !existsSync(alt))
      return `the NAT lab needs ${bin} (see scripts/ensure.sh --system)`;
  }
  return null;
}

function run(cmd: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: 15_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(" ")}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

const ip = (...args: string[]): Promise<string> => run("ip", args);
const inNs = (ns: string, cmd: string, ...args: string[]): Promise<string> =>
  run("ip", ["netns", "exec", ns, cmd, ...args]);

/** Runs a shell command synchronously (exit handlers cannot wait). */
function sh(cmd: string): string {
  return execSync(cmd, { stdio: ["ignore", "pipe", "ignore"] }).toString();
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Namespaces currently defined (names only). */
export async function listNamespaces(): Promise<string[]> {
  const out = await ip("netns", "list");
  return out
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[0] ?? "")
    .filter((n) => n.length > 0);
}

/** Kills every process left in a namespace, then deletes it (its veths and rules go with it). */
async function deleteNamespace(ns: string): Promise<void> {
  const pids = await ip("netns", "pids", ns).catch(() => "");
  for (const p of pids.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(p), "SIGKILL");
    } catch {
      // already gone
    }
  }
  await ip("netns", "del", ns).catch(() => undefined);
}

/** Removes namespaces of earlier lab runs whose process is gone. */
async function removeLeftovers(): Promise<void> {
  const re = new RegExp(`^${LAB_PREFIX}(\\d+)-`);
  for (const ns of await listNamespaces()) {
    const m = re.exec(ns);
    if (m && !pidAlive(Number(m[1]))) await deleteNamespace(ns);
  }
}

/** The nftables ruleset of a router of kind `nat`. */
export function routerRules(nat: NatKind, wanAddr: string, lanHost: string): string {
  const natStmt: Record<NatKind, string> = {
    eim: `snat to ${wanAddr} persistent`,
    "port-restricted": "masquerade persistent",
    symmetric: "masquerade fully-random",
    "udp-blocked": "masquerade",
  };
  const lines = [
    "table ip netlab {",
    "  chain filter_fwd {",
    "    type filter hook forward priority 0; policy drop;",
    "    ct state established,related accept",
    nat === "udp-blocked" ? '    iifname "lan" meta l4proto udp drop' : "",
    '    iifname "lan" accept',
    // Endpoint-independent filtering: inbound UDP DNAT'ed to the viewer below is let through.
    nat === "eim" ? "    ct status dnat accept" : "",
    "  }",
    // A home or carrier router answers nothing unsolicited on its WAN side: without this, the
    // Linux router's own stack replies ICMP port-unreachable to a peer's or relay's packet that
    // arrives before the mapping exists.
    "  chain filter_in {",
    "    type filter hook input priority 0; policy accept;",
    '    iifname "wan" ct state new,invalid drop',
    "  }",
    "  chain nat_pre {",
    "    type nat hook prerouting priority -100;",
    // Any inbound UDP to a port the viewer may have mapped goes to the viewer on the same port
    // (SNAT preserves ports), so a peer's first packet reaches it whoever sent it.
    nat === "eim" ? `    iifname "wan" udp dport 1024-65535 dnat to ${lanHost}` : "",
    "  }",
    "  chain nat_post {",
    "    type nat hook postrouting priority 100;",
    `    oifname "wan" ${natStmt[nat]}`,
    "  }",
    "}",
  ];
  return `${lines.filter((l) => l !== "").join("\n")}\n`;
}

/** coturn REST-API credentials (`use-auth-secret`): username `expiry:id`, HMAC-SHA1 password. */
export function turnCredentials(
  secret: string,
  id: string,
  ttlS: number,
  nowMs = Date.now(),
): { username: string; credential: string } {
  const username = `${Math.floor(nowMs / 1000) + ttlS}:${id}`;
  const credential = createHmac("sha1", secret).update(username).digest("base64");
  return { username, credential };
}

/** What the servers child process reports once it listens. */
export interface LabServers {
  origins: string[];
  tracker: string;
  /** The signaling server's `GET /ice` (404 when started without `iceServers`). */
  ice: string;
  pages: string;
  /** Counting proxy origin (`<proxy>/v<viewer>/o<origin>/<path>`), when started with one. */
  proxy: string | null;
  /** Asks the child for a JSON report (e.g. the proxy's counters). */
  query(cmd: string): Promise<unknown>;
  close(): Promise<void>;
}

/** Options of the servers child (see servers.ts). */
export interface ServersOptions {
  /** Page path → HTML served by the page server. */
  pages: Record<string, string>;
  origins?: number;
  liveWindow?: number;
  /** Start a per-viewer byte-counting proxy in front of the origins (bench). */
  proxy?: boolean;
  /** STUN/TURN URLs the signaling server serves on `GET /ice` (see {@link NetLab.iceUrls}). */
  iceServers?: string[];
  /** TURN REST secret for `/ice` credentials (coturn's secret: {@link NetLab.turnSecret}). */
  turnSecret?: string;
  /** Lifetime of minted TURN credentials, seconds. */
  turnTtlS?: number;
}

/** A running lab. */
export class NetLab {
  readonly id: string;
  readonly publicNs: string;
  readonly viewers: LabViewer[] = [];
  readonly turnSecret = randomBytes(16).toString("hex");
  readonly dir: string;
  private readonly namespaces: string[] = [];
  private readonly children = new Set<ChildProcess>();
  private readonly browsers = new Set<Browser>();
  private turn: ChildProcess | null = null;
  private closed = false;
  private readonly onExit = (): void => this.closeSync();
  private readonly onSignal = (sig: NodeJS.Signals): void => {
    this.closeSync();
    process.kill(process.pid, sig);
  };

  private constructor(id: string) {
    this.id = id;
    this.publicNs = `${id}-pub`;
    this.dir = mkdtempSync(join(tmpdir(), `${id}-`));
    process.once("exit", this.onExit);
    process.once("SIGINT", this.onSignal);
    process.once("SIGTERM", this.onSignal);
  }

  /** Builds the lab: the public namespace and one router + viewer namespace per entry of `nats`. */
  static async start(nats: readonly NatKind[]): Promise<NetLab> {
    const why = labUnavailableReason();
    if (why) throw new Error(why);
    if (nats.length > 200) throw new Error("at most 200 viewers");
    await removeLeftovers();
    const lab = new NetLab(`${LAB_PREFIX}${process.pid}-${randomBytes(3).toString("hex")}`);
    try {
      await lab.build(nats);
    } catch (e) {
      await lab.close();
      throw e;
    }
    return lab;
  }

  private async addNs(name: string): Promise<void> {
    await ip("netns", "add", name);
    this.namespaces.push(name);
    await ip("-n", name, "link", "set", "lo", "up");
  }

  private async build(nats: readonly NatKind[]): Promise<void> {
    const pub = this.publicNs;
    await this.addNs(pub);
    await ip("-n", pub, "link", "add", "br0", "type", "bridge");
    await ip("-n", pub, "addr", "add", `${PUBLIC_ADDR}/24`, "dev", "br0");
    await ip("-n", pub, "link", "set", "br0", "up");
    // The internet drops packets to addresses it has no route for (a viewer's private host
    // candidate) without telling the sender. Without a default route the kernel refuses the send
    // instead (ENETUNREACH; a blackhole route gives EINVAL, a neighbour that never answers ARP
    // gives EHOSTUNREACH), and coturn 4.6 then marks its relay socket to be closed: the
    // allocation ignores every later packet, or is torn down ("reason: general"), which broke
    // every link whose ICE checks also went from a relay to a private host candidate. So the
    // default route leads to a gateway with a fixed MAC on a veth whose other end has no
    // address: the packets leave and vanish, as on the internet.
    await ip("-n", pub, "link", "add", "void0", "type", "veth", "peer", "name", "void1");
    await ip("-n", pub, "link", "set", "void0", "up");
    await ip("-n", pub, "link", "set", "void1", "up");
    await ip(
      "-n",
      pub,
      "neigh",
      "add",
      VOID_GATEWAY,
      "lladdr",
      "02:00:00:00:00:fe",
      "dev",
      "void0",
      "nud",
      "permanent",
    );
    await ip("-n", pub, "route", "add", "default", "via", VOID_GATEWAY, "dev", "void0", "onlink");
    for (const [i, nat] of nats.entries()) {
      const routerNs = `${this.id}-r${i}`;
      const ns = `${this.id}-v${i}`;
      const wanAddr = `100.64.0.${10 + i}`;
      const lanGw = `10.77.${i + 1}.1`;
      const lanAddr = `10.77.${i + 1}.2`;
      await this.addNs(routerNs);
      await this.addNs(ns);
      await ip(
        "-n",
        pub,
        "link",
        "add",
        `w${i}`,
        "type",
        "veth",
        "peer",
        "name",
        "wan",
        "netns",
        routerNs,
      );
      await ip("-n", pub, "link", "set", `w${i}`, "master", "br0", "up");
      await ip("-n", routerNs, "addr", "add", `${wanAddr}/24`, "dev", "wan");
      await ip("-n", routerNs, "link", "set", "wan", "up");
      await ip(
        "-n",
        routerNs,
        "link",
        "add",
        "lan",
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        ns,
      );
      await ip("-n", routerNs, "addr", "add", `${lanGw}/24`, "dev", "lan");
      await ip("-n", routerNs, "link", "set", "lan", "up");
      await ip("-n", ns, "addr", "add", `${lanAddr}/24`, "dev", "eth0");
      await ip("-n", ns, "link", "set", "eth0", "up");
      await ip("-n", ns, "route", "add", "default", "via", lanGw);
      await inNs(routerNs, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1");
      await run(
        "ip",
        ["netns", "exec", routerNs, "nft", "-f", "-"],
        routerRules(nat, wanAddr, lanAddr),
      );
      this.viewers.push({ index: i, nat, ns, routerNs, lanAddr, wanAddr });
    }
  }

  /** Spawns `cmd` inside namespace `ns`; the lab kills it on close. */
  spawnIn(ns: string, cmd: string, args: readonly string[]): ChildProcess {
    const child = spawn("ip", ["netns", "exec", ns, cmd, ...args], {
      cwd: root,
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.children.add(child);
    child.on("exit", () => this.children.delete(child));
    return child;
  }

  /** Starts coturn (STUN + TURN over UDP and TCP, REST credentials) in the public namespace. */
  async startTurn(): Promise<void> {
    if (this.turn) return;
    const conf = join(this.dir, "turnserver.conf");
    const log = join(this.dir, "turn.log");
    writeFileSync(
      conf,
      [
        `listening-ip=${PUBLIC_ADDR}`,
        `relay-ip=${PUBLIC_ADDR}`,
        `listening-port=${TURN_PORT}`,
        "min-port=49152",
        "max-port=49999",
        "use-auth-secret",
        `static-auth-secret=${this.turnSecret}`,
        "realm=netlab",
        "fingerprint",
        "no-tls",
        "no-dtls",
        "no-cli",
        "no-multicast-peers",
        "no-software-attribute",
        `pidfile=${join(this.dir, "turn.pid")}`,
        `log-file=${log}`,
        "no-stdout-log",
        `userdb=${join(this.dir, "turndb")}`,
        "simple-log",
        // One line per TURN request (allocations, permissions, who was refused), not per packet.
        "verbose",
        "",
      ].join("\n"),
    );
    const child = this.spawnIn(this.publicNs, "turnserver", ["-c", conf]);
    this.turn = child;
    let output = "";
    child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
    // Ready when its UDP and TCP listeners exist.
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`turnserver exited: ${output.slice(-500)}`);
      const ss = await inNs(this.publicNs, "ss", "-lnu").catch(() => "");
      const st = await inNs(this.publicNs, "ss", "-lnt").catch(() => "");
      const at = `${PUBLIC_ADDR}:${TURN_PORT}`;
      if (ss.includes(at) && st.includes(at)) return;
      if (Date.now() > deadline)
        throw new Error(`turnserver did not listen: ${output.slice(-500)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Stops coturn (TURN down). */
  async stopTurn(): Promise<void> {
    const t = this.turn;
    this.turn = null;
    if (!t || t.exitCode !== null) return;
    const gone = new Promise((r) => t.once("exit", r));
    t.kill("SIGKILL");
    await gone;
  }

  /** coturn's log so far (session lines carry relayed byte counts). */
  turnLog(): string {
    const p = join(this.dir, "turn.log");
    return existsSync(p) ? readFileSync(p, "utf8") : "";
  }

  /** STUN URL of the lab's coturn. */
  stunUrl(): string {
    return `stun:${PUBLIC_ADDR}:${TURN_PORT}`;
  }

  /**
   * The lab's STUN/TURN URLs for the signaling server's `--ice-servers`: STUN plus TURN over
   * the given transports (none: STUN only).
   */
  iceUrls(turn: ReadonlyArray<"udp" | "tcp">): string[] {
    return [this.stunUrl(), ...turn.map((t) => `turn:${PUBLIC_ADDR}:${TURN_PORT}?transport=${t}`)];
  }

  /** TURN server entry (UDP and TCP transports) with fresh REST credentials for `id`. */
  turnServer(id: string, ttlS = 3600): RTCIceServer {
    return {
      urls: [
        `turn:${PUBLIC_ADDR}:${TURN_PORT}?transport=udp`,
        `turn:${PUBLIC_ADDR}:${TURN_PORT}?transport=tcp`,
      ],
      ...turnCredentials(this.turnSecret, id, ttlS),
    };
  }

  /**
   * Starts the origins, the signaling server and the page server (plus, optionally, a counting
   * proxy) in the public namespace, on {@link PUBLIC_ADDR}.
   */
  async startServers(opts: ServersOptions): Promise<LabServers> {
    const optsFile = join(this.dir, `servers-${randomBytes(3).toString("hex")}.json`);
    writeFileSync(optsFile, JSON.stringify({ host: PUBLIC_ADDR, ...opts }));
    const child = this.spawnIn(this.publicNs, `${root}node_modules/.bin/tsx`, [
      `${root}e2e/netlab/servers.ts`,
      optsFile,
    ]);
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const lines = createInterface({ input: child.stdout! });
    const waiting: Array<(x: unknown) => void> = [];
    let ready: ((x: unknown) => void) | null = null;
    const first = new Promise<unknown>((resolve) => (ready = resolve));
    lines.on("line", (line) => {
      let msg: unknown;
      try {
        msg = JSON.parse(line);
      } catch {
        return;
      }
      if (ready) {
        const r = ready;
        ready = null;
        r(msg);
      } else waiting.shift()?.(msg);
    });
    const info = await Promise.race([
      first,
      new Promise<never>((_, reject) =>
        child.once("exit", (code) => reject(new Error(`servers exited (${code}): ${stderr}`))),
      ),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`servers did not start: ${stderr}`)), 30_000),
      ),
    ]);
    const rec = info as { origins?: unknown; tracker?: unknown; pages?: unknown; proxy?: unknown };
    if (
      !Array.isArray(rec.origins) ||
      typeof rec.tracker !== "string" ||
      typeof rec.pages !== "string"
    )
      throw new Error(`servers: unexpected report ${JSON.stringify(info)}`);
    return {
      origins: rec.origins.filter((u): u is string => typeof u === "string"),
      tracker: rec.tracker,
      ice: `${rec.tracker.replace(/^ws/, "http").replace(/\/+$/, "")}/ice`,
      pages: rec.pages,
      proxy: typeof rec.proxy === "string" ? rec.proxy : null,
      query: (cmd) =>
        new Promise((resolve, reject) => {
          if (child.exitCode !== null) {
            reject(new Error("servers exited"));
            return;
          }
          waiting.push(resolve);
          child.stdin?.write(`${cmd}\n`);
        }),
      close: async () => {
        if (child.exitCode !== null) return;
        const gone = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 3000);
        await gone;
        clearTimeout(t);
      },
    };
  }

  /**
   * Launches Chromium inside viewer `index`'s namespace (an executablePath wrapper runs it under
   * `ip netns exec`; Playwright talks to it over pipes). `secureOrigins` are the lab's HTTP
   * page origins, treated as secure contexts (WebCrypto needs one).
   */
  async launchBrowser(
    index: number,
    secureOrigins: readonly string[],
    extraArgs: readonly string[] = [],
  ): Promise<Browser> {
    const v = this.viewers[index];
    if (!v) throw new Error(`no viewer ${index}`);
    const wrapper = join(this.dir, `chromium-${index}.sh`);
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec '${v.ns}' '${chromiumPath()}' "$@"\n`);
    chmodSync(wrapper, 0o755);
    const browser = await chromium.launch({
      executablePath: wrapper,
      headless: true,
      args: [
        ...chromiumArgs,
        `--unsafely-treat-insecure-origin-as-secure=${secureOrigins.join(",")}`,
        // Host candidates as plain (private, unroutable) IPs rather than mDNS names.
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        "--disable-background-timer-throttling",
        "--disable-renderer-backgrounding",
        "--disable-backgrounding-occluded-windows",
        ...extraArgs,
      ],
    });
    this.browsers.add(browser);
    return browser;
  }

  /** Closes browsers, kills every process, deletes every namespace and the temp dir. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    process.off("exit", this.onExit);
    process.off("SIGINT", this.onSignal);
    process.off("SIGTERM", this.onSignal);
    await Promise.all(
      [...this.browsers].map((b) =>
        Promise.race([b.close().catch(() => undefined), new Promise((r) => setTimeout(r, 5000))]),
      ),
    );
    for (const c of this.children) c.kill("SIGKILL");
    for (const ns of [...this.namespaces].reverse()) await deleteNamespace(ns);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Last-resort synchronous cleanup (process exit / signal): kill and delete, no waiting on browsers. */
  private closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.children) c.kill("SIGKILL");
    for (const ns of [...this.namespaces].reverse()) {
      try {
        const pids = sh(`ip netns pids ${ns}`);
        for (const p of pids.split(/\s+/).filter(Boolean)) {
          try {
            process.kill(Number(p), "SIGKILL");
          } catch {
            // gone
          }
        }
        sh(`ip netns del ${ns}`);
      } catch {
        // best effort
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
