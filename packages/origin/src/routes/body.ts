import type { ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import type { Resource } from "../resources.js";
import type { OriginState, RequestContext } from "./context.js";

const THROTTLE_TICK_MS = 50;

/** Flips bytes of `chunk` (a copy) at body offsets ≡ 511 (mod 1024), or the middle of tiny bodies. */
function corruptChunk(chunk: Buffer, bodyOffset: number, bodyLength: number): Buffer {
  const out = Buffer.from(chunk);
  if (bodyLength <= 511) {
    const p = Math.floor(bodyLength / 2) - bodyOffset;
    if (p >= 0 && p < out.length) out[p] = (out[p] ?? 0) ^ 0xff;
    return out;
  }
  let p = bodyOffset + ((511 - (bodyOffset % 1024) + 1024) % 1024);
  for (; p < bodyOffset + out.length; p += 1024) {
    const i = p - bodyOffset;
    out[i] = (out[i] ?? 0) ^ 0xff;
  }
  return out;
}

function waitDrain(res: ServerResponse, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    res.on("drain", done);
    signal.addEventListener("abort", done);
  });
}

/**
 * Streams `resource` bytes `start..end` to `res` under the origin's bandwidth cap, optionally
 * corrupted, or cut at `truncateAt` (then the socket is destroyed mid-body).
 */
export async function sendBody(
  self: OriginState,
  res: ServerResponse,
  resource: Resource,
  start: number,
  end: number,
  corrupt: boolean,
  truncateAt: number | undefined,
  ctx: RequestContext,
  signal: AbortSignal,
) {
  const length = end - start + 1;
  const stream = resource.open(start, end);
  const bucket = self.bucket;
  let sent = 0;
  try {
    for await (const piece of stream) {
      let chunk = Buffer.isBuffer(piece) ? piece : Buffer.from(String(piece));
      if (corrupt) chunk = corruptChunk(chunk, sent, length);
      if (truncateAt !== undefined && sent + chunk.length > truncateAt) {
        chunk = chunk.subarray(0, truncateAt - sent);
      }
      let off = 0;
      while (off < chunk.length) {
        let n = chunk.length - off;
        const bps = self.faults.bandwidthBps;
        if (bps > 0) {
          for (;;) {
            const now = performance.now();
            const burst = Math.max(1, (bps * THROTTLE_TICK_MS * 2) / 1000);
            bucket.credit = Math.min(bucket.credit + ((now - bucket.last) * bps) / 1000, burst);
            bucket.last = now;
            if (bucket.credit >= 1) break;
            await sleep(THROTTLE_TICK_MS, undefined, { signal });
          }
          n = Math.min(n, Math.floor(bucket.credit));
          bucket.credit -= n;
        }
        const ok = res.write(chunk.subarray(off, off + n));
        off += n;
        sent += n;
        ctx.bytes += n;
        if (!ok) await waitDrain(res, signal);
        if (signal.aborted) return;
      }
      if (truncateAt !== undefined && sent >= truncateAt) break;
    }
  } catch (err) {
    if (signal.aborted) return;
    throw err;
  } finally {
    stream.destroy();
  }
  if (truncateAt !== undefined) {
    ctx.truncated = true;
    // Let what was written reach the socket, then cut the connection mid-body.
    await new Promise<void>((resolve) => {
      res.write("", () => resolve());
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
    res.destroy();
    return;
  }
  res.end();
}
