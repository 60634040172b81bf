/**
 * A prefect.yaml pull step asking for `switch: true` (DESIGN §12), on s3rver: the step's folder
 * becomes a link to a complete version folder, the step's `directory` output is that version
 * folder (where the flow then runs, holding it), and a second version after a push costs only
 * what changed: the rest comes from the machine's content cache.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runSteps } from '../../src/steps/index.js';
import { S3RVER_ACCESS_KEY_ID, S3RVER_REGION, S3RVER_SECRET_ACCESS_KEY, startS3rver, type S3rverServer } from '../servers/s3rver.js';

const YAML = `name: switched
push:
- prefect_aws.deployments.steps.push_to_s3:
    id: push_code
    bucket: code
    folder: switched
    credentials: '{{ prefect.blocks.aws-credentials.dev }}'
pull:
- prefect_aws.deployments.steps.pull_from_s3:
    id: pull_code
    bucket: code
    folder: switched
    credentials: '{{ prefect.blocks.aws-credentials.dev }}'
    switch: true
`;

let s3: S3rverServer;
let base = '';
beforeAll(async () => {
  s3 = await startS3rver({ buckets: ['code'] });
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'flowsync-steps-switch-'));
});
afterAll(async () => {
  await s3?.stop();
  fs.rmSync(base, { recursive: true, force: true });
});

it('pull_from_s3 with switch: true pulls into a version folder and reuses the content cache', async () => {
  const src = path.join(base, 'project');
  const worker = path.join(base, 'worker');
  fs.mkdirSync(path.join(src, 'flows'), { recursive: true });
  fs.mkdirSync(worker); // the folder the pull steps run in, empty: it simply becomes the link
  for (let i = 0; i < 8; i++) fs.writeFileSync(path.join(src, 'flows', `f${i}.py`), `print(${i})\n`);
  fs.writeFileSync(path.join(src, 'prefect.yaml'), YAML);
  const blocksFile = path.join(base, 'blocks.yaml');
  fs.writeFileSync(
    blocksFile,
    `blocks:\n  aws-credentials:\n    dev:\n      aws_access_key_id: ${S3RVER_ACCESS_KEY_ID}\n      aws_secret_access_key: ${S3RVER_SECRET_ACCESS_KEY}\n      region_name: ${S3RVER_REGION}\n      aws_client_parameters:\n        endpoint_url: ${s3.endpoint}\n`,
  );
  const env = { PATH: process.env['PATH'] ?? '', HOME: base };
  const warnings: string[] = [];
  const log = { info: () => {}, warn: (m: string) => warnings.push(m) };
  const run = (section: 'push' | 'pull', cwd: string) => runSteps({ section, cwd, file: path.join(src, 'prefect.yaml'), blocksFile, env, log });

  await run('push', src);
  const first = await run('pull', worker);
  expect(fs.lstatSync(worker).isSymbolicLink()).toBe(true);
  const v1 = fs.realpathSync(worker);
  expect(path.dirname(v1)).toBe(`${worker}.versions`);
  expect(first.directory).toBe(v1);
  expect((first.outputs['pull_code'] as Record<string, unknown>)['directory']).toBe(v1);
  expect(fs.readFileSync(path.join(worker, 'flows', 'f3.py'), 'utf8')).toBe('print(3)\n');
  expect(warnings).toEqual([]); // the empty folder had nothing to move aside

  fs.writeFileSync(path.join(src, 'flows', 'f3.py'), 'print("v2")\n');
  await run('push', src);
  const second = await run('pull', worker);
  const v2 = fs.realpathSync(worker);
  expect(v2).not.toBe(v1);
  expect(second.directory).toBe(v2);
  expect(second.steps[0]!.sync).toMatchObject({ downloaded: 9, fromCache: 8 }); // f3.py alone came from s3rver
  expect(fs.readFileSync(path.join(v2, 'flows', 'f3.py'), 'utf8')).toBe('print("v2")\n');
  expect(fs.readFileSync(path.join(v1, 'flows', 'f3.py'), 'utf8')).toBe('print(3)\n'); // the old version is intact
});
