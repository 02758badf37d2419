/**
 * Size benchmark (BENCHMARKS.md item 6): min+gzip bytes of @hivecast/core + @hivecast/hlsjs
 * (hls.js excluded) against p2p-media-loader-core + p2p-media-loader-hlsjs.
 *
 *   npx tsx bench/size/run.ts [--quick] [--no-build] [--budget-kib 30] [--total-budget-kib 49]
 *                             [--out file]
 *
 * Builds both packages (`pnpm --filter … build`; `--quick` reuses an existing dist), then
 * measures, with gzip level 9 (and brotli 11 for reference):
 *  - the IIFE script-tag build as shipped (core bundled, minified by the package build),
 *  - the ESM build as a bundler user gets it: dist/index.js with @hivecast/core and every
 *    dependency bundled in, minified (Vite/Rolldown, hls.js external),
 *  - the same plus the opt-in `@hivecast/core/simple-peer` entry (simple-peer instead of the
 *    built-in RTCPeerConnection transport),
 *  - @hivecast/core alone (all its dependencies bundled),
 *  - p2p-media-loader-core + -hlsjs: their `.es.min.js` files as shipped, and re-bundled and
 *    minified by the same pipeline as ours (hls.js external) for a like-for-like number.
 * What is inside each bundle comes from its source map (minified bytes per package).
 * Sizes are deterministic for a given build, so one measurement is reported (no repetitions).
 * Writes bench/results/size.json. Never fails on a number.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { build, minify } from "vite";
import { Args, defaultOut, machineInfo, printTable, repoRoot, writeResult } from "../lib/cli.js";
import { bytesBySource, packageOf, parseSourceMap } from "../lib/sourcemap.js";

interface Options {
  quick: boolean;
  build: boolean;
  budgetBytes: number;
  totalBudgetBytes: number;
  out: string;
}

function parseOptions(): Options {
  const a = new Args();
  const quick = a.flag("--quick");
  return {
    quick,
    build: !a.flag("--no-build"),
    budgetBytes: Math.round(a.number("--budget-kib", 30, 1) * 1024),
    totalBudgetBytes: Math.round(a.number("--total-budget-kib", 49, 1) * 1024),
    out: a.value("--out") ?? defaultOut("size", quick),
  };
}

/** Sizes of one artifact. */
interface Measured {
  name: string;
  what: string;
  rawBytes: number;
  gzipBytes: number;
  brotliBytes: number;
  /** Minified bytes per package (from the source map), largest first. */
  inside: { pkg: string; bytes: number }[];
  /** Files of a multi-file bundle (entry first loaded; the others on demand). */
  files?: { file: string; entry: boolean; rawBytes: number; gzipBytes: number }[];
}

function measure(name: string, what: string, code: string, map: unknown): Measured {
  const buf = Buffer.from(code);
  let inside: Measured["inside"] = [];
  if (map !== undefined) {
    try {
      const byPkg = new Map<string, number>();
      for (const [src, n] of bytesBySource(code, parseSourceMap(map)))
        byPkg.set(packageOf(src), (byPkg.get(packageOf(src)) ?? 0) + n);
      inside = [...byPkg].map(([pkg, bytes]) => ({ pkg, bytes })).sort((a, b) => b.bytes - a.bytes);
    } catch (e) {
      inside = [{ pkg: `(source map unreadable: ${String(e).slice(0, 80)})`, bytes: 0 }];
    }
  }
  return {
    name,
    what,
    rawBytes: buf.byteLength,
    gzipBytes: gzipSync(buf, { level: 9 }).byteLength,
    brotliBytes: brotliCompressSync(buf, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } })
      .byteLength,
    inside,
  };
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null;
}

/** One output file of a bundle, minified. */
interface Chunk {
  fileName: string;
  /** The entry chunk (loaded up front); others are loaded by dynamic import when needed. */
  isEntry: boolean;
  /** Files this chunk imports statically (they load with it). */
  imports: string[];
  code: string;
  map: unknown;
}

/**
 * Bundles `entry` as minified ES modules in memory: the entry chunk plus any chunk split off
 * at a dynamic `import()`.
 */
async function bundle(entry: string, external: (id: string) => boolean): Promise<Chunk[]> {
  const out: unknown = await build({
    configFile: false,
    logLevel: "silent",
    publicDir: false,
    build: {
      write: false,
      target: "es2022",
      // Vite keeps whitespace when minifying an ES library (to keep pure annotations), so the
      // bundle is minified in a second step with the same minifier (Oxc) as a production app.
      minify: false,
      sourcemap: true,
      lib: { entry, formats: ["es"], fileName: () => "bundle.js" },
      rolldownOptions: { external },
    },
  });
  const chunks: Chunk[] = [];
  const outputs: unknown[] = Array.isArray(out) ? out : [out];
  for (const o of outputs) {
    const items: unknown = isRecord(o) ? o.output : undefined;
    if (!Array.isArray(items)) continue;
    for (const item of items) {
      if (!isRecord(item) || item.type !== "chunk" || typeof item.code !== "string") continue;
      const chunkMap: unknown = item.map;
      const fileName = typeof item.fileName === "string" ? item.fileName : "chunk.js";
      const m = await minify(fileName, item.code, {
        module: true,
        compress: true,
        mangle: true,
        sourcemap: true,
        inputMap: isRecord(chunkMap) ? parseFullMap(chunkMap) : undefined,
      });
      if (m.errors.length > 0)
        throw new Error(`minify: ${m.errors.map((e) => e.message).join("; ")}`);
      const imports = Array.isArray(item.imports)
        ? item.imports.filter((x): x is string => typeof x === "string")
        : [];
      chunks.push({ fileName, isEntry: item.isEntry === true, imports, code: m.code, map: m.map });
    }
  }
  if (!chunks.some((c) => c.isEntry)) throw new Error(`bundle of ${entry}: no entry chunk`);
  // A chunk the entry imports statically (shared with a lazy chunk) loads up front too.
  const upFront = new Set<string>();
  const visit = (c: Chunk): void => {
    if (upFront.has(c.fileName)) return;
    upFront.add(c.fileName);
    for (const f of c.imports) {
      const dep = chunks.find((x) => x.fileName === f);
      if (dep) visit(dep);
    }
  };
  chunks.filter((c) => c.isEntry).forEach(visit);
  return chunks.map((c) => ({ ...c, isEntry: upFront.has(c.fileName) }));
}

/** Sizes of a multi-file bundle: per-file compression (files travel separately), summed. */
function measureChunks(name: string, what: string, chunks: readonly Chunk[]): Measured {
  const parts = chunks.map((c) => ({ chunk: c, m: measure(c.fileName, "", c.code, c.map) }));
  const inside = new Map<string, number>();
  for (const { m } of parts)
    for (const i of m.inside) inside.set(i.pkg, (inside.get(i.pkg) ?? 0) + i.bytes);
  return {
    name,
    what,
    rawBytes: parts.reduce((s, p) => s + p.m.rawBytes, 0),
    gzipBytes: parts.reduce((s, p) => s + p.m.gzipBytes, 0),
    brotliBytes: parts.reduce((s, p) => s + p.m.brotliBytes, 0),
    inside: [...inside].map(([pkg, bytes]) => ({ pkg, bytes })).sort((a, b) => b.bytes - a.bytes),
    files: parts.map(({ chunk, m }) => ({
      file: chunk.isEntry ? "(entry)" : chunk.fileName.replace(/(-[A-Za-z0-9_-]{8})+\.js$/, ".js"),
      entry: chunk.isEntry,
      rawBytes: m.rawBytes,
      gzipBytes: m.gzipBytes,
    })),
  };
}

/**
 * Gzip bytes of what every page loads: the entry chunk and the chunks it imports statically
 * (or the whole artifact when it is one file).
 */
function entryGzip(m: Measured): number {
  const upFront = m.files?.filter((f) => f.entry);
  return upFront && upFront.length > 0 ? upFront.reduce((s, f) => s + f.gzipBytes, 0) : m.gzipBytes;
}

/** A source map object as the minifier wants it (only the fields it reads, validated). */
function parseFullMap(m: Record<string, unknown>): {
  version: number;
  sources: string[];
  sourcesContent: string[];
  names: string[];
  mappings: string;
} {
  const strings = (x: unknown): string[] =>
    Array.isArray(x) ? x.map((v) => (typeof v === "string" ? v : "")) : [];
  return {
    version: 3,
    sources: strings(m.sources),
    sourcesContent: strings(m.sourcesContent),
    names: strings(m.names),
    mappings: typeof m.mappings === "string" ? m.mappings : "",
  };
}

const isHls = (id: string): boolean => id === "hls.js" || id.startsWith("hls.js/");
function run(cmd: string, args: string[]): { ok: boolean; output: string } {
  try {
    const output = execFileSync(cmd, args, {
      cwd: repoRoot,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 300_000,
    });
    return { ok: true, output: output.slice(-2000) };
  } catch (e) {
    const msg = isRecord(e) ? `${String(e.stdout ?? "")}${String(e.stderr ?? "")}` : String(e);
    return { ok: false, output: msg.slice(-2000) };
  }
}

async function main(): Promise<void> {
  const opts = parseOptions();
  const startedAt = new Date().toISOString();
  const coreEntry = `${repoRoot}packages/core/dist/index.js`;
  const simplePeerEntry = `${repoRoot}packages/core/dist/simple-peer.js`;
  const hlsjsEntry = `${repoRoot}packages/hlsjs/dist/index.js`;
  const iife = `${repoRoot}packages/hlsjs/dist/hivecast.iife.js`;

  const builds: { pkg: string; ok: boolean; skipped: boolean; output: string }[] = [];
  for (const [pkg, marker] of [
    ["@hivecast/core", coreEntry],
    ["@hivecast/hlsjs", iife],
  ] as const) {
    if (!opts.build || (opts.quick && existsSync(marker))) {
      builds.push({ pkg, ok: existsSync(marker), skipped: true, output: "" });
      continue;
    }
    const r = run("pnpm", ["--filter", pkg, "build"]);
    builds.push({ pkg, ok: r.ok, skipped: false, output: r.ok ? "" : r.output });
    if (!r.ok)
      console.warn(`size: build of ${pkg} failed (measuring what dist holds):\n${r.output}`);
  }

  const measured: Measured[] = [];
  const gaps: string[] = [];
  const attempt = async (label: string, f: () => Promise<Measured> | Measured): Promise<void> => {
    try {
      measured.push(await f());
    } catch (e) {
      gaps.push(`${label}: ${String(e).slice(0, 300)}`);
    }
  };

  await attempt("hivecast iife", () => {
    const mapPath = `${iife}.map`;
    const map: unknown = existsSync(mapPath)
      ? JSON.parse(readFileSync(mapPath, "utf8"))
      : undefined;
    return measure(
      "hivecast-iife",
      "dist/hivecast.iife.js as shipped (core bundled, minified; hls.js not included)",
      readFileSync(iife, "utf8"),
      map,
    );
  });
  await attempt("hivecast esm", async () =>
    measureChunks(
      "hivecast-esm",
      "hlsjs dist/index.js + core + all dependencies, bundled and minified, all chunks (hls.js external)",
      await bundle(hlsjsEntry, isHls),
    ),
  );
  await attempt("hivecast esm with simple-peer", async () => {
    // What a user opting into `@hivecast/core/simple-peer` ships: the same plus simple-peer.
    const dir = mkdtempSync(join(tmpdir(), "hivecast-size-"));
    try {
      const entry = join(dir, "entry.js");
      writeFileSync(
        entry,
        `export * from ${JSON.stringify(hlsjsEntry)};\n` +
          `export { simplePeerSourceFactory } from ${JSON.stringify(simplePeerEntry)};\n`,
      );
      return measureChunks(
        "hivecast-esm-simple-peer",
        "as hivecast-esm, plus the @hivecast/core/simple-peer entry (simple-peer and what it pulls in)",
        await bundle(entry, isHls),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  await attempt("hivecast core", async () => {
    const chunks = await bundle(coreEntry, () => false);
    return measureChunks(
      "hivecast-core",
      "@hivecast/core alone with its dependencies, bundled and minified, all chunks",
      chunks,
    );
  });
  const beside = (pkg: string, file: string): string =>
    fileURLToPath(new URL(`../dist/${file}`, import.meta.resolve(pkg)));
  await attempt("p2pml shipped", () => {
    const core = readFileSync(
      beside("p2p-media-loader-core", "p2p-media-loader-core.es.min.js"),
      "utf8",
    );
    const hls = readFileSync(
      beside("p2p-media-loader-hlsjs", "p2p-media-loader-hlsjs.es.min.js"),
      "utf8",
    );
    const a = measure(
      "p2pml-core-shipped",
      "p2p-media-loader-core .es.min.js as shipped",
      core,
      undefined,
    );
    const b = measure(
      "p2pml-hlsjs-shipped",
      "p2p-media-loader-hlsjs .es.min.js as shipped",
      hls,
      undefined,
    );
    // Two files on the wire: the pair costs the sum of the two gzips.
    return {
      name: "p2pml-shipped",
      what: "p2p-media-loader-core + -hlsjs .es.min.js as shipped (sum of the two files)",
      rawBytes: a.rawBytes + b.rawBytes,
      gzipBytes: a.gzipBytes + b.gzipBytes,
      brotliBytes: a.brotliBytes + b.brotliBytes,
      inside: [
        { pkg: "p2p-media-loader-core (file)", bytes: a.rawBytes },
        { pkg: "p2p-media-loader-hlsjs (file)", bytes: b.rawBytes },
      ],
    };
  });
  await attempt("p2pml rebundled", async () => {
    const entry = fileURLToPath(import.meta.resolve("p2p-media-loader-hlsjs"));
    return measureChunks(
      "p2pml-esm",
      "p2p-media-loader-hlsjs + core, re-bundled and minified by the same pipeline (hls.js external)",
      await bundle(entry, isHls),
    );
  });

  const by = (n: string): Measured | undefined => measured.find((m) => m.name === n);
  const ours = by("hivecast-esm") ?? by("hivecast-iife");
  const theirs = by("p2pml-esm") ?? by("p2pml-shipped");
  const iifeStat = existsSync(iife) ? statSync(iife) : undefined;
  writeResult(opts.out, {
    bench: "size",
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: await machineInfo(),
    quick: opts.quick,
    compression: { gzipLevel: 9, brotliQuality: 11 },
    builds,
    distBuiltAt: iifeStat ? iifeStat.mtime.toISOString() : null,
    budget: {
      /** Budget of the entry chunk: what every page loads before its first frame. */
      bytes: opts.budgetBytes,
      /** Budget of every chunk together: what a page with P2P and every option loads. */
      totalBytes: opts.totalBudgetBytes,
      artifact: ours?.name ?? null,
      gzipBytes: ours?.gzipBytes ?? null,
      /**
       * The entry chunk (and chunks it imports statically). Lazy chunks (the P2P layer, loaded
       * once P2P starts; the pure-JS SHA-256, fetched only on a page without WebCrypto; content
       * steering) count in `gzipBytes` only.
       */
      entryGzipBytes: ours ? entryGzip(ours) : null,
      met: ours
        ? entryGzip(ours) <= opts.budgetBytes && ours.gzipBytes <= opts.totalBudgetBytes
        : null,
      /** Opting into `@hivecast/core/simple-peer` instead of the built-in WebRTC transport. */
      withSimplePeerGzipBytes: by("hivecast-esm-simple-peer")?.gzipBytes ?? null,
    },
    ratioVsP2pml:
      ours && theirs ? Math.round((ours.gzipBytes / theirs.gzipBytes) * 1000) / 1000 : null,
    artifacts: measured,
    gaps,
  });

  const kib = (n: number): string => (n / 1024).toFixed(1);
  console.log("Bundle sizes (KiB; gzip -9, brotli -q 11; hls.js never included)");
  printTable([
    ["artifact", "min", "min+gzip", "min+brotli"],
    ...measured.map((m) => [m.name, kib(m.rawBytes), kib(m.gzipBytes), kib(m.brotliBytes)]),
  ]);
  console.log("\nInside (minified KiB by package, from source maps):");
  for (const m of measured.filter((x) => x.inside.length > 0 && x.name !== "p2pml-shipped")) {
    const top = m.inside.filter((i) => i.bytes >= 512);
    console.log(`  ${m.name}: ${top.map((i) => `${i.pkg} ${kib(i.bytes)}`).join(", ")}`);
    for (const f of m.files ?? [])
      if (m.files && m.files.length > 1)
        console.log(
          `      file ${f.file}${f.entry ? "" : " (lazy)"}: ${kib(f.rawBytes)} min, ${kib(f.gzipBytes)} gzip`,
        );
  }
  if (ours)
    console.log(
      `\nBudget ${kib(opts.budgetBytes)} KiB min+gzip (${ours.name}, entry chunk): ${kib(entryGzip(ours))} KiB → ${entryGzip(ours) <= opts.budgetBytes ? "within" : "OVER"}; ` +
        `${kib(opts.totalBudgetBytes)} KiB with lazy chunks: ${kib(ours.gzipBytes)} KiB → ${ours.gzipBytes <= opts.totalBudgetBytes ? "within" : "OVER"}` +
        (theirs
          ? `; ${((ours.gzipBytes / theirs.gzipBytes) * 100).toFixed(0)} % of ${theirs.name}`
          : ""),
    );
  for (const g of gaps) console.log(`gap: ${g}`);
  console.log(`wrote ${opts.out}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
