/**
 * Attributes the bytes of a generated (minified) file to its sources through its source map, so a
 * size report can say what is inside a bundle. Bytes not covered by any mapping count as
 * "(unmapped)" (bundler runtime, wrappers).
 */

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_VALUE = new Map([...B64].map((c, i) => [c, i]));

/** Decodes one base64-VLQ field list ("AAgBC") into numbers. */
function decodeVlq(segment: string): number[] {
  const out: number[] = [];
  let value = 0;
  let shift = 0;
  for (const ch of segment) {
    const digit = B64_VALUE.get(ch);
    if (digit === undefined) throw new Error(`source map: bad VLQ character ${ch}`);
    value += (digit & 31) << shift;
    if (digit & 32) {
      shift += 5;
    } else {
      out.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return out;
}

/** The fields of a source map this module reads, validated. */
export interface SourceMapLite {
  sources: string[];
  mappings: string;
}

/** Validates parsed JSON as a source map (v3, `sources` + `mappings`). */
export function parseSourceMap(x: unknown): SourceMapLite {
  if (typeof x !== "object" || x === null) throw new Error("source map: not an object");
  const sources: unknown = Reflect.get(x, "sources");
  const mappings: unknown = Reflect.get(x, "mappings");
  if (
    !Array.isArray(sources) ||
    !sources.every((s) => typeof s === "string") ||
    typeof mappings !== "string"
  )
    throw new Error("source map: missing sources or mappings");
  return { sources: sources.filter((s): s is string => typeof s === "string"), mappings };
}

/**
 * Characters of `code` per source file: each mapped segment owns the characters up to the next
 * segment on its line (or the line end). Character counts equal byte counts for ASCII output,
 * which minified bundles are, nearly always.
 */
export function bytesBySource(code: string, map: SourceMapLite): Map<string, number> {
  const lines = code.split("\n");
  const mapLines = map.mappings.split(";");
  const out = new Map<string, number>();
  const add = (k: string, n: number): void => {
    if (n > 0) out.set(k, (out.get(k) ?? 0) + n);
  };
  let source = 0;
  lines.forEach((line, li) => {
    const segs = (mapLines[li] ?? "").split(",").filter((s) => s.length > 0);
    let col = 0;
    const cuts: { col: number; source: number | null }[] = [];
    for (const s of segs) {
      const f = decodeVlq(s);
      col += f[0] ?? 0;
      if (f.length >= 4) {
        source += f[1] ?? 0;
        cuts.push({ col, source });
      } else {
        cuts.push({ col, source: null });
      }
    }
    let prevEnd = 0;
    cuts.forEach((c, i) => {
      if (i === 0) add("(unmapped)", c.col);
      const end = cuts[i + 1]?.col ?? line.length;
      add(c.source === null ? "(unmapped)" : (map.sources[c.source] ?? "(unknown)"), end - c.col);
      prevEnd = end;
    });
    if (cuts.length === 0) add("(unmapped)", line.length);
    else add("(unmapped)", line.length - prevEnd);
    add("(unmapped)", 1); // the newline
  });
  return out;
}

/** Groups a source path into a package label: npm package name, or the workspace package. */
export function packageOf(source: string): string {
  const nm = source.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const rest = source.slice(nm + "node_modules/".length).split("/");
    return rest[0]?.startsWith("@") ? `${rest[0]}/${rest[1] ?? ""}` : (rest[0] ?? source);
  }
  if (/(^|\/)core\/(src|dist)\//.test(source)) return "@hivecast/core (own code)";
  if (/(^|\/)hlsjs\/(src|dist)\//.test(source) || /^\.\.\/src\//.test(source))
    return "@hivecast/hlsjs (own code)";
  if (source.startsWith("(")) return source;
  return source.includes("rolldown") ? "(bundler runtime)" : source;
}
