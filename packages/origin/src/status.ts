/** One sample of Prometheus text exposition. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text format (samples only; comments and malformed lines skipped). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m?.[1] || m[4] === undefined) continue;
    const labels: Record<string, string> = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    for (let l = re.exec(m[3] ?? ""); l !== null; l = re.exec(m[3] ?? "")) {
      if (l[1] !== undefined) labels[l[1]] = (l[2] ?? "").replace(/\\(.)/g, "$1");
    }
    const value = Number(m[4]);
    if (Number.isFinite(value) || m[4] === "+Inf" || m[4] === "NaN") {
      out.push({ name: m[1], labels, value });
    }
  }
  return out;
}

function bytes(n: number): string {
  if (n < 0) return "n/a";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** A one-screen operator summary of a packager's or origin's `/metrics` text. */
export function formatStatus(text: string, source: string): string {
  const s = parseMetrics(text);
  const one = (name: string) => s.find((x) => x.name === name)?.value;
  const all = (name: string) => s.filter((x) => x.name === name);
  const sum = (name: string) => all(name).reduce((a, x) => a + x.value, 0);
  const lines = [`status of ${source}`];
  const cpu = one("process_cpu_seconds_total");
  const rss = one("process_resident_memory_bytes");
  const up = one("process_start_time_seconds");
  lines.push(
    `process   cpu ${cpu === undefined ? "n/a" : `${cpu.toFixed(1)} s`}, memory ${rss === undefined ? "n/a" : bytes(rss)}, up ${up === undefined ? "n/a" : `${Math.round(Date.now() / 1000 - up)} s`}`,
  );
  if (s.some((x) => x.name.startsWith("hivecast_packager_"))) {
    const age = one("hivecast_packager_last_segment_age_seconds");
    lines.push(
      `packager  last segment ${age === undefined || age < 0 ? "none yet" : `${age.toFixed(1)} s ago`}, recordings ${one("hivecast_packager_recordings_total") ?? 0}, ffmpeg failures ${one("hivecast_packager_ffmpeg_failures_total") ?? 0}`,
    );
    const mirrors = new Set(all("hivecast_packager_disk_free_bytes").map((x) => x.labels.mirror));
    for (const m of mirrors) {
      const pick = (name: string) => all(name).find((x) => x.labels.mirror === m)?.value ?? 0;
      lines.push(
        `mirror    ${m}: ${pick("hivecast_packager_segments_published_total")} segments, ${bytes(pick("hivecast_packager_bytes_written_total"))} written, lag ${pick("hivecast_packager_mirror_lag_segments")}, disk free ${bytes(pick("hivecast_packager_disk_free_bytes"))}`,
      );
    }
  }
  if (s.some((x) => x.name.startsWith("hivecast_origin_"))) {
    const req = sum("hivecast_origin_requests_total");
    const err = sum("hivecast_origin_errors_total");
    lines.push(
      `origin    ${req} requests, ${err} errors (${req > 0 ? ((100 * err) / req).toFixed(2) : "0.00"} %), ${bytes(sum("hivecast_origin_response_bytes_total"))} sent`,
    );
    lines.push(
      `disk      ${bytes(one("hivecast_origin_dir_bytes") ?? -1)} in ${one("hivecast_origin_dir_files") ?? 0} files, ${bytes(one("hivecast_origin_disk_free_bytes") ?? -1)} free`,
    );
  }
  return `${lines.join("\n")}\n`;
}
