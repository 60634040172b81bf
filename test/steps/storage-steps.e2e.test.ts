/**
 * Acceptance for the storage steps: Prefect's recipe shape for s3, azure and gcs
 * (fixtures/prefect/<cloud>/prefect.yaml — push with `id: push_code`, pull with
 * `{{ push_code.bucket }}` / `{{ push_code.folder }}`, credentials as a block placeholder from a
 * --blocks file, `{{ $ENV }}` in a field) runs push, then pull into an empty folder, on s3rver,
 * Azurite and the in-repo GCS emulator. The pulled tree must equal the source minus what
 * .prefectignore excludes, objects must sit where Prefect puts them (<folder>/<path>), a second
 * push must upload nothing, and a change must move only what changed (deletes included).
 */
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRemote, type RemoteOptions } from '../../src/backends/open.js';
import { runSteps, type RunStepsResult } from '../../src/steps/index.js';
import { azuriteConnectionString, startAzurite } from '../servers/azurite.js';
import { startGcs } from '../servers/gcs.js';
import { S3RVER_ACCESS_KEY_ID, S3RVER_REGION, S3RVER_SECRET_ACCESS_KEY, startS3rver } from '../servers/s3rver.js';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/prefect');

/** The project tree: path → content (and an executable script). */
const TREE: Record<string, string> = {
  'flows/etl.py': 'from flows.utils.helpers import load\n\ndef main():\n    print(load())\n',
  'flows/utils/__init__.py': '',
  'flows/utils/helpers.py': 'def load():\n    return 42\n',
  'README.md': '# flows project\n',
  'data/config.json': '{"rows": 3}\n',
  'dir with space/file name.txt': 'spaces survive\n',
  'bin/run.sh': '#!/bin/sh\necho run\n',
  'logs/keep.log': 'kept by a negation\n',
  // ignored by .prefectignore:
  'flows/__pycache__/etl.cpython-311.pyc': 'bytecode',
  'flows/utils/helpers.pyc': 'bytecode',
  '.env': 'SECRET=1\n',
  'logs/debug.log': 'noise\n',
};
const PREFECTIGNORE = '# as prefect init writes it, shortened\n__pycache__/\n*.py[cod]\n.env\n*.log\n!keep.log\n';
const IGNORED = new Set(['flows/__pycache__/etl.cpython-311.pyc', 'flows/utils/helpers.pyc', '.env', 'logs/debug.log']);

function expectedFiles(extra: Record<string, string> = {}, removed: string[] = []): Record<string, string> {
  const out: Record<string, string> = { '.prefectignore': PREFECTIGNORE, 'prefect.yaml': '', ...extra };
  for (const [p, c] of Object.entries(TREE)) if (!IGNORED.has(p)) out[p] = c;
  for (const p of removed) delete out[p];
  return out;
}

function listTree(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (p === '.flowsync') continue; // flowsync's record of what it placed
    if (e.isDirectory()) out.push(...listTree(dir, p));
    else out.push(p);
  }
  return out.sort();
}

function expectSameTree(dest: string, expected: Record<string, string>, src: string): void {
  expect(listTree(dest)).toEqual(Object.keys(expected).sort());
  for (const p of Object.keys(expected)) {
    expect(readFileSync(path.join(dest, p)).equals(readFileSync(path.join(src, p))), p).toBe(true);
  }
  expect(statSync(path.join(dest, 'bin/run.sh')).mode & 0o111).not.toBe(0);
}

interface CloudServer {
  env: Record<string, string>;
  blocks: string;
  /** Where the objects end up, to check the layout (`<scheme>://<bucket>/flows-project`). */
  remote: string;
  remoteOptions: RemoteOptions;
  /** Which output names the bucket ("bucket" or "container"). */
  bucketKey: 'bucket' | 'container';
  bucket: string;
  stop(): Promise<void>;
}

interface Cloud {
  name: string;
  fixture: string;
  start(): Promise<CloudServer>;
}

const clouds: Cloud[] = [
  {
    name: 's3 (s3rver)',
    fixture: 's3',
    async start() {
      const bucket = 'flow-code';
      const s = await startS3rver({ buckets: [bucket] });
      return {
        env: { FLOW_BUCKET: bucket, S3_ENDPOINT: s.endpoint },
        blocks: `blocks:
  aws-credentials:
    dev:
      aws_access_key_id: ${S3RVER_ACCESS_KEY_ID}
      aws_secret_access_key: ${S3RVER_SECRET_ACCESS_KEY}
      region_name: ${S3RVER_REGION}
      aws_client_parameters:
        endpoint_url: "{{ $S3_ENDPOINT }}"
        use_ssl: false
`,
        remote: `s3://${bucket}/flows-project`,
        remoteOptions: { s3: { endpoint: s.endpoint, region: S3RVER_REGION, credentials: { accessKeyId: S3RVER_ACCESS_KEY_ID, secretAccessKey: S3RVER_SECRET_ACCESS_KEY } } },
        bucketKey: 'bucket',
        bucket,
        stop: () => s.stop(),
      };
    },
  },
  {
    name: 'azure (Azurite)',
    fixture: 'azure',
    async start() {
      const container = 'flow-code';
      const s = await startAzurite({ containers: [container] });
      return {
        env: { FLOW_CONTAINER: container },
        blocks: `blocks:\n  azure-blob-storage-credentials:\n    dev:\n      connection_string: "${azuriteConnectionString(s.endpoint)}"\n`,
        remote: `az://${container}/flows-project`,
        remoteOptions: { azure: { connectionString: s.connectionString } },
        bucketKey: 'container',
        bucket: container,
        stop: () => s.stop(),
      };
    },
  },
  {
    name: 'gcs (emulator)',
    fixture: 'gcs',
    async start() {
      const bucket = 'flow-code';
      const s = await startGcs({ buckets: [bucket] });
      return {
        env: { FLOW_BUCKET: bucket, STORAGE_EMULATOR_HOST: s.endpoint },
        blocks: 'blocks:\n  gcp-credentials:\n    dev:\n      project: flowsync-test\n',
        remote: `gs://${bucket}/flows-project`,
        remoteOptions: { gcs: { endpoint: s.endpoint, projectId: 'flowsync-test' } },
        bucketKey: 'bucket',
        bucket,
        stop: () => s.stop(),
      };
    },
  },
];

for (const cloud of clouds) {
  describe(`prefect.yaml recipe on ${cloud.name}`, () => {
    let server: CloudServer;
    let base: string;
    let src: string;
    let dest: string;
    let blocksFile: string;
    let outputsFile: string;
    let env: NodeJS.ProcessEnv;
    const warnings: string[] = [];
    const log = { info: () => {}, warn: (m: string) => warnings.push(m) };

    const run = (section: 'push' | 'pull', cwd: string): Promise<RunStepsResult> =>
      runSteps({ section, cwd, file: path.join(src, 'prefect.yaml'), blocksFile, outputsFile, env, log });

    beforeAll(async () => {
      server = await cloud.start();
      base = mkdtempSync(path.join(os.tmpdir(), `flowsync-steps-${cloud.fixture}-`));
      src = path.join(base, 'project');
      dest = path.join(base, 'worker');
      mkdirSync(dest);
      for (const [p, c] of Object.entries(TREE)) {
        mkdirSync(path.dirname(path.join(src, p)), { recursive: true });
        writeFileSync(path.join(src, p), c);
      }
      chmodSync(path.join(src, 'bin/run.sh'), 0o755);
      writeFileSync(path.join(src, '.prefectignore'), PREFECTIGNORE);
      cpSync(path.join(fixtures, cloud.fixture, 'prefect.yaml'), path.join(src, 'prefect.yaml'));
      blocksFile = path.join(base, 'blocks.yaml');
      writeFileSync(blocksFile, server.blocks);
      outputsFile = path.join(base, 'outputs.json');
      // Only what the recipe needs: no cloud variables from this process reach the steps.
      env = { PATH: process.env['PATH'] ?? '', HOME: base, ...server.env };
    });

    afterAll(async () => {
      await server?.stop();
      rmSync(base, { recursive: true, force: true });
    });

    it('push uploads the tree minus .prefectignore and returns {bucket, folder} under push_code', async () => {
      const r = await run('push', src);
      const expected = expectedFiles();
      expect(r.outputs['push_code']).toEqual({ [server.bucketKey]: server.bucket, folder: 'flows-project', version: expect.stringMatching(/^[0-9a-f]{64}$/) });
      expect(r.uploaded).toBe(Object.keys(expected).length);
      expect(r.steps).toHaveLength(1);
      expect(r.steps[0]!.sync?.uploaded).toBe(r.uploaded);
      expect(r.manifest).toEqual(expect.any(String));
      expect(JSON.parse(readFileSync(outputsFile, 'utf8'))).toEqual(r.outputs);

      // Prefect's layout: every file at <folder>/<path>, nothing ignored uploaded.
      const remote = await openRemote(server.remote, server.remoteOptions);
      const keys: string[] = [];
      for await (const o of remote.backend.list('flows-project/')) keys.push(o.key);
      await remote.backend.close?.();
      const files = keys.filter((k) => !k.startsWith('flows-project/.flowsync/')).sort();
      expect(files).toEqual(Object.keys(expected).map((p) => `flows-project/${p}`).sort());
    });

    it('pull into an empty folder gives the same tree and returns the directory', async () => {
      // A file Prefect's pull would overwrite: overwritten too, with a warning naming it.
      writeFileSync(path.join(dest, 'README.md'), 'local edit\n');
      warnings.length = 0;
      const r = await run('pull', dest);
      expect(r.outputs['pull_code']).toEqual({ [server.bucketKey]: server.bucket, folder: 'flows-project', directory: dest });
      expect(r.directory).toBe(dest);
      expect(r.downloaded).toBe(Object.keys(expectedFiles()).length);
      expectSameTree(dest, expectedFiles(), src);
      expect(warnings.some((w) => /pull step 1 'pull_from_(s3|azure_blob_storage|gcs)'.*README\.md/.test(w))).toBe(true);
    });

    it('a second push uploads nothing', async () => {
      const r = await run('push', src);
      expect(r.uploaded).toBe(0);
      expect(r.deleted).toBe(0);
      expect(r.bytes).toBe(0);
      expect(r.unchanged).toBe(Object.keys(expectedFiles()).length);
    });

    it('a change moves only what changed, both ways; deletes reach the worker', async () => {
      writeFileSync(path.join(src, 'flows/etl.py'), 'def main():\n    print("v2")\n');
      writeFileSync(path.join(src, 'flows/new.py'), 'NEW = True\n');
      unlinkSync(path.join(src, 'data/config.json'));
      const pushed = await run('push', src);
      expect([pushed.uploaded, pushed.deleted]).toEqual([2, 1]);

      const pulled = await run('pull', dest);
      expect([pulled.downloaded, pulled.deleted]).toEqual([2, 1]);
      const expected = expectedFiles({ 'flows/new.py': '' }, ['data/config.json']);
      expectSameTree(dest, expected, src);
    });
  });
}
