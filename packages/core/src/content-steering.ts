import { type Clock } from "./clock.js";
import type { Origin } from "./config.js";

/** Longest steering manifest read (the JSON is a few hundred bytes). */
export const STEERING_MAX_BYTES = 64 * 1024;
/** TTL when the manifest gives none (HLS content steering's default). */
const DEFAULT_TTL_S = 300;
/** Bounds on a server's TTL, so a hostile one can neither spin nor stop refreshes. */
const MIN_TTL_S = 1;
const MAX_TTL_S = 86_400;

/** A validated steering manifest. */
export interface SteeringManifest {
  ttlS: number;
  reloadUri: string | undefined;
  priority: string[];
}

/** Validates untrusted steering manifest bytes (`url`: where they came from, for RELOAD-URI). */
export function parseSteeringManifest(data: Uint8Array, url: string): SteeringManifest | string {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(data));
  } catch {
    return "not JSON";
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return "not an object";
  const version: unknown = Reflect.get(json, "VERSION");
  if (version !== 1) return `unsupported VERSION ${String(version)}`;
  const ttl: unknown = Reflect.get(json, "TTL") ?? DEFAULT_TTL_S;
  if (typeof ttl !== "number" || !Number.isFinite(ttl) || ttl < 0) return "bad TTL";
  const priority: unknown = Reflect.get(json, "PATHWAY-PRIORITY");
  if (
    !Array.isArray(priority) ||
    priority.length === 0 ||
    priority.length > 64 ||
    !priority.every((p) => typeof p === "string" && /^[A-Za-z0-9._-]{1,64}$/.test(p))
  )
    return "bad PATHWAY-PRIORITY";
  const reload: unknown = Reflect.get(json, "RELOAD-URI");
  let reloadUri: string | undefined;
  if (reload !== undefined) {
    try {
      reloadUri = typeof reload === "string" ? new URL(reload, url).href : undefined;
    } catch {
      reloadUri = undefined;
    }
    if (reloadUri === undefined || !/^https?:/.test(reloadUri)) return "bad RELOAD-URI";
  }
  return {
    ttlS: Math.min(MAX_TTL_S, Math.max(MIN_TTL_S, ttl)),
    reloadUri,
    priority: priority.filter((p): p is string => typeof p === "string"),
  };
}

/** What {@link ContentSteering} needs from the engine. */
export interface ContentSteeringDeps {
  clock: Clock;
  /** Origins and the user's `pathways` map, read at each use (they may change at runtime). */
  origins: () => readonly Origin[];
  pathways: () => Readonly<Record<string, string>>;
  /** The configured origin `url` is under, if any (`matchOrigin`; passed in to keep this chunk small). */
  originUnder: (url: string) => string | undefined;
  /** Fetches at most `maxBytes` of a URL (with origin failover, `requestSetup`). */
  fetch: (url: string, maxBytes: number, signal: AbortSignal) => Promise<Uint8Array>;
  /** The pool's new preference order (origin base URLs, most preferred first). */
  onOrder: (origins: string[]) => void;
  /** The manifest could not be fetched or was invalid (the previous order stays). */
  onUnavailable: (url: string, why: string) => void;
}

/**
 * HLS content steering for the origin pool: fetches the steering manifest named by the
 * multivariant playlist's `EXT-X-CONTENT-STEERING`, maps its PATHWAY-PRIORITY to origins
 * (config `pathways`, else the origin the pathway's variant URL is under, else one with the
 * same host) and hands that order to the pool; reloads after TTL (at RELOAD-URI when given).
 */
export class ContentSteering {
  private timer: unknown;
  private server: string | undefined;
  private pathwayUrls = new Map<string, string>();
  private current: string | undefined;
  private ttlS = DEFAULT_TTL_S;
  private readonly lifetime = new AbortController();

  constructor(private readonly deps: ContentSteeringDeps) {}

  /** A multivariant playlist with steering: start (or restart, for a new server) steering. */
  start(serverUri: string, pathwayId: string | undefined, pathways: Map<string, string>): void {
    if (this.lifetime.signal.aborted) return;
    this.pathwayUrls = pathways;
    if (this.server !== undefined && this.server === serverUri) return;
    this.server = serverUri;
    this.current = pathwayId;
    this.schedule(0, serverUri);
  }

  /** The origin a pathway id stands for, if any. */
  originOf(id: string): string | undefined {
    const origins = this.deps.origins();
    const configured = this.deps.pathways()[id];
    if (configured !== undefined) return configured;
    const url = this.pathwayUrls.get(id);
    if (url === undefined) return undefined;
    const under = this.deps.originUnder(url);
    if (under !== undefined) return under;
    const host = hostOf(url);
    return origins.find((o) => hostOf(o.url) === host)?.url;
  }

  /** Stops reloads and any fetch in flight. */
  destroy(): void {
    this.lifetime.abort();
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number, url: string): void {
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer);
    this.timer = this.deps.clock.setTimeout(() => {
      this.timer = undefined;
      void this.load(url);
    }, ms);
  }

  private async load(base: string): Promise<void> {
    const signal = this.lifetime.signal;
    const url = withPathway(base, this.current);
    let next = base;
    try {
      const data = await this.deps.fetch(url, STEERING_MAX_BYTES, signal);
      if (signal.aborted) return;
      const m = parseSteeringManifest(data, url);
      if (typeof m === "string") {
        this.deps.onUnavailable(url, m);
      } else {
        this.ttlS = m.ttlS;
        next = m.reloadUri ?? base;
        this.apply(m.priority);
      }
    } catch (e) {
      if (signal.aborted) return;
      this.deps.onUnavailable(url, e instanceof Error ? e.message : String(e));
    }
    if (!signal.aborted) this.schedule(this.ttlS * 1000, next);
  }

  private apply(priority: readonly string[]): void {
    const order: string[] = [];
    for (const id of priority) {
      const o = this.originOf(id);
      if (o !== undefined && !order.includes(o)) order.push(o);
    }
    const first = priority.find((id) => this.originOf(id) !== undefined);
    if (first !== undefined) this.current = first;
    if (order.length > 0) this.deps.onOrder(order);
  }
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}

/** The steering request URL: `_HLS_pathway` tells the server which pathway is in use. */
function withPathway(url: string, pathway: string | undefined): string {
  if (pathway === undefined) return url;
  try {
    const u = new URL(url);
    u.searchParams.set("_HLS_pathway", pathway);
    return u.href;
  } catch {
    return url;
  }
}
