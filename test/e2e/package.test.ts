/**
 * What the npm package gives users (issue 14): the tarball holds only what they run (the bundled
 * CLI, the library's JavaScript and type declarations, the README) — no bench/, test/ or source
 * maps; the package is ESM-only, and CommonJS code loads it with `await import('flowsync')`
 * (README); the AWS SDK's Node-version warning stays out of a library user's output while real
 * warnings still print. Against s3rver, from a CommonJS script that resolves 'flowsync' as an
 * installed package would (node_modules/flowsync → this repository).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import type { AzureOptions, GcsOptions, RemoteOptions, S3Options } from '../../src/index.js';
import { S3RVER_ACCESS_KEY_ID, S3RVER_SECRET_ACCESS_KEY, startS3rver, type S3rverServer } from '../servers/s3rver.js';
import { removeDir, repoRoot, requireBuiltCli, tempDir } from './support.js';

interface PackFile {
  path: string;
}

let work = '';
let s3: S3rverServer;
beforeAll(async () => {
  requireBuiltCli();
  work = tempDir('package');
  s3 = await startS3rver({ buckets: ['lib'] });
}, 60_000);
afterAll(async () => {
  await s3?.stop();
  removeDir(work);
});

describe('npm pack', () => {
  it('ships only what users run', () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const files = (JSON.parse(out) as Array<{ files: PackFile[] }>)[0]!.files.map((f) => f.path);
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { bin: Record<string, string>; exports: Record<string, Record<string, string>> };
    for (const f of files) {
      expect(f, f).toMatch(/^(README\.md|package\.json|dist\/cli\/[^/]+\.c?js|dist\/src\/.+\.(js|d\.ts))$/);
      expect(f).not.toMatch(/\.map$|^dist\/(bench|test)\/|^(bench|test|src|fixtures|scripts)\/|^dist\/src\/cli\//);
    }
    // Everything package.json points at is in it.
    for (const target of [...Object.values(pkg.bin), pkg.exports['.']!['import']!, pkg.exports['.']!['types']!]) {
      expect(files).toContain(target.replace(/^\.\//, ''));
    }
    // The bin is the launcher; the CLI itself is the bundle beside it.
    expect(files).toContain('dist/cli/flowsync.cjs');
    expect(files).toContain('README.md');
  });
});

describe('types', () => {
  it('the per-cloud option types are exported, and RemoteOptions takes them', () => {
    const dts = fs.readFileSync(path.join(repoRoot, 'dist', 'src', 'index.d.ts'), 'utf8');
    for (const name of ['S3Options', 'AzureOptions', 'GcsOptions', 'LocalBackendOptions', 'RemoteOptions']) expect(dts).toMatch(new RegExp(`\\b${name}\\b`));
    // Compiled with the test files (tsc --noEmit -p .): a misspelt key would not compile.
    const s3: S3Options = { region: 'us-east-1', forcePathStyle: true };
    const azure: AzureOptions = { connectionString: 'UseDevelopmentStorage=true' };
    const gcs: GcsOptions = { projectId: 'p' };
    const options: RemoteOptions = { s3, azure, gcs };
    expectTypeOf(options.s3).toEqualTypeOf<S3Options | undefined>();
    expect(Object.keys(options)).toEqual(['s3', 'azure', 'gcs']);
  });
});

describe('the library from CommonJS', () => {
  it("require() fails with Node's message; await import() works; no AWS SDK Node-version warning, real warnings still print", () => {
    const app = path.join(work, 'app');
    fs.mkdirSync(path.join(app, 'node_modules'), { recursive: true });
    fs.symlinkSync(repoRoot, path.join(app, 'node_modules', 'flowsync'), 'dir');
    fs.mkdirSync(path.join(app, 'flows'));
    fs.writeFileSync(path.join(app, 'flows', 'etl.py'), 'print(1)\n');
    fs.writeFileSync(
      path.join(app, 'main.cjs'),
      `
let requireError = '';
try { require('flowsync'); } catch (err) { requireError = err.code; }
(async () => {
  const { push } = await import('flowsync');
  const r = await push({
    dir: 'flows',
    remote: 's3://lib/etl',
    cacheDir: false,
    remoteOptions: { s3: { endpoint: process.env.S3_ENDPOINT, region: 'us-east-1', forcePathStyle: true,
      credentials: { accessKeyId: '${S3RVER_ACCESS_KEY_ID}', secretAccessKey: '${S3RVER_SECRET_ACCESS_KEY}' } } },
  });
  process.emitWarning('a real warning from the app');
  console.log(JSON.stringify({ requireError, uploaded: r.uploaded, switchLeft: process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ?? null }));
})().catch((err) => { console.error(err); process.exit(1); });
`,
    );
    const env: NodeJS.ProcessEnv = { ...process.env, S3_ENDPOINT: s3.endpoint };
    delete env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
    delete env.NODE_OPTIONS;
    const r = spawnSync(process.execPath, ['main.cjs'], { cwd: app, env, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ requireError: 'ERR_PACKAGE_PATH_NOT_EXPORTED', uploaded: 1, switchLeft: null });
    expect(r.stderr).not.toMatch(/NodeVersionSupportWarning/);
    expect(r.stderr).toMatch(/Warning: a real warning from the app/);

    // The check can fail: the same SDK, used directly, does warn on this Node.
    const major = Number(process.versions.node.split('.')[0]);
    if (major < 22) {
      fs.writeFileSync(path.join(app, 'direct.mjs'), `import { S3Client } from '@aws-sdk/client-s3'; new S3Client({ region: 'us-east-1' });\n`);
      fs.symlinkSync(path.join(repoRoot, 'node_modules', '@aws-sdk'), path.join(app, 'node_modules', '@aws-sdk'), 'dir');
      const direct = spawnSync(process.execPath, ['direct.mjs'], { cwd: app, env, encoding: 'utf8' });
      expect(direct.stderr).toMatch(/NodeVersionSupportWarning/);
    }
  });
});
