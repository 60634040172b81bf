/**
 * Store-facing mistakes a new user made (issue 14), on the built CLI: `--part-size` below a
 * store's minimum is refused naming it, before anything is written (s3rver: S3's 5 MiB;
 * Azurite: flowsync's 1 MiB floor — 1 KiB parts made a 21 MB upload take 138 s), and a plain
 * HTTP server given as `--endpoint` is reported as "not an S3 service" (it was "No object at …").
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite } from '../servers/azurite.js';
import { startS3rver, type S3rverServer } from '../servers/s3rver.js';
import { cliEnv, removeDir, requireBuiltCli, runCli, tempDir } from './support.js';

let work = '';
let s3: S3rverServer;
let azure: Awaited<ReturnType<typeof startAzurite>>;
let web: http.Server;
let webUrl = '';
let src = '';

beforeAll(async () => {
  requireBuiltCli();
  work = tempDir('new-user-stores');
  [s3, azure] = await Promise.all([startS3rver({ buckets: ['parts'] }), startAzurite({ containers: ['parts'] })]);
  // A web server, as when --endpoint is given a console or a site instead of the S3 API.
  web = http.createServer((req, res) => {
    res.writeHead(req.url === '/' ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' });
    res.end(req.method === 'HEAD' ? undefined : '<!doctype html><html><head><meta charset="utf-8"><title>Not Found</title></head><body>nope</body></html>');
  });
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
  webUrl = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
  src = path.join(work, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'a.txt'), 'a');
}, 60_000);
afterAll(async () => {
  await new Promise<void>((resolve) => (web ? web.close(() => resolve()) : resolve()));
  await Promise.all([s3?.stop(), azure?.stop()]);
  removeDir(work);
});

const s3Env = () => cliEnv(path.join(work, 'cache'), { ...s3.env });
const azEnv = () => cliEnv(path.join(work, 'cache'), { AZURE_STORAGE_CONNECTION_STRING: azure.connectionString });

describe('--part-size', () => {
  it("below S3's 5 MiB minimum: exit 2 naming it, nothing written", async () => {
    const r = await runCli(['push', src, 's3://parts/x', '--part-size', '1KiB'], { env: s3Env() });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^flowsync push: --part-size 1KiB is too small: the smallest part S3 accepts is 5MiB\. Give --part-size 5MiB or more/);
    const four = await runCli(['push', src, 's3://parts/x', '--part-size', '4MiB'], { env: s3Env() });
    expect(four.code).toBe(2);
    const listed = await runCli(['status', src, 's3://parts/x', '--json'], { env: s3Env() });
    expect(JSON.parse(listed.stdout)).toMatchObject({ manifest: null, uploaded: 1 }); // nothing was pushed
    const ok = await runCli(['push', src, 's3://parts/x', '--part-size', '5MiB', '--json'], { env: s3Env() });
    expect(ok.code, ok.stderr).toBe(0);
  });

  it("below flowsync's 1 MiB floor on Azure (which would take 1 KiB blocks): exit 2 naming it", async () => {
    const r = await runCli(['push', src, 'az://parts/x', '--part-size', '1KiB'], { env: azEnv() });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/--part-size 1KiB is too small: flowsync's smallest part is 1MiB \(Azure Blob Storage would take smaller ones, one request each\)/);
    const ok = await runCli(['push', src, 'az://parts/x', '--part-size', '1MiB', '--json'], { env: azEnv() });
    expect(ok.code, ok.stderr).toBe(0);
  });
});

describe('--endpoint that is not an S3 service', () => {
  it('push and pull say so (exit 2), naming the endpoint and what it answered', async () => {
    const env = cliEnv(path.join(work, 'cache'), { AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y', AWS_REGION: 'us-east-1' });
    const dest = path.join(work, 'dest');
    const [p, q] = await Promise.all([
      runCli(['push', src, 's3://bucket/x', '--endpoint', webUrl], { env }),
      runCli(['pull', 's3://bucket/x', dest, '--endpoint', webUrl], { env }),
    ]);
    for (const r of [p, q]) {
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(`${webUrl} is not an S3 service: it answered HTTP 404 with a text/html body`);
      expect(r.stderr).toMatch(/it must be the S3 API's URL/);
      expect(r.stderr).not.toMatch(/No object at/);
    }
    expect(fs.existsSync(dest)).toBe(false);
  });
});
