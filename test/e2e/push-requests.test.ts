/**
 * What a mirror push costs in requests on S3 (s3rver behind the bench's counting proxy): with
 * 20 ms of round trip each one is time, so the count is the contract. A no-change push asks for
 * the manifest's tag and the lease, nothing more (a 404 for the lease that arrives before the
 * manifest's answer waits for it instead of probing the bucket); a push of one changed file
 * takes the lease without a second look, and releases it by its tag without reading it back.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCountingProxy, type CountingProxy } from '../../bench/infra/proxy.js';
import { pull, push } from '../../src/index.js';
import { compareTrees, excludeFlowsyncState } from '../helpers/tree.js';
import { S3RVER_ACCESS_KEY_ID, S3RVER_REGION, S3RVER_SECRET_ACCESS_KEY, startS3rver, type S3rverServer } from '../servers/s3rver.js';
import { removeDir, tempDir } from './support.js';

let work = '';
let s3: S3rverServer;
let proxy: CountingProxy;

beforeAll(async () => {
  work = tempDir('push-requests');
  s3 = await startS3rver({ buckets: ['counted'] });
  proxy = await startCountingProxy(s3.port);
}, 60_000);
afterAll(async () => {
  await proxy?.close();
  await s3?.stop();
  removeDir(work);
});

describe('requests of a mirror push on S3', () => {
  it('no change: 2 (manifest tag, lease); one changed file: 8, lease taken and released without reading it', async () => {
    const src = path.join(work, 'src');
    fs.mkdirSync(path.join(src, 'flows'), { recursive: true });
    for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(src, 'flows', `f${i}.py`), `print(${i})\n`);
    const cacheDir = path.join(work, 'cache');
    const remote = 's3://counted/etl';
    const remoteOptions = { endpoint: proxy.endpoint, region: S3RVER_REGION, s3: { credentials: { accessKeyId: S3RVER_ACCESS_KEY_ID, secretAccessKey: S3RVER_SECRET_ACCESS_KEY } } };
    expect((await push({ dir: src, remote, remoteOptions, cacheDir })).uploaded).toBe(20);

    proxy.reset();
    expect((await push({ dir: src, remote, remoteOptions, cacheDir })).uploaded).toBe(0);
    expect(proxy.snapshot()).toMatchObject({ total: 2, byMethod: { HEAD: 2 } });

    fs.writeFileSync(path.join(src, 'flows', 'f3.py'), 'print("changed")\n');
    proxy.reset();
    expect((await push({ dir: src, remote, remoteOptions, cacheDir })).uploaded).toBe(1);
    // HEAD lease + HEAD manifest; PUT lease; HEAD manifest (did anyone commit meanwhile?); PUT
    // file; PUT manifest; HEAD lease (still ours, by its tag); DeleteObjects (the lease).
    expect(proxy.snapshot()).toMatchObject({ total: 8, byMethod: { HEAD: 4, PUT: 3, POST: 1 } });

    const dest = path.join(work, 'dest');
    await pull({ remote, dir: dest, remoteOptions, cacheDir: false });
    expect(compareTrees(src, dest, { excludeActual: excludeFlowsyncState })).toEqual([]);
    // The lease is gone: the next no-change push finds none (its HEAD answers 404).
    proxy.reset();
    await push({ dir: src, remote, remoteOptions, cacheDir });
    expect(proxy.snapshot()).toMatchObject({ total: 2 });
  });

  it('a machine without the memo reads the manifest once; its next pushes plan against the copy it saved', async () => {
    const src = path.join(work, 'src2');
    fs.mkdirSync(src, { recursive: true });
    for (let i = 0; i < 10; i++) fs.writeFileSync(path.join(src, `g${i}.py`), `print(${i})\n`);
    const remote = 's3://counted/other-machine';
    const remoteOptions = { endpoint: proxy.endpoint, region: S3RVER_REGION, s3: { credentials: { accessKeyId: S3RVER_ACCESS_KEY_ID, secretAccessKey: S3RVER_SECRET_ACCESS_KEY } } };
    await push({ dir: src, remote, remoteOptions, cacheDir: path.join(work, 'first-machine') });

    const cacheDir = path.join(work, 'second-machine');
    proxy.reset();
    expect((await push({ dir: src, remote, remoteOptions, cacheDir })).uploaded).toBe(0);
    expect(proxy.snapshot()).toMatchObject({ total: 3, byMethod: { HEAD: 2, GET: 1 } });
    proxy.reset();
    expect((await push({ dir: src, remote, remoteOptions, cacheDir })).uploaded).toBe(0);
    expect(proxy.snapshot()).toMatchObject({ total: 2, byMethod: { HEAD: 2 } });
    // A change is planned against the saved copy: the manifest is not read again.
    fs.writeFileSync(path.join(src, 'g3.py'), 'print("changed")\n');
    proxy.reset();
    expect((await push({ dir: src, remote, remoteOptions, cacheDir })).uploaded).toBe(1);
    expect(proxy.snapshot().byMethod.GET ?? 0).toBe(0);
  });
});
