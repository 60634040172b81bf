/**
 * The `flowsync` command's entry (bundled by scripts/bundle.mjs into dist/cli/main.js): it runs
 * the CLI bundle (dist/cli/flowsync.cjs) through V8's code cache, the way Node 22's
 * module.enableCompileCache() does for modules, which Node 20 lacks. Compiling the bundle's
 * ~2 MB took ~35 ms of every command (a no-change push of 5,000 files to s3rver: ~0.30 s on the
 * 2-core bench machine, 0.25 s with the cache). The first run of a build writes the cache; the
 * next ones start from it.
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
import vm from 'node:vm';
import { defaultCacheDir } from '../util/cache-dir.js';
import { V8_FLAGS_CHANGED } from './heap-growth.js';

/** The bundle's sha256, set by scripts/bundle.mjs (esbuild's `define`). */
declare const FLOWSYNC_BUILD: string;

run(path.join(path.dirname(fileURLToPath(import.meta.url)), 'flowsync.cjs'));

/** In a function, so the cache's bytes and the text are garbage once compiled. */
function run(bundle: string): void {
  const cacheFile = process.env.FLOWSYNC_NO_CODE_CACHE ? null : cacheFileFor(bundle);
  const cachedData = cacheFile ? readQuietly(cacheFile) : undefined;
  // The bundle is one function expression (its banner and footer): the body of a CommonJS module.
  const script = new vm.Script(readSource(bundle), { filename: bundle, ...(cachedData ? { cachedData } : {}) });
  if (cacheFile && (cachedData === undefined || script.cachedDataRejected)) {
    // Soon after the start, so one is saved whatever happens next; again at the end, with every
    // function the command compiled, unless the CLI changed a V8 flag meanwhile (heap-growth.ts):
    // V8 refuses a cache made under other flags than those it starts with.
    setImmediate(() => writeQuietly(cacheFile, script));
    process.once('beforeExit', () => {
      if (!(globalThis as Record<symbol, unknown>)[V8_FLAGS_CHANGED]) writeQuietly(cacheFile, script);
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

function readQuietly(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch {
    return undefined;
  }
}

/** Write the cache (atomically: concurrent first runs each write a whole one) and drop other builds' caches. */
function writeQuietly(file: string, s: vm.Script): void {
  const dir = path.dirname(file);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(tmp, s.createCachedData());
    fs.renameSync(tmp, file);
    for (const name of fs.readdirSync(dir)) {
      if (name.startsWith('cli-') && name !== path.basename(file) && !name.endsWith('.tmp')) fs.rmSync(path.join(dir, name), { force: true });
    }
  } catch {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // an unwritable cache folder: nothing was written
    }
  }
}
