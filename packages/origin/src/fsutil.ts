import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, readFile, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { OriginError } from "./errors.js";
import type { ByteRange } from "./playlist.js";

/**
 * SHA-256 (lowercase hex) of a file or of `range` within it, streamed.
 * @throws OriginError `io` if the file is missing or shorter than the range.
 */
export async function sha256File(path: string, range?: ByteRange): Promise<string> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    throw new OriginError("io", `cannot read ${path}`, undefined, { cause: err });
  }
  if (range && range.offset + range.length > size) {
    throw new OriginError("io", `byte range ${range.length}@${range.offset} beyond end of ${path}`);
  }
  const hash = createHash("sha256");
  if (range && range.length === 0) return hash.digest("hex");
  const stream = createReadStream(
    path,
    range ? { start: range.offset, end: range.offset + range.length - 1 } : {},
  );
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * Writes `data` to `path` atomically: a temp file in the same directory, fsync, rename.
 * Skips the write when the file already holds exactly `data`.
 * @returns whether the file changed
 */
export async function writeFileAtomic(path: string, data: string): Promise<boolean> {
  try {
    if ((await readFile(path, "utf8")) === data) return false;
  } catch {
    // missing: write it
  }
  const tmp = join(
    dirname(path),
    `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`,
  );
  try {
    const fh = await open(tmp, "wx", 0o644);
    try {
      await fh.writeFile(data, "utf8");
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new OriginError("io", `cannot write ${path}: ${String(err)}`, undefined, { cause: err });
  }
  return true;
}
