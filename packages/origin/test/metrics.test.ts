import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startOrigins, type OriginCluster } from "../src/index.js";
import { FIXTURE_DIR, json, rawRequest } from "./helpers.js";

let cluster: OriginCluster;

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += await dirBytes(p);
    else if (e.isFile()) total += (await stat(p)).size;
  }
  return total;
}

function metricValue(text: string, name: string, labels = ""): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

beforeAll(async () => {
  cluster = await startOrigins({ dir: FIXTURE_DIR, origins: 2 });
});
afterAll(() => cluster.close());

describe("/healthz and /metrics", () => {
  it("/healthz answers 200 JSON with the origin index", async () => {
    const r = await rawRequest(cluster.urls[1] ?? "", "/healthz");
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("application/json");
    expect(json(r)).toMatchObject({ status: "ok", origin: 1 });
  });

  it("exposes request, byte, error, fault, disk and process metrics", async () => {
    const a = cluster.urls[0] ?? "";
    const b = cluster.urls[1] ?? "";
    const seg = await rawRequest(a, "/v0/seg_000.m4s");
    await rawRequest(a, "/nope.m4s");
    cluster.setFaults(1, { statusRate: 1, status: 502 });
    await rawRequest(b, "/master.m3u8");
    cluster.setFaults(1, { down: true });
    await rawRequest(b, "/master.m3u8");
    cluster.resetFaults(1);

    const r = await rawRequest(b, "/metrics");
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toContain("text/plain");
    const text = r.body.toString("utf8");
    for (const name of [
      "hivecast_origin_requests_total",
      "hivecast_origin_response_bytes_total",
      "hivecast_origin_errors_total",
      "hivecast_origin_faults_injected_total",
      "hivecast_origin_dir_bytes",
      "hivecast_origin_dir_files",
      "hivecast_origin_disk_free_bytes",
      "hivecast_origin_disk_size_bytes",
      "process_cpu_user_seconds_total",
      "process_resident_memory_bytes",
      "nodejs_heap_size_used_bytes",
    ]) {
      expect(text, name).toContain(`# TYPE ${name} `);
    }
    expect(
      metricValue(text, "hivecast_origin_requests_total", '{origin="0",method="GET",status="200"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(
      metricValue(text, "hivecast_origin_response_bytes_total", '{origin="0",status="200"}'),
    ).toBeGreaterThanOrEqual(seg.body.length);
    expect(metricValue(text, "hivecast_origin_errors_total", '{origin="0",status="404"}')).toBe(1);
    expect(metricValue(text, "hivecast_origin_errors_total", '{origin="1",status="502"}')).toBe(1);
    expect(metricValue(text, "hivecast_origin_errors_total", '{origin="1",status="reset"}')).toBe(
      1,
    );
    expect(
      metricValue(text, "hivecast_origin_faults_injected_total", '{origin="1",kind="down"}'),
    ).toBe(1);
    expect(metricValue(text, "hivecast_origin_dir_bytes")).toBe(await dirBytes(FIXTURE_DIR));
    expect(metricValue(text, "hivecast_origin_disk_free_bytes")).toBeGreaterThan(0);
  });

  it("each cluster has its own registry", async () => {
    const other = await startOrigins({ dir: FIXTURE_DIR, origins: 1 });
    try {
      const r = await rawRequest(other.urls[0] ?? "", "/metrics");
      const text = r.body.toString("utf8");
      expect(text).toContain("# TYPE hivecast_origin_requests_total counter");
      expect(text).not.toContain('status="404"');
    } finally {
      await other.close();
    }
  });
});
