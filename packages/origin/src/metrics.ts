import { lstat, readdir, statfs } from "node:fs/promises";
import { join } from "node:path";
import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";

const DIR_SCAN_TTL_MS = 10_000;

async function directoryBytes(dir: string): Promise<{ bytes: number; files: number }> {
  let bytes = 0;
  let files = 0;
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop();
    if (d === undefined) break;
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) {
        try {
          bytes += (await lstat(p)).size;
          files++;
        } catch {
          // vanished meanwhile
        }
      }
    }
  }
  return { bytes, files };
}

/** Prometheus metrics of one origin cluster (one `Registry` per cluster). */
export class OriginMetrics {
  /** The cluster's registry, served at `/metrics` by every origin. */
  readonly registry = new Registry();
  /** Requests by origin index, method and status (`reset` when no response was sent). */
  readonly requests: Counter<"origin" | "method" | "status">;
  /** Response body bytes written, by origin index and status. */
  readonly bytes: Counter<"origin" | "status">;
  /** Error responses (status ≥ 400, `reset`, `truncated`) by origin index and status. */
  readonly errors: Counter<"origin" | "status">;
  /** Injected faults by origin index and kind. */
  readonly faults: Counter<"origin" | "kind">;
  private scan: { at: number; value: Promise<{ bytes: number; files: number }> } | undefined;

  /** @param dir - the directory served, whose disk usage is reported */
  constructor(private readonly dir: string) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: "hivecast_origin_requests_total",
      help: "HTTP requests handled, by origin index, method and status (reset = no response)",
      labelNames: ["origin", "method", "status"] as const,
      registers,
    });
    this.bytes = new Counter({
      name: "hivecast_origin_response_bytes_total",
      help: "Response body bytes written, by origin index and status",
      labelNames: ["origin", "status"] as const,
      registers,
    });
    this.errors = new Counter({
      name: "hivecast_origin_errors_total",
      help: "Failed responses by origin index and status (>= 400, reset, truncated)",
      labelNames: ["origin", "status"] as const,
      registers,
    });
    this.faults = new Counter({
      name: "hivecast_origin_faults_injected_total",
      help: "Injected faults by origin index and kind",
      labelNames: ["origin", "kind"] as const,
      registers,
    });
    const scanDir = () => this.scanDir();
    new Gauge({
      name: "hivecast_origin_dir_bytes",
      help: "Total bytes of the files in the served directory",
      registers,
      async collect() {
        this.set((await scanDir()).bytes);
      },
    });
    new Gauge({
      name: "hivecast_origin_dir_files",
      help: "Number of files in the served directory",
      registers,
      async collect() {
        this.set((await scanDir()).files);
      },
    });
    new Gauge({
      name: "hivecast_origin_disk_free_bytes",
      help: "Free bytes (available to this user) on the file system of the served directory",
      registers,
      async collect() {
        const s = await statfs(dir);
        this.set(s.bavail * s.bsize);
      },
    });
    new Gauge({
      name: "hivecast_origin_disk_size_bytes",
      help: "Total bytes of the file system of the served directory",
      registers,
      async collect() {
        const s = await statfs(dir);
        this.set(s.blocks * s.bsize);
      },
    });
  }

  private scanDir(): Promise<{ bytes: number; files: number }> {
    const now = Date.now();
    if (!this.scan || now - this.scan.at > DIR_SCAN_TTL_MS) {
      this.scan = { at: now, value: directoryBytes(this.dir) };
    }
    return this.scan.value;
  }
}
