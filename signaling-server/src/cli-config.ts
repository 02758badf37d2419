import { DEFAULT_CONFIG, resolveConfig, type SignalingConfig } from "./config.js";
import { SignalingError } from "./errors.js";

/** `maxPayload` → `max-payload` (flag) and `MAX_PAYLOAD` (env suffix). */
function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Prefix of every environment variable the CLI reads, e.g. `HIVECAST_SIGNALING_PORT`. */
export const ENV_PREFIX = "HIVECAST_SIGNALING_";

/**
 * Also read for `turnSecret` (below `HIVECAST_SIGNALING_TURN_SECRET` and `--turn-secret`): the
 * name operators of the TURN side already use, and a secret in the environment does not show in
 * the process list.
 */
export const TURN_SECRET_ENV = "HIVECAST_TURN_SECRET";

/** Environment variable name of a config key. */
export function envName(key: keyof SignalingConfig): string {
  return ENV_PREFIX + kebab(key).replace(/-/g, "_").toUpperCase();
}

function convert(key: keyof SignalingConfig, raw: string): unknown {
  const def = DEFAULT_CONFIG[key];
  if (typeof def === "number") {
    const n = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(n)) {
      throw new SignalingError(
        "config_invalid",
        `signaling config: \`${key}\` must be a number, got "${raw}"`,
      );
    }
    return n;
  }
  if (Array.isArray(def)) {
    return raw
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
  }
  if (key === "tokenSecret" || key === "turnSecret") return raw.length === 0 ? null : raw;
  return raw;
}

/** Usage text listing every flag with its env variable and default. */
export function usage(): string {
  const lines = [
    "Usage: hivecast-signaling [--flag value]...",
    "",
    "WebSocket tracker (WebTorrent protocol). Flags override environment variables.",
    "",
  ];
  for (const key of Object.keys(DEFAULT_CONFIG) as Array<keyof SignalingConfig>) {
    const def = DEFAULT_CONFIG[key];
    const none = key === "allowedOrigins" ? "(any)" : "(none)";
    const shown = Array.isArray(def) ? def.join(",") || none : String(def);
    lines.push(`  --${kebab(key).padEnd(28)} ${envName(key).padEnd(46)} default ${shown}`);
  }
  lines.push(
    "",
    `  ${TURN_SECRET_ENV} is read for --turn-secret too (keeps the secret out of the process list).`,
    "  GET /healthz, GET /metrics, GET /ice on the same port. SIGTERM/SIGINT: graceful shutdown.",
  );
  return lines.join("\n");
}

/** Result of reading the command line. */
export type CliRequest = { kind: "help" } | { kind: "run"; config: Readonly<SignalingConfig> };

/**
 * Reads config from flags (`--port 8090` or `--port=8090`) over env (`HIVECAST_SIGNALING_PORT`)
 * over defaults, and validates it.
 * @throws SignalingError `config_invalid` for unknown flags or bad values.
 */
export function parseCli(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): CliRequest {
  const byFlag = new Map<string, keyof SignalingConfig>();
  for (const key of Object.keys(DEFAULT_CONFIG) as Array<keyof SignalingConfig>)
    byFlag.set(kebab(key), key);
  const partial: Record<string, unknown> = {};
  const turnSecret = env[TURN_SECRET_ENV];
  if (turnSecret !== undefined) partial.turnSecret = convert("turnSecret", turnSecret);
  for (const key of byFlag.values()) {
    const v = env[envName(key)];
    if (v !== undefined) partial[key] = convert(key, v);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--help" || arg === "-h") return { kind: "help" };
    if (!arg.startsWith("--"))
      throw new SignalingError("config_invalid", `unexpected argument "${arg}"`);
    const eq = arg.indexOf("=");
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const key = byFlag.get(name);
    if (key === undefined)
      throw new SignalingError("config_invalid", `unknown flag --${name} (see --help)`);
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else value = argv[++i];
    if (value === undefined)
      throw new SignalingError("config_invalid", `flag --${name} needs a value`);
    partial[key] = convert(key, value);
  }
  return { kind: "run", config: resolveConfig(partial as Partial<SignalingConfig>) };
}
