/**
 * Storage steps that would have pushed to the bucket root (issue 14): a folder or bucket that
 * comes out of a placeholder empty or unresolved is refused before anything is written, naming
 * the placeholder and where its value comes from; an explicit `folder: ''` is the root, with a
 * warning; a pull step without --outputs-file says to pass it; Prefect's gcs recipe typo
 * (`{{ pull_code.folder }}`) is named; `steps run --dry-run` shows each step's resolved
 * parameters (secrets masked) and what its push/pull would do, and writes nothing.
 * Built CLI against s3rver (the GCS typo case is refused before any server is asked).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRemote, type Remote } from '../../src/backends/open.js';
import { push } from '../../src/sync/push.js';
import { cliEnv, removeDir, requireBuiltCli, runCli, tempDir } from '../e2e/support.js';
import { S3RVER_ACCESS_KEY_ID, S3RVER_REGION, startS3rver, type S3rverServer } from '../servers/s3rver.js';

// s3rver checks the key id, not the signature: a secret of our own shows whether it leaks.
const SECRET = 'not-the-real-secret-4242';
const BUCKET = 'flow-code';

let work = '';
let s3: S3rverServer;
let remote: Remote;
let env: NodeJS.ProcessEnv = {};
let n = 0;

beforeAll(async () => {
  requireBuiltCli();
  work = tempDir('step-guards');
  s3 = await startS3rver({ buckets: [BUCKET] });
  const s3Options = { endpoint: s3.endpoint, region: S3RVER_REGION, forcePathStyle: true, credentials: { accessKeyId: S3RVER_ACCESS_KEY_ID, secretAccessKey: SECRET } };
  remote = await openRemote(`s3://${BUCKET}/`, { s3: s3Options });
  // What a user had at the bucket root before: an earlier push there, and a file of their own.
  const earlier = path.join(work, 'earlier');
  fs.mkdirSync(earlier);
  for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(earlier, `old-${i}.txt`), `old ${i}`);
  await push({ dir: earlier, remote, cacheDir: false });
  await remote.backend.write('precious.txt', Buffer.from('mine'), { size: 4, sha256: '' });
  env = cliEnv(path.join(work, 'cache'), { S3_ENDPOINT: s3.endpoint, AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' });
  delete env.CUSTOM_FOLDER;
  delete env.PREFECT_API_URL;
}, 60_000);
afterAll(async () => {
  await remote?.backend.close?.();
  await s3?.stop();
  removeDir(work);
});

async function objects(): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of remote.backend.list('')) keys.push(o.key);
  return keys.sort();
}

const BLOCKS = `blocks:
  aws-credentials:
    dev:
      aws_access_key_id: ${S3RVER_ACCESS_KEY_ID}
      aws_secret_access_key: ${SECRET}
      region_name: ${S3RVER_REGION}
      aws_client_parameters:
        endpoint_url: "{{ $S3_ENDPOINT }}"
variables: {}
`;

/** A project folder with a prefect.yaml whose push step has this folder line (and optional extra steps). */
function project(folderLine: string, extra = ''): string {
  const dir = path.join(work, `proj-${n++}`);
  fs.mkdirSync(path.join(dir, 'flows'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'flows', 'etl.py'), 'print(1)\n');
  fs.writeFileSync(path.join(dir, 'blocks.yaml'), BLOCKS);
  fs.writeFileSync(
    path.join(dir, 'prefect.yaml'),
    `name: p
push:
- prefect_aws.deployments.steps.push_to_s3:
    id: push_code
    bucket: ${BUCKET}
    ${folderLine}
    credentials: '{{ prefect.blocks.aws-credentials.dev }}'
${extra}
pull:
- prefect_aws.deployments.steps.pull_from_s3:
    id: pull_code
    bucket: '{{ push_code.bucket }}'
    folder: '{{ push_code.folder }}'
    credentials: '{{ prefect.blocks.aws-credentials.dev }}'
deployments:
- name: nightly
  push:
  - prefect_aws.deployments.steps.push_to_s3:
      bucket: ${BUCKET}
      folder: '{{ prefect.variables.nightly_folder }}'
      credentials: '{{ prefect.blocks.aws-credentials.dev }}'
`,
  );
  return dir;
}

const steps = (cwd: string, ...args: string[]) => runCli(['steps', 'run', ...args], { env, cwd });

describe('a folder that comes out of a placeholder empty is refused before anything is written', () => {
  it('an undefined Prefect variable (--deployment nightly): exit 2, names the variable and --blocks / PREFECT_API_URL', async () => {
    const before = await objects();
    const dir = project('folder: flows');
    const r = await steps(dir, 'push', '--deployment', 'nightly', '--blocks', 'blocks.yaml');
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/push step 1 'push_to_s3'.*"folder" comes out empty from "\{\{ prefect\.variables\.nightly_folder \}\}"/);
    expect(r.stderr).toMatch(/no Prefect variable "nightly_folder" in the --blocks file/);
    expect(r.stderr).toMatch(/Nothing was written\. \(For the bucket root, write folder: '' explicitly\.\)/);
    expect(await objects()).toEqual(before);
    // Without any source of variables, the message says where one would come from.
    const bareDir = path.join(work, `bare-${n++}`);
    fs.mkdirSync(bareDir);
    fs.writeFileSync(path.join(bareDir, 'prefect.yaml'), `push:\n- prefect_aws.deployments.steps.push_to_s3:\n    bucket: ${BUCKET}\n    folder: '{{ prefect.variables.nightly_folder }}'\n`);
    const bare = await steps(bareDir, 'push');
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/Pass --blocks FILE with variables: \{nightly_folder: \.\.\.\}, or set PREFECT_API_URL/);
  });

  it('an unset {{ $CUSTOM_FOLDER }} (the guide\'s example): exit 2, names the environment variable', async () => {
    const before = await objects();
    const r = await steps(project(`folder: '{{ $CUSTOM_FOLDER }}'`), 'push', '--blocks', 'blocks.yaml');
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/\{\{ \$CUSTOM_FOLDER \}\}: the environment variable CUSTOM_FOLDER is not set\. Set it \(export CUSTOM_FOLDER=\.\.\.\)/);
    expect(await objects()).toEqual(before);
  });

  it("folder: '' is the bucket root, as in Prefect: allowed, with a warning", async () => {
    const dir = project(`folder: ''`);
    const r = await steps(dir, 'push', '--blocks', 'blocks.yaml', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: .*folder is '' — this step uses the root of bucket flow-code/);
    const keys = await objects();
    expect(keys).toContain('flows/etl.py');
    expect(keys).toContain('precious.txt'); // flowsync never deletes what it did not put there
  });
});

describe('pull steps', () => {
  it('{{ push_code.bucket }} without --outputs-file: says to pass it, writes nothing', async () => {
    const dir = project('folder: flows');
    const dest = path.join(dir, 'dest');
    fs.mkdirSync(dest);
    fs.copyFileSync(path.join(dir, 'prefect.yaml'), path.join(dest, 'prefect.yaml'));
    fs.copyFileSync(path.join(dir, 'blocks.yaml'), path.join(dest, 'blocks.yaml'));
    const r = await steps(dest, 'pull', '--blocks', 'blocks.yaml');
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/"bucket" comes out empty from "\{\{ push_code\.bucket \}\}": \{\{ push_code\.bucket \}\} is a push step's output: pass --outputs-file FILE/);
    expect(fs.readdirSync(dest).sort()).toEqual(['blocks.yaml', 'prefect.yaml']);
  });

  it("Prefect's gcs recipe typo {{ pull_code.folder }} is named, with the fix", async () => {
    const dir = path.join(work, `gcs-${n++}`);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'outputs.json'), JSON.stringify({ push_code: { bucket: 'my-bucket', folder: 'my-folder' }, bucket: 'my-bucket', folder: 'my-folder' }));
    fs.writeFileSync(
      path.join(dir, 'prefect.yaml'),
      `pull:
- prefect_gcp.deployment.steps.pull_from_gcs:
    id: pull_code
    requires: prefect-gcp>=0.4.3
    bucket: '{{ push_code.bucket }}'
    folder: '{{ pull_code.folder }}'
`,
    );
    const r = await steps(dir, 'pull', '--outputs-file', 'outputs.json');
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/pull step 1 'pull_from_gcs': "folder" comes out empty from "\{\{ pull_code\.folder \}\}": \{\{ pull_code\.folder \}\} names this step's own output \(its id is pull_code\)/);
    expect(r.stderr).toMatch(/Prefect's own gcs recipe has this typo in its pull step; write \{\{ push_code\.folder \}\}/);
    expect(fs.readdirSync(dir).sort()).toEqual(['outputs.json', 'prefect.yaml']);
  });
});

describe('steps run --dry-run', () => {
  it('prints each step\'s resolved parameters with secrets masked and what its push would do; writes nothing', async () => {
    const dir = project('folder: dry', `- prefect.deployments.steps.run_shell_script:\n    script: touch ran-for-real\n`);
    const before = await objects();
    const r = await steps(dir, 'push', '--dry-run', '--blocks', 'blocks.yaml', '--outputs-file', 'out.json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^steps run push \(dry run: nothing written\): 2 step\(s\)/);
    expect(r.stdout).toMatch(/1\. prefect_aws\.deployments\.steps\.push_to_s3 \(id push_code\)\n {7}bucket: flow-code\n {7}folder: dry\n {7}credentials: \{.*"aws_secret_access_key":"\*\*\*"/);
    expect(r.stdout).toContain(`"endpoint_url":"${s3.endpoint}"`);
    expect(r.stdout).toMatch(/would push .* -> s3:\/\/flow-code\/dry: upload 3 \(\d+ bytes\), delete 0, unchanged 0/);
    expect(r.stdout).toMatch(/^ {5}> flows\/etl\.py$/m);
    expect(r.stdout).toMatch(/2\. prefect\.deployments\.steps\.run_shell_script\n {7}script: touch ran-for-real\n {5}not run in a dry run/);
    expect(r.stdout + r.stderr).not.toContain(SECRET);
    expect(await objects()).toEqual(before);
    expect(fs.existsSync(path.join(dir, 'ran-for-real'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'out.json'))).toBe(false);

    const json = await steps(dir, 'push', '--dry-run', '--blocks', 'blocks.yaml', '--json');
    expect(json.code).toBe(0);
    const summary = JSON.parse(json.stdout) as { dryRun: boolean; uploaded: number; steps: Array<{ params?: Record<string, unknown>; would?: string[] }> };
    expect(summary).toMatchObject({ dryRun: true, uploaded: 3 });
    expect(summary.steps[0]!.params).toMatchObject({ bucket: BUCKET, folder: 'dry', credentials: { aws_secret_access_key: '***' } });
    expect(json.stdout).not.toContain(SECRET);
  });

  it('a pull step shows what it would download, and writes nothing in the folder', async () => {
    const dir = project('folder: pulled');
    const pushed = await steps(dir, 'push', '--blocks', 'blocks.yaml', '--outputs-file', 'out.json');
    expect(pushed.code, pushed.stderr).toBe(0);
    const worker = path.join(dir, 'worker');
    fs.mkdirSync(worker);
    for (const f of ['prefect.yaml', 'blocks.yaml', 'out.json']) fs.copyFileSync(path.join(dir, f), path.join(worker, f));
    const r = await steps(worker, 'pull', '--dry-run', '--blocks', 'blocks.yaml', '--outputs-file', 'out.json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/1\. prefect_aws\.deployments\.steps\.pull_from_s3 \(id pull_code\)\n {7}bucket: flow-code\n {7}folder: pulled/);
    expect(r.stdout).toMatch(/would pull s3:\/\/flow-code\/pulled -> .*worker: download 1 \(9 bytes\), delete 0, unchanged 2/); // its prefect.yaml and blocks.yaml are there already
    expect(r.stdout).toMatch(/^ {5}< flows\/etl\.py$/m);
    expect(fs.readdirSync(worker).sort()).toEqual(['blocks.yaml', 'out.json', 'prefect.yaml']);
  });

  it('a dry run refuses the same bad folder a real run would', async () => {
    const r = await steps(project(`folder: '{{ $CUSTOM_FOLDER }}'`), 'push', '--dry-run', '--blocks', 'blocks.yaml');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/CUSTOM_FOLDER is not set/);
  });
});
