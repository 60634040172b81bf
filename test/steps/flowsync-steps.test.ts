/**
 * flowsync's own prefect.yaml steps on s3rver: `flowsync.push` with `layout: packed` outputs
 * `version`, and a `flowsync.pull` pinned to `{{ push_code.version }}` (as `prefect deploy` bakes
 * it into the stored pull steps) pulls exactly that version after later pushes.
 */
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runSteps } from '../../src/steps/index.js';
import { rejection } from '../helpers/rejection.js';
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

const SWITCH_YAML = `
push:
  - flowsync.push:
      id: push_code
      remote: "s3://flows/switched"
pull:
  - flowsync.pull:
      id: pull_code
      remote: "s3://flows/switched"
      directory: "{{ $DEST }}"
      switch: true
      keep: "{{ $KEEP }}"
`;

it('flowsync.pull with switch: true pulls each version into its own folder, links the destination to it, keeps `keep` of them', async () => {
  const src = path.join(base, 'switch-project');
  mkdirSync(src, { recursive: true });
  writeFileSync(path.join(src, 'prefect.yaml'), SWITCH_YAML);
  const file = path.join(src, 'prefect.yaml');
  const worker = path.join(base, 'switch-worker');
  mkdirSync(worker);
  const env = { PATH: process.env['PATH'] ?? '', HOME: base, DEST: 'code', KEEP: '2', FLOWSYNC_CACHE_DIR: path.join(base, 'switch-cache'), ...s3.env };
  const folders: string[] = [];
  for (let v = 1; v <= 3; v++) {
    writeFileSync(path.join(src, 'flow.py'), `print(${v})\n`);
    await runSteps({ section: 'push', cwd: src, file, env, outputsFile: path.join(base, `sw${v}.json`) });
    const pulled = await runSteps({ section: 'pull', cwd: worker, file, env, outputsFile: path.join(base, `sw${v}.json`) });
    const directory = (pulled.outputs['pull_code'] as { directory: string }).directory;
    folders.push(directory);
    // The step's output is the version folder itself (a flow run there keeps its files), the destination links to it.
    expect(directory.startsWith(path.join(worker, 'code.versions') + path.sep)).toBe(true);
    expect(lstatSync(path.join(worker, 'code')).isSymbolicLink()).toBe(true);
    expect(realpathSync(path.join(worker, 'code'))).toBe(realpathSync(directory));
    expect(readFileSync(path.join(worker, 'code', 'flow.py'), 'utf8')).toBe(`print(${v})\n`);
  }
  expect(new Set(folders).size).toBe(3);
  expect(existsSync(folders[0]!)).toBe(false); // beyond keep: 2
  expect(existsSync(folders[1]!) && existsSync(folders[2]!)).toBe(true);

  const bad = await rejection(runSteps({ section: 'pull', cwd: worker, file, env: { ...env, KEEP: 'two' } }));
  expect(bad.message).toMatch(/keep must be a whole number of versions/);
});
