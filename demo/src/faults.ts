/** Fault injection on the dev origins: `PUT/DELETE <origin>/__faults/<index>`. */

/** Faults an origin can be told to simulate (a partial is merged into its current faults). */
export interface OriginFaults {
  down: boolean;
  statusRate: number;
  status: 403 | 404 | 410 | 429 | 500 | 502 | 503 | 504;
  latencyMs: number;
  /** 0 = unlimited. */
  bandwidthBps: number;
  corruptRate: number;
  truncateRate: number;
  seed: number;
}

/** One fault button. */
export interface FaultPreset {
  id: string;
  label: string;
  /** Longer description for the button's title / accessible name. */
  description: string;
  /** Partial faults to PUT; `null` means reset (DELETE). */
  faults: Partial<OriginFaults> | null;
}

/** The buttons shown for every origin, in order. */
export const FAULT_PRESETS: readonly FaultPreset[] = [
  { id: "kill", label: "Kill", description: "take the origin down", faults: { down: true } },
  {
    id: "5xx",
    label: "5xx 50%",
    description: "answer half the requests with 503",
    faults: { statusRate: 0.5, status: 503 },
  },
  { id: "slow", label: "Slow", description: "add 1500 ms latency", faults: { latencyMs: 1500 } },
  {
    id: "cap",
    label: "Cap 100 KB/s",
    description: "cap bandwidth at 100 KB/s",
    faults: { bandwidthBps: 100 * 1024 },
  },
  {
    id: "corrupt",
    label: "Corrupt",
    description: "flip bytes in half the responses",
    faults: { corruptRate: 0.5 },
  },
  {
    id: "truncate",
    label: "Truncate",
    description: "cut half the responses short",
    faults: { truncateRate: 0.5 },
  },
  { id: "reset", label: "Reset", description: "clear every fault", faults: null },
];

/** Thrown when no origin accepted the fault change. */
export class FaultControlError extends Error {
  override readonly name = "FaultControlError";
}

/**
 * Applies a preset to origin `index`. Any origin can control any origin, so when the target
 * itself is down (or answers badly) the request is retried through the others.
 */
export async function applyFault(
  origins: readonly string[],
  index: number,
  faults: Partial<OriginFaults> | null,
): Promise<void> {
  const order = [index, ...origins.keys()].filter((v, i, a) => a.indexOf(v) === i);
  let last = "no origin";
  for (const via of order) {
    const base = origins[via];
    if (base === undefined) continue;
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), 3000);
    try {
      const res = await fetch(new URL(`__faults/${index}`, base), {
        method: faults === null ? "DELETE" : "PUT",
        headers: faults === null ? {} : { "content-type": "application/json" },
        body: faults === null ? null : JSON.stringify(faults),
        signal: ctrl.signal,
        cache: "no-store",
      });
      if (res.ok) return;
      last = `HTTP ${res.status} from origin ${via}`;
    } catch (e) {
      last = `origin ${via}: ${e instanceof Error ? e.message : String(e)}`;
    } finally {
      clearTimeout(timer);
    }
  }
  throw new FaultControlError(`could not change faults of origin ${index} (${last})`);
}

const FAULT_KEYS = [
  "down",
  "statusRate",
  "status",
  "latencyMs",
  "bandwidthBps",
  "corruptRate",
  "truncateRate",
] as const;

/** Short human labels for the faults currently active in an untrusted `GET /__faults` answer. */
export function describeFaults(json: unknown): string[] {
  if (typeof json !== "object" || json === null) return [];
  // The answer may be the faults object itself or wrap it as { faults: {...} }.
  const raw = "faults" in json && typeof json.faults === "object" ? json.faults : json;
  if (typeof raw !== "object" || raw === null) return [];
  const entries = new Map<string, unknown>(Object.entries(raw));
  const f = new Map<string, unknown>();
  for (const k of FAULT_KEYS) if (entries.has(k)) f.set(k, entries.get(k));
  const num = (k: string): number => {
    const v = f.get(k);
    return typeof v === "number" && Number.isFinite(v) ? v : 0;
  };
  const out: string[] = [];
  if (f.get("down") === true) out.push("down");
  if (num("statusRate") > 0)
    out.push(`${Math.round(num("statusRate") * 100)}% ${num("status") || "5xx"}`);
  if (num("latencyMs") > 0) out.push(`+${num("latencyMs")} ms`);
  if (num("bandwidthBps") > 0) out.push(`${Math.round(num("bandwidthBps") / 1024)} KB/s`);
  if (num("corruptRate") > 0) out.push(`corrupt ${Math.round(num("corruptRate") * 100)}%`);
  if (num("truncateRate") > 0) out.push(`truncate ${Math.round(num("truncateRate") * 100)}%`);
  return out;
}

/** Reads origin `index`'s active faults (through any origin that answers). */
export async function readFaults(
  origins: readonly string[],
  index: number,
): Promise<string[] | null> {
  const order = [index, ...origins.keys()].filter((v, i, a) => a.indexOf(v) === i);
  for (const via of order) {
    const base = origins[via];
    if (base === undefined) continue;
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), 2000);
    try {
      const res = await fetch(new URL(`__faults/${index}`, base), {
        cache: "no-store",
        signal: ctrl.signal,
      });
      if (res.ok) return describeFaults(await res.json());
    } catch {
      // try the next origin
    } finally {
      clearTimeout(timer);
    }
  }
  return null;
}
