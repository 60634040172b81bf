// Bundle the CLI (dist/src/cli/main.js, compiled by tsc) into dist/cli/flowsync.cjs: one file to
// load instead of a few hundred modules, which takes 100-250 ms off every command's start on a
// 2-core machine. dist/cli/main.js (src/cli/launcher.ts) runs it through V8's code cache.
// CommonJS because only a classic script can be given cached data on Node 20; modules that are
// imported lazily (the S3 SDK, prefect.yaml steps) still run only when first needed.
// The Azure and GCS SDKs stay outside the bundle: they load only for az:// and gs:// remotes, and
// they read files next to their own modules at run time.
import { build } from 'esbuild';
import { isAscii } from 'node:buffer';
import { createHash } from 'node:crypto';
import { chmodSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(root, 'dist', 'cli');
rmSync(outdir, { recursive: true, force: true });
const bundle = path.join(outdir, 'flowsync.cjs');

await build({
  entryPoints: [path.join(root, 'dist', 'src', 'cli', 'main.js')],
  outfile: bundle,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // ES module builds first: esbuild can drop the parts of the AWS SDK that flowsync never calls.
  mainFields: ['module', 'main'],
  sourcemap: true,
  external: ['@google-cloud/storage', '@azure/storage-blob', '@azure/identity'],
  // Lazy import() becomes a lazy require(), for the bundled modules and the external SDKs alike.
  supported: { 'dynamic-import': false },
  // The code finds its package.json from its own location.
  define: { 'import.meta.url': 'importMetaUrl' },
  inject: [path.join(root, 'scripts', 'import-meta-url.mjs')],
  // The file is the body of the function the launcher runs (as Node wraps a CommonJS module):
  // then the launcher compiles the file's text as it is, with no second copy of 2 MB.
  banner: { js: '(function (exports, require, module, __filename, __dirname) {' },
  footer: { js: '})' },
  // ASCII only (strings escaped): the launcher then holds the text as one byte per character.
  charset: 'ascii',
  logLevel: 'warning',
});

const bundleBytes = readFileSync(bundle);
if (!isAscii(bundleBytes)) {
  console.warn('warning: dist/cli/flowsync.cjs is not ASCII (a comment esbuild kept?): the CLI then holds its text at two bytes per character.');
}

const launcher = path.join(outdir, 'main.js');
await build({
  entryPoints: [path.join(root, 'src', 'cli', 'launcher.ts')],
  outfile: launcher,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  define: { FLOWSYNC_BUILD: JSON.stringify(createHash('sha256').update(bundleBytes).digest('hex')) },
  banner: { js: '#!/usr/bin/env node' },
  logLevel: 'warning',
});
chmodSync(launcher, 0o755);
