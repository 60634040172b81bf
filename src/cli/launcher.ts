/**
 * The `flowsync` command's entry (bundled by scripts/bundle.mjs into dist/cli/main.js): it runs
 * the CLI bundle (dist/cli/flowsync.cjs) through V8's code cache, the way Node 22's
 * module.enableCompileCache() does for modules, which Node 20 lacks. Compiling the bundle's
 * ~2 MB took ~35 ms of every command, and the functions a command runs more (a no-change push
 * of 5,000 files to s3rver on the 2-core bench machine: ≈ 0.31 s, ≈ 0.26 s with the cache).
 * The first run of a build writes the cache; the next ones start from it.
 *
 * The cache lives in `<cache dir>/code/` (FLOWSYNC_CACHE_DIR as elsewhere), named by the build
 * (the bundle's sha256, set at bundle time), its size and mtime and the Node version, so a
 * rebuilt or patched bundle never meets an old cache; V8 itself refuses data from another
 * V8 version or other flags (then it is written again). It is only a speed-up: a cache that
 * cannot be read or written is ignored, and FLOWSYNC_NO_CODE_CACHE=1 turns it off.
 */
import { isAscii } from 'node:buffer';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { defaultCacheDir } from '../util/cache-dir.js';
import { V8_FLAGS_CHANGED } from './heap-growth.js';

/** The bundle's sha256, set by scripts/bundle.mjs (esbuild's `define`). */
declare const FLOWSYNC_BUILD: string;

run(path.join(path.dirname(fileURLToPath(import.meta.url)), 'flowsync.cjs'));

/** In a function, so the cache's bytes are garbage once compiled. */
function run(bundle: string): void {
  const full = process.env.FLOWSYNC_NO_CODE_CACHE ? null : cacheFileFor(bundle);
  // V8 drops the bytecode of functions not run for a while; the cache saved at the end of a
  // long command would then miss them. Set before compiling, so that every run compiles, saves
  // and checks its cache under the same flags.
  if (full) v8.setFlagsFromString('--no-flush-bytecode');
  const early = full && `${full}.early`;
  const found = full ? (readQuietly(full) ?? readQuietly(early!)) : undefined;
  // The bundle is one function expression (its banner and footer): the body of a CommonJS module.
  const script = new vm.Script(readSource(bundle), { filename: bundle, ...(found ? { cachedData: found.data } : {}) });
  const usable = found !== undefined && !script.cachedDataRejected;
  if (full && !(usable && found.file === full)) {
    // The full cache is saved at the end, with every function the command compiled, unless the
    // CLI changed a V8 flag meanwhile (heap-growth.ts: V8 refuses a cache made under other flags
    // than those it starts with). So that a command on a big tree, which does change them, still
    // leaves one, an early cache is saved soon after the start, to be used until a full one exists.
    if (!usable) setImmediate(() => writeQuietly(early!, script));
    process.once('beforeExit', () => {
      if (!(globalThis as Record<symbol, unknown>)[V8_FLAGS_CHANGED]) writeQuietly(full, script);
    });
  }
  const mod = { exports: {} };
  (script.runInThisContext() as (...args: unknown[]) => void)(mod.exports, createRequire(bundle), mod, bundle, path.dirname(bundle));
}

/** The bundle's text; ASCII as latin1, which V8 keeps at one byte per character (UTF-8 text would take two). */
function readSource(file: string): string {
  const bytes = fs.readFileSync(file);
  return bytes.toString(isAscii(bytes) ? 'latin1' : 'utf8');
}

function cacheFileFor(file: string): string | null {
  try {
    const st = fs.statSync(file);
    const key = createHash('sha256').update(`${FLOWSYNC_BUILD} ${st.size} ${st.mtimeMs} ${process.version} ${process.arch}`).digest('hex').slice(0, 32);
    return path.join(defaultCacheDir(), 'code', `cli-${key}.bin`);
  } catch {
    return null;
  }
}

function readQuietly(file: string): { file: string; data: Buffer } | undefined {
  try {
    return { file, data: fs.readFileSync(file) };
  } catch {
    return undefined;
  }
}

/** Other builds' caches go once unused this long (two installs used in turn keep both). */
const OTHER_BUILD_KEPT_MS = 7 * 24 * 3600 * 1000;

/** Write the cache (atomically: concurrent first runs each write a whole one); drop old caches of other builds. */
function writeQuietly(file: string, s: vm.Script): void {
  const dir = path.dirname(file);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(tmp, s.createCachedData());
    fs.renameSync(tmp, file);
    if (file.endsWith('.early')) return;
    fs.rmSync(`${file}.early`, { force: true });
    for (const name of fs.readdirSync(dir)) {
      const other = path.join(dir, name);
      if (!name.startsWith(path.basename(file)) && Date.now() - fs.statSync(other).mtimeMs > OTHER_BUILD_KEPT_MS) fs.rmSync(other, { force: true });
    }
  } catch {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // an unwritable cache folder: nothing was written
    }
  }
}
