/**
 * The CLI round trip on every backend, each against its real local server: s3rver, Azurite, the
 * in-repo GCS emulator and the local store. Same tree, same steps, same expected counts — and
 * the counts of every backend must agree with each other. Also: a folder pushed by Prefect's own
 * steps (objects, no manifest) pulls as Prefect's pull would, and the three classic setup
 * mistakes (wrong key, missing bucket, unreachable endpoint) fail fast with a one-line cause.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAzureBackend } from '../../src/backends/azure/backend.js';
import { createGcsBackend } from '../../src/backends/gcs/backend.js';
import { createS3Backend } from '../../src/backends/s3/backend.js';
import type { Backend } from '../../src/backends/types.js';
import { compareTrees, excludeFlowsyncState, generateTree, type GeneratedTree } from '../helpers/tree.js';
import { startAzurite, type AzuriteServer } from '../servers/azurite.js';
import { startGcs, type GcsEmulator } from '../servers/gcs.js';
import { startS3rver, type S3rverServer } from '../servers/s3rver.js';
import { cliEnv, removeDir, requireBuiltCli, runCli, tempDir } from './support.js';

const BUCKET = 'flows';
// Big enough to go up in parts on every cloud backend (their multipart threshold is 16 MiB).
const BIG_FILE = 24 * 1024 * 1024;
const FILES = 1200;

interface Target {
  name: string;
  remote: (folder: string) => string;
  env: NodeJS.ProcessEnv;
  /** A backend on the same bucket, to put objects the way Prefect's own steps do. */
  backend?: () => Backend;
}

let work: string;
let src: string;
let tree: GeneratedTree;
let s3: S3rverServer;
let azurite: AzuriteServer;
let gcs: GcsEmulator;
const targets: Target[] = [];
const counts = new Map<string, unknown[]>();

beforeAll(async () => {
  requireBuiltCli();
  work = tempDir('backends');
  src = path.join(work, 'src');
  [tree, s3, azurite, gcs] = await Promise.all([
    generateTree(src, { seed: 7, files: FILES, bigFileBytes: BIG_FILE }),
    startS3rver({ buckets: [BUCKET] }),
    startAzurite({ containers: [BUCKET] }),
    startGcs({ buckets: [BUCKET] }),
  ]);
  targets.push(
    { name: 'local', remote: (f) => path.join(work, 'store', f), env: {} },
    {
      name: 's3',
      remote: (f) => `s3://${BUCKET}/${f}`,
      env: s3.env,
      backend: () => createS3Backend({ bucket: BUCKET, endpoint: s3.endpoint, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } }),
    },
    {
      name: 'azure',
      remote: (f) => `az://${BUCKET}/${f}`,
      env: azurite.env,
      backend: () => createAzureBackend({ container: BUCKET, connectionString: azurite.connectionString }),
    },
    {
      name: 'gcs',
      remote: (f) => `gs://${BUCKET}/${f}`,
      env: { STORAGE_EMULATOR_HOST: gcs.endpoint },
      backend: () => createGcsBackend({ bucket: BUCKET, endpoint: gcs.endpoint }),
    },
  );
}, 180_000);

afterAll(async () => {
  await Promise.all([s3?.stop(), azurite?.stop(), gcs?.stop()]);
  removeDir(work);
});

function envFor(t: Target, label: string): NodeJS.ProcessEnv {
  return cliEnv(path.join(work, `cache-${t.name}-${label}`), t.env);
}

async function cliJson(args: string[], env: NodeJS.ProcessEnv): Promise<Record<string, unknown>> {
  const r = await runCli([...args, '--json', '--quiet'], { env });
  expect(r.stderr, `flowsync ${args.join(' ')}`).not.toMatch(/error/i);
  expect(r.code, `flowsync ${args.join(' ')}: ${r.stderr}`).toBe(0);
  const lines = r.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

const pick = (s: Record<string, unknown>) => ({ uploaded: s.uploaded, downloaded: s.downloaded, deleted: s.deleted, unchanged: s.unchanged, bytes: s.bytes });

describe.each(['local', 's3', 'azure', 'gcs'])('CLI round trip on %s', (name) => {
  const t = () => targets.find((x) => x.name === name)!;

  it('push, push again, change, pull, pull again: exact counts and identical trees', async () => {
    const target = t();
    const copy = path.join(work, `copy-${name}`);
    fs.cpSync(src, copy, { recursive: true, verbatimSymlinks: true });
    const remote = target.remote('proj');
    const env = envFor(target, 'push');
    const seen: unknown[] = [];

    const first = await cliJson(['push', copy, remote], env);
    expect(first.command).toBe('push');
    expect(typeof first.manifest).toBe('string');
    expect(typeof first.durationMs).toBe('number');
    const fileCount = tree.kept.length - Object.keys(tree.links).length;
    expect(first.uploaded).toBe(fileCount);
    seen.push(pick(first));

    const again = await cliJson(['push', copy, remote], env);
    expect(pick(again)).toEqual({ uploaded: 0, downloaded: 0, deleted: 0, unchanged: tree.kept.length, bytes: 0 });
    expect(again.manifest).toBe(first.manifest);
    seen.push(pick(again));

    const dest = path.join(work, `pulled-${name}`);
    const pulled = await cliJson(['pull', remote, dest], envFor(target, 'pull'));
    expect(pulled.downloaded).toBe(fileCount); // links are "updated", as on push
    expect(pulled.updated).toBe(Object.keys(tree.links).length);
    expect(compareTrees(copy, dest, { excludeExpected: (p) => tree.ignored.includes(p), excludeActual: excludeFlowsyncState })).toEqual([]);
    seen.push(pick(pulled));

    // Change 3 files (one of them the big one), delete 1.
    const smallFiles = tree.kept.filter((p) => !(p in tree.links) && p !== tree.bigFile && p !== '.prefectignore');
    const [a, b, gone] = [smallFiles[10]!, smallFiles[20]!, smallFiles[30]!];
    fs.appendFileSync(path.join(copy, a), 'changed a\n');
    fs.writeFileSync(path.join(copy, b), 'replaced b\n');
    const big = fs.openSync(path.join(copy, tree.bigFile!), 'r+');
    fs.writeSync(big, Buffer.from('changed in the middle'), 0, 21, BIG_FILE / 2);
    fs.closeSync(big);
    fs.rmSync(path.join(copy, gone));
    const changed = await cliJson(['push', copy, remote], env);
    expect(pick(changed)).toMatchObject({ uploaded: 3, deleted: 1, unchanged: tree.kept.length - 4 });
    seen.push(pick(changed));

    const repull = await cliJson(['pull', remote, dest], envFor(target, 'pull'));
    expect(pick(repull)).toMatchObject({ downloaded: 3, deleted: 1, unchanged: tree.kept.length - 4 });
    expect(fs.existsSync(path.join(dest, gone))).toBe(false);
    expect(compareTrees(copy, dest, { excludeExpected: (p) => tree.ignored.includes(p), excludeActual: excludeFlowsyncState })).toEqual([]);
    seen.push(pick(repull));

    const verified = await runCli(['verify', remote, '--dir', dest], { env: envFor(target, 'pull') });
    expect(verified.code, verified.stderr + verified.stdout).toBe(0);
    counts.set(name, seen);
  }, 300_000);
});

describe('all backends', () => {
  it('report the same counts for the same operations', () => {
    const reference = counts.get('local');
    expect(reference, 'the local run must have completed').toBeDefined();
    for (const name of ['s3', 'azure', 'gcs']) expect(counts.get(name), name).toEqual(reference);
  });
});

describe.each(['s3', 'azure', 'gcs'])('a folder pushed by Prefect (no manifest) on %s', (name) => {
  it('pulls every object under the folder, and only those, saying no manifest was found', async () => {
    const target = targets.find((x) => x.name === name)!;
    const backend = target.backend!();
    const put = async (key: string, text: string) => {
      const body = Buffer.from(text);
      await backend.write(key, body, { size: body.length });
    };
    // Prefect's layout: <folder>/<relative path>; a Windows push wrote '\' separators.
    await put('prefect-made/flows/etl.py', 'print("etl")\n');
    await put('prefect-made/prefect.yaml', 'name: x\n');
    await put('prefect-made/win\\helpers.py', 'x = 1\n');
    await put('prefect-made-sibling/not-mine.py', 'never pulled\n'); // a sibling prefix
    await backend.close?.();

    const dest = path.join(work, `prefect-made-${name}`);
    const env = envFor(target, 'legacy');
    const r = await runCli(['pull', target.remote('prefect-made'), dest, '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/no flowsync manifest/);
    expect(JSON.parse(r.stdout)).toMatchObject({ downloaded: 3, manifest: null });
    expect(fs.readFileSync(path.join(dest, 'flows/etl.py'), 'utf8')).toBe('print("etl")\n');
    expect(fs.readFileSync(path.join(dest, 'win/helpers.py'), 'utf8')).toBe('x = 1\n');
    expect(fs.existsSync(path.join(dest, 'not-mine.py'))).toBe(false);
    expect(fs.readdirSync(dest).sort()).toEqual(['.flowsync', 'flows', 'prefect.yaml', 'win']);

    // Pulled again: the objects it placed are recognised by their version tag, nothing moves.
    const again = await runCli(['pull', target.remote('prefect-made'), dest, '--json'], { env });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ downloaded: 0, unchanged: 3 });
  }, 60_000);
});

describe.each(['s3', 'azure', 'gcs'])('setup mistakes on %s fail fast with a one-line cause', (name) => {
  const cases = (): { label: string; remote: string; env: NodeJS.ProcessEnv; expect: RegExp }[] => {
    if (name === 's3') {
      return [
        { label: 'wrong access key', remote: `s3://${BUCKET}/x`, env: { ...s3.env, AWS_ACCESS_KEY_ID: 'WRONG' }, expect: /access key|credential/i },
        { label: 'missing bucket', remote: 's3://no-such-bucket/x', env: s3.env, expect: /no-such-bucket/ },
        { label: 'unreachable endpoint', remote: `s3://${BUCKET}/x`, env: { ...s3.env, AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' }, expect: /127\.0\.0\.1:9/ },
      ];
    }
    if (name === 'azure') {
      const wrongKey = azurite.connectionString.replace(/AccountKey=[^;]+/, `AccountKey=${Buffer.from('wrong key of the right shape').toString('base64')}`);
      return [
        { label: 'wrong account key', remote: `az://${BUCKET}/x`, env: { AZURE_STORAGE_CONNECTION_STRING: wrongKey }, expect: /key|credential|auth/i },
        { label: 'missing container', remote: 'az://no-such-container/x', env: azurite.env, expect: /no-such-container/ },
        {
          label: 'unreachable endpoint',
          remote: `az://${BUCKET}/x`,
          env: { AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString.replace(/BlobEndpoint=[^;]+/, 'BlobEndpoint=http://127.0.0.1:9/devstoreaccount1') },
          expect: /127\.0\.0\.1:9/,
        },
      ];
    }
    return [
      { label: 'missing bucket', remote: 'gs://no-such-bucket/x', env: { STORAGE_EMULATOR_HOST: gcs.endpoint }, expect: /no-such-bucket/ },
      { label: 'unreachable endpoint', remote: `gs://${BUCKET}/x`, env: { STORAGE_EMULATOR_HOST: 'http://127.0.0.1:9' }, expect: /127\.0\.0\.1:9/ },
    ];
  };

  it('push: exit 1, the cause and the fix on one line, under 10 s', async () => {
    for (const c of cases()) {
      const started = Date.now();
      const r = await runCli(['push', src, c.remote], { env: cliEnv(path.join(work, 'cache-mistakes'), c.env) });
      const elapsed = Date.now() - started;
      expect(r.code, `${c.label}: ${r.stderr}`).toBe(1);
      const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('flowsync push:'));
      expect(lines, `${c.label}: ${r.stderr}`).toHaveLength(1);
      expect(lines[0], c.label).toMatch(c.expect);
      expect(elapsed, c.label).toBeLessThan(10_000);
    }
  }, 90_000);
});
