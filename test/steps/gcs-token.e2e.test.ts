/**
 * A GCS credentials block used with the emulator (issue 14): Google's client first fetches an
 * access token for the service account, and when that fails the message must say so — not
 * "cannot reach the GCS endpoint … check STORAGE_EMULATOR_HOST", which blamed an emulator that
 * was never asked. Built CLI, in-repo GCS emulator. The token fetch is made to fail the same way
 * on every machine: HTTPS_PROXY points at a closed local port (NO_PROXY keeps the emulator direct).
 */
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cliEnv, removeDir, requireBuiltCli, runCli, tempDir } from '../e2e/support.js';
import { startGcs, type GcsEmulator } from '../servers/gcs.js';

let work = '';
let gcs: GcsEmulator;
beforeAll(async () => {
  requireBuiltCli();
  work = tempDir('gcs-token');
  gcs = await startGcs({ buckets: ['my-bucket'] });
});
afterAll(async () => {
  await gcs?.stop();
  removeDir(work);
});

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

it('says the token fetch failed, names the account, and that the emulator takes no credentials', async () => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const info = {
    type: 'service_account',
    project_id: 'flowsync-test',
    private_key_id: 'k1',
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    client_email: 'deployer@flowsync-test.iam.gserviceaccount.com',
    token_uri: 'https://oauth2.googleapis.com/token',
  };
  fs.writeFileSync(path.join(work, 'blocks.json'), JSON.stringify({ blocks: { 'gcp-credentials': { dev: { service_account_info: info } } } }));
  fs.writeFileSync(path.join(work, 'flow.py'), 'print(1)\n');
  fs.writeFileSync(
    path.join(work, 'prefect.yaml'),
    `push:\n- prefect_gcp.deployments.steps.push_to_gcs:\n    bucket: my-bucket\n    folder: flows\n    credentials: '{{ prefect.blocks.gcp-credentials.dev }}'\n`,
  );
  const proxy = `http://127.0.0.1:${await closedPort()}`;
  const env = cliEnv(path.join(work, 'cache'), { STORAGE_EMULATOR_HOST: gcs.endpoint, HTTPS_PROXY: proxy, https_proxy: proxy, NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost' });
  const r = await runCli(['steps', 'run', 'push', '--blocks', 'blocks.json'], { env, cwd: work });
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/push step 1 'push_to_gcs': getting an access token for deployer@flowsync-test\.iam\.gserviceaccount\.com from https:\/\/\S+ failed/);
  expect(r.stderr).toMatch(/the emulator was not the problem\. An emulator \(STORAGE_EMULATOR_HOST .+\) takes no credentials: drop "credentials" from the step/);
  expect(r.stderr).not.toMatch(/the GCS endpoint cannot be reached/);
  expect(r.stderr).not.toContain('BEGIN PRIVATE KEY');
  // Nothing reached the emulator's bucket.
  expect([...gcs.state.buckets.get('my-bucket')!.objects.keys()]).toEqual([]);
});
