/** Runtime configuration the launcher serves at `/config.json` (it knows the ports). */
export interface DemoConfig {
  /** Origin base URLs, each ending with "/". Index i is the origin's fault index. */
  origins: string[];
  /** WebSocket tracker URL (`ws://…`). */
  tracker: string;
  /** Live master playlist URL. */
  live: string;
  /** VOD master playlist URL. */
  vod: string;
}

/** Thrown when `/config.json` is missing or malformed. */
export class DemoConfigError extends Error {
  override readonly name = "DemoConfigError";
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function url(v: unknown, field: string, protocols: readonly string[]): string {
  if (typeof v !== "string") throw new DemoConfigError(`config.json: "${field}" must be a string`);
  let parsed: URL;
  try {
    parsed = new URL(v);
  } catch {
    throw new DemoConfigError(`config.json: "${field}" is not a URL: ${v}`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new DemoConfigError(`config.json: "${field}" must use ${protocols.join(" or ")}`);
  }
  return v;
}

/** Validates untrusted JSON into a {@link DemoConfig}. */
export function parseDemoConfig(json: unknown): DemoConfig {
  if (!isRecord(json)) throw new DemoConfigError("config.json: expected an object");
  const { origins } = json;
  if (!Array.isArray(origins) || origins.length === 0) {
    throw new DemoConfigError('config.json: "origins" must be a non-empty array');
  }
  const web = ["http:", "https:"] as const;
  return {
    origins: origins.map((o, i) => {
      const u = url(o, `origins[${i}]`, web);
      return u.endsWith("/") ? u : `${u}/`;
    }),
    tracker: url(json.tracker, "tracker", ["ws:", "wss:"]),
    live: url(json.live, "live", web),
    vod: url(json.vod, "vod", web),
  };
}

/** Fetches and validates `/config.json` next to the page. */
export async function loadDemoConfig(signal?: AbortSignal): Promise<DemoConfig> {
  const res = await fetch(new URL("config.json", location.href), { cache: "no-store", signal });
  if (!res.ok) throw new DemoConfigError(`config.json: HTTP ${res.status}`);
  const json: unknown = await res.json();
  return parseDemoConfig(json);
}
