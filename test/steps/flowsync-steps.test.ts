/**
 * flowsync's own prefect.yaml steps on s3rver: `flowsync.push` with `layout: packed` outputs
 * `version`, and a `flowsync.pull` pinned to `{{ push_code.version }}` (as `prefect deploy` bakes
 * it into the stored pull steps) pulls exactly that version after later pushes.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runSteps } from '../../src/steps/index.js';
import { startS3rver, type S3rverServer } from '../servers/s3rver.js';

let s3: S3rverServer;
let base = '';

beforeAll(async () => {
  s3 = await startS3rver({ buckets: ['flows'] });
  base = mkdtempSync(path.join(os.tmpdir(), 'flowsync-fsteps-'));
});
afterAll(async () => {
  await s3?.stop();
  rmSync(base, { recursive: true, force: true });
});

const YAML = `
push:
  - flowsync.push:
      id: push_code
      remote: "s3://flows/{{ $PROJECT }}"
      layout: packed
      message: "deploy of {{ $PROJECT }}"
pull:
  - flowsync.pull:
      id: pull_code
      remote: "{{ push_code.remote }}"
      version: "{{ push_code.version }}"
`;

it('push outputs version; a pull pinned to it gets that version after later pushes', async () => {
  const src = path.join(base, 'project');
  mkdirSync(path.join(src, 'flows'), { recursive: true });
  writeFileSync(path.join(src, 'flows/etl.py'), 'print("v1")\n');
  writeFileSync(path.join(src, 'prefect.yaml'), YAML);
  const env = { PATH: process.env['PATH'] ?? '', HOME: base, PROJECT: 'etl', ...s3.env };
  const file = path.join(src, 'prefect.yaml');
  const v1Outputs = path.join(base, 'v1.json');

  const first = await runSteps({ section: 'push', cwd: src, file, env, outputsFile: v1Outputs });
  expect(first.outputs['push_code']).toEqual({ remote: 's3://flows/etl', version: expect.stringMatching(/^[0-9a-f]{64}$/) });
  const v1 = (first.outputs['push_code'] as { version: string }).version;

  writeFileSync(path.join(src, 'flows/etl.py'), 'print("v2")\n');
  const second = await runSteps({ section: 'push', cwd: src, file, env, outputsFile: path.join(base, 'v2.json') });
  expect((second.outputs['push_code'] as { version: string }).version).not.toBe(v1);

  const worker = path.join(base, 'worker');
  mkdirSync(worker);
  const pulled = await runSteps({ section: 'pull', cwd: worker, file, env, outputsFile: v1Outputs });
  expect(pulled.outputs['pull_code']).toMatchObject({ version: v1, directory: worker });
  expect(readFileSync(path.join(worker, 'flows/etl.py'), 'utf8')).toBe('print("v1")\n');
  expect(JSON.parse(readFileSync(v1Outputs, 'utf8'))).toMatchObject({ push_code: { version: v1 } });
});
