/**
 * GCS backend behaviour beyond the conformance suite: how it finds its endpoint, how it fails
 * (fast, with the right code), checksums that really reach the server, generation preconditions,
 * and resumable sessions that survive a failed chunk. Runs against the in-repo emulator.
 */
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createGcsBackend, gcsError, GCS_CHUNK_UNIT, resolveGcsEndpoint } from '../../src/backends/gcs/backend.js';
import { openRemote } from '../../src/backends/open.js';
import type { Backend } from '../../src/backends/types.js';
import { ByteBudget } from '../../src/transfer/budget.js';
import { uploadStream } from '../../src/transfer/stream-parts.js';
import { Progress } from '../../src/util/progress.js';
import { FlowsyncError, type ErrorCode } from '../../src/errors.js';
import { collect } from '../../src/util/streams.js';
import { cliEnv, removeDir, requireBuiltCli, runCli, tempDir } from '../e2e/support.js';
import { startGcs, type GcsEmulator } from '../servers/gcs.js';

const sha256 = (d: Uint8Array) => createHash('sha256').update(d).digest('hex');
const md5 = (d: Uint8Array) => createHash('md5').update(d).digest();
const readAll = async (b: Backend, key: string, range?: [number, number]) => collect(await b.read(key, range ? { range } : {}));

async function failure(action: () => Promise<unknown>): Promise<FlowsyncError> {
  try {
    await action();
  } catch (err) {
    if (err instanceof FlowsyncError) return err;
    throw new Error(`expected a FlowsyncError, got ${String((err as Error)?.stack ?? err)}`);
  }
  throw new Error('expected a failure, but it succeeded');
}

async function expectCode(action: () => Promise<unknown>, code: ErrorCode): Promise<FlowsyncError> {
  const err = await failure(action);
  expect(err.code, err.message).toBe(code);
  return err;
}

/** A port nothing listens on: bind one, note it, close it. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

let emu: GcsEmulator;
let backend: Backend;
beforeAll(async () => {
  emu = await startGcs({ buckets: ['bkt', 'my-bucket'] });
  backend = createGcsBackend({ bucket: 'bkt', endpoint: emu.endpoint });
});
afterAll(() => emu.stop());
afterEach(() => {
  emu.state.faults.length = 0;
  emu.state.corruptNextUpload = false;
});

describe('endpoint', () => {
  it('comes from the option, else STORAGE_EMULATOR_HOST, with http:// added and /storage/v1 dropped', () => {
    expect(resolveGcsEndpoint('http://h:1', { STORAGE_EMULATOR_HOST: 'http://other:2' })).toBe('http://h:1');
    expect(resolveGcsEndpoint(undefined, { STORAGE_EMULATOR_HOST: '127.0.0.1:9023' })).toBe('http://127.0.0.1:9023');
    expect(resolveGcsEndpoint(undefined, { STORAGE_EMULATOR_HOST: 'https://gcs.local/storage/v1/' })).toBe('https://gcs.local');
    expect(resolveGcsEndpoint(undefined, {})).toBeUndefined();
  });

  for (const form of ['http://127.0.0.1:P', '127.0.0.1:P']) {
    it(`STORAGE_EMULATOR_HOST=${form} is honoured without an endpoint option`, async () => {
      const saved = process.env['STORAGE_EMULATOR_HOST'];
      process.env['STORAGE_EMULATOR_HOST'] = form.replace('P', String(emu.port));
      try {
        const viaEnv = createGcsBackend({ bucket: 'bkt' });
        const data = Buffer.from(`via env ${form}`);
        const before = emu.requests();
        await viaEnv.write(`env/${form}`, data, { size: data.length });
        expect((await readAll(viaEnv, `env/${form}`)).toString()).toBe(data.toString());
        expect(emu.requests() - before, 'requests that reached the emulator').toBe(2);
        expect((await viaEnv.stat(`env/${form}`))?.size).toBe(data.length);
      } finally {
        if (saved === undefined) delete process.env['STORAGE_EMULATOR_HOST'];
        else process.env['STORAGE_EMULATOR_HOST'] = saved;
      }
    });
  }

  it('gs:// remotes open this backend through openRemote', async () => {
    const remote = await openRemote('gs://bkt/some/folder', { endpoint: emu.endpoint });
    expect(remote.backend.name).toBe('gcs');
    expect(remote.prefix).toBe('some/folder');
    await remote.backend.write('some/folder/x', Buffer.from('x'), { size: 1 });
    expect((await backend.stat('some/folder/x'))?.size).toBe(1);
  });
});

describe('failing fast with the right code', () => {
  it('a missing bucket is BUCKET_NOT_FOUND for every operation', async () => {
    const b = createGcsBackend({ bucket: 'no-such-bucket', endpoint: emu.endpoint });
    const err = await expectCode(() => b.stat('k'), 'BUCKET_NOT_FOUND');
    expect(err.message).toContain('gs://no-such-bucket');
    expect(err.message).toMatch(/create it/i);
    await expectCode(() => readAll(b, 'k'), 'BUCKET_NOT_FOUND');
    await expectCode(() => b.write('k', Buffer.from('x'), { size: 1 }), 'BUCKET_NOT_FOUND');
    await expectCode(() => b.openMultipart!('k', { size: 10, partSize: GCS_CHUNK_UNIT }), 'BUCKET_NOT_FOUND');
    await expectCode(() => b.delete(['k']), 'BUCKET_NOT_FOUND');
    await expectCode(async () => {
      for await (const _ of b.list('p/')) void _;
    }, 'BUCKET_NOT_FOUND');
  });

  // Issue 14: the classification goes by the call and GCS's answer (404 + reason), never by the
  // word "bucket" in a message, so names that contain it must not confuse it.
  it('gs://my-bucket/bucket-x: a missing object in an existing bucket is NOT_FOUND, not BUCKET_NOT_FOUND', async () => {
    const b = createGcsBackend({ bucket: 'my-bucket', endpoint: emu.endpoint });
    expect(await b.stat('bucket-x/no-such-bucket')).toBeNull();
    const err = await expectCode(() => readAll(b, 'bucket-x/no-such-bucket'), 'NOT_FOUND');
    expect(err.message).toContain('gs://my-bucket/bucket-x/no-such-bucket');
    await expectCode(() => readAll(b, 'bucket-x/no-such-bucket', [0, 10]), 'NOT_FOUND');
    await b.delete(['bucket-x/no-such-bucket']); // missing keys are no error
    await b.write('bucket-x/obj', Buffer.from('in my-bucket'), { size: 12 });
    expect((await readAll(b, 'bucket-x/obj')).toString()).toBe('in my-bucket');
    await b.delete(['bucket-x/obj']);
  });

  it('gs://missing-bucket/bucket-x: a missing bucket is BUCKET_NOT_FOUND for a key that says "bucket" too', async () => {
    const b = createGcsBackend({ bucket: 'missing-bucket', endpoint: emu.endpoint });
    await expectCode(() => b.stat('bucket-x/obj'), 'BUCKET_NOT_FOUND');
    await expectCode(() => readAll(b, 'bucket-x/obj'), 'BUCKET_NOT_FOUND');
    await expectCode(() => b.write('bucket-x/obj', Buffer.from('x'), { size: 1 }), 'BUCKET_NOT_FOUND');
    await expectCode(() => b.delete(['bucket-x/obj']), 'BUCKET_NOT_FOUND');
  });

  it('an unreachable endpoint is UNREACHABLE within 10 s', async () => {
    const b = createGcsBackend({ bucket: 'bkt', endpoint: `http://127.0.0.1:${await closedPort()}` });
    const started = Date.now();
    const err = await expectCode(() => b.stat('k'), 'UNREACHABLE');
    expect(err.message).toMatch(/ECONNREFUSED/);
    expect(err.message).toMatch(/STORAGE_EMULATOR_HOST|endpoint/);
    await expectCode(() => readAll(b, 'k'), 'UNREACHABLE');
    await expectCode(() => b.write('k', Buffer.from('x'), { size: 1 }), 'UNREACHABLE');
    await expectCode(() => b.openMultipart!('k', { size: 10, partSize: GCS_CHUNK_UNIT }), 'UNREACHABLE');
    await expectCode(async () => {
      for await (const _ of b.list('')) void _;
    }, 'UNREACHABLE');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('401 is AUTH, 403 PERMISSION, 429 THROTTLED, 503 and a reset connection TRANSIENT (no SDK retries)', async () => {
    const strict = await startGcs({ buckets: ['bkt'], requireAuth: true });
    try {
      const err = await expectCode(() => createGcsBackend({ bucket: 'bkt', endpoint: strict.endpoint }).stat('k'), 'AUTH');
      expect(err.message).toMatch(/GOOGLE_APPLICATION_CREDENTIALS/);
    } finally {
      await strict.stop();
    }
    const cases: [number | 'reset', ErrorCode][] = [
      [403, 'PERMISSION'],
      [429, 'THROTTLED'],
      [503, 'TRANSIENT'],
      ['reset', 'TRANSIENT'],
    ];
    for (const [status, code] of cases) {
      const before = emu.requests();
      emu.injectFault({ status, count: 5 });
      await expectCode(() => backend.stat('anything'), code);
      // One request: the SDK did not retry underneath the engine.
      expect(emu.requests() - before, `requests for ${status}`).toBe(1);
      emu.state.faults.length = 0;
    }
  });

  it('an unreadable private key is AUTH, and the key never appears in the message', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    const broken = privateKey.replace(/[A-Za-z]{20}/, 'notbase64!notbase64!'); // corrupt the body
    const b = createGcsBackend({
      bucket: 'bkt',
      endpoint: emu.endpoint, // explicit credentials: the SDK authenticates even against a custom endpoint
      credentials: { type: 'service_account', client_email: 'x@p.iam.gserviceaccount.com', private_key: broken, private_key_id: 'kid-123456' },
    });
    const err = await expectCode(() => b.stat('k'), 'AUTH');
    expect(err.message).not.toContain(broken.slice(30, 80));
  });

  it('a credentials file that does not exist is AUTH (keyFilename, GOOGLE_APPLICATION_CREDENTIALS), without network', async () => {
    const viaOption = createGcsBackend({ bucket: 'bkt', endpoint: emu.endpoint, keyFilename: '/nonexistent/flowsync-key.json' });
    const err = await expectCode(() => viaOption.stat('k'), 'AUTH');
    expect(err.message).toMatch(/GOOGLE_APPLICATION_CREDENTIALS/);
    const saved = { gac: process.env['GOOGLE_APPLICATION_CREDENTIALS'], emu: process.env['STORAGE_EMULATOR_HOST'] };
    process.env['GOOGLE_APPLICATION_CREDENTIALS'] = '/nonexistent/flowsync-key.json';
    delete process.env['STORAGE_EMULATOR_HOST'];
    try {
      const started = Date.now();
      await expectCode(() => createGcsBackend({ bucket: 'bkt' }).stat('k'), 'AUTH');
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      for (const [name, value] of [['GOOGLE_APPLICATION_CREDENTIALS', saved.gac], ['STORAGE_EMULATOR_HOST', saved.emu]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  it('maps raw errors it cannot classify to INTERNAL, keeping the cause', () => {
    const raw = new Error('something odd');
    const e = gcsError(raw, { bucket: 'b', action: 'read gs://b/k', object: true });
    expect(e.code).toBe('INTERNAL');
    expect(e.cause).toBe(raw);
  });
});

describe('checksums', () => {
  it('a simple upload corrupted on the way is refused by the server (CHECKSUM_MISMATCH), nothing stored', async () => {
    const data = randomBytes(10_000);
    emu.state.corruptNextUpload = true;
    const err = await expectCode(() => backend.write('cs/simple', data, { size: data.length, sha256: sha256(data), digest: md5(data) }), 'CHECKSUM_MISMATCH');
    expect(err.retryable).toBe(true);
    expect(emu.state.corruptNextUpload, 'the corruption was applied').toBe(false);
    expect(await backend.stat('cs/simple')).toBeNull();
  });

  it('a resumable upload corrupted on the way is refused at complete(), nothing stored', async () => {
    const data = randomBytes(2 * GCS_CHUNK_UNIT + 5000);
    const w = await backend.openMultipart!('cs/resumable', { size: data.length, sha256: sha256(data), partSize: GCS_CHUNK_UNIT });
    await w.writePart(1, data.subarray(0, GCS_CHUNK_UNIT), {});
    emu.state.corruptNextUpload = true; // flips a byte of the assembled object before its hash is checked
    await w.writePart(2, data.subarray(GCS_CHUNK_UNIT, 2 * GCS_CHUNK_UNIT), {});
    await w.writePart(3, data.subarray(2 * GCS_CHUNK_UNIT), {});
    // digestScope 'object': the engine's md5 of the whole object goes with the final chunk (X-Goog-Hash).
    await expectCode(() => w.complete({ size: data.length, digest: md5(data) }), 'CHECKSUM_MISMATCH');
    await w.abort();
    expect(await backend.stat('cs/resumable')).toBeNull();
  });

  it('bytes that rot in storage fail a full read with CHECKSUM_MISMATCH', async () => {
    const data = randomBytes(300_000);
    await backend.write('cs/rot', data, { size: data.length });
    emu.tamper('bkt', 'cs/rot', (d) => {
      d[1234] = d[1234]! ^ 1;
      return d;
    });
    await expectCode(() => readAll(backend, 'cs/rot'), 'CHECKSUM_MISMATCH');
    // A range cannot be checked against a whole-object hash: it is served as stored.
    expect((await readAll(backend, 'cs/rot', [0, 10])).equals(data.subarray(0, 10))).toBe(true);
  });
});

describe('generation preconditions', () => {
  it('the etag is the generation; ifMatch / ifNoneMatch become ifGenerationMatch', async () => {
    const v1 = await backend.write('cond/k', Buffer.from('one'), { size: 3, ifNoneMatch: '*' });
    expect(v1.etag).toMatch(/^\d+$/);
    const before = emu.requests();
    await expectCode(() => backend.write('cond/k', Buffer.from('two'), { size: 3, ifNoneMatch: '*' }), 'PRECONDITION_FAILED');
    expect(emu.requests() - before, 'the refusal came from the server').toBe(1);
    const v2 = await backend.write('cond/k', Buffer.from('two'), { size: 3, ifMatch: v1.etag! });
    await expectCode(() => backend.write('cond/k', Buffer.from('three'), { size: 5, ifMatch: v1.etag! }), 'PRECONDITION_FAILED');
    await expectCode(() => backend.write('cond/k', Buffer.from('three'), { size: 5, ifMatch: '"not-a-generation"' }), 'PRECONDITION_FAILED');
    expect((await backend.stat('cond/k'))?.etag).toBe(v2.etag);
    expect((await readAll(backend, 'cond/k')).toString()).toBe('two');
  });

  it('a resumable upload that loses the race fails at complete() with PRECONDITION_FAILED', async () => {
    const data = randomBytes(GCS_CHUNK_UNIT + 10);
    const w = await backend.openMultipart!('cond/race', { size: data.length, ifNoneMatch: '*', partSize: GCS_CHUNK_UNIT });
    await w.writePart(1, data.subarray(0, GCS_CHUNK_UNIT), {});
    await w.writePart(2, data.subarray(GCS_CHUNK_UNIT), {});
    await backend.write('cond/race', Buffer.from('winner'), { size: 6 }); // another writer gets there first
    await expectCode(() => w.complete({ size: data.length }), 'PRECONDITION_FAILED');
    await w.abort();
    expect((await readAll(backend, 'cond/race')).toString()).toBe('winner');
    await expectCode(() => backend.openMultipart!('cond/race', { size: 10, ifNoneMatch: '*', partSize: GCS_CHUNK_UNIT }), 'PRECONDITION_FAILED');
  });
});

describe('resumable sessions', () => {
  it('nothing is visible before complete(), and part sizes that are not 256 KiB multiples still work', async () => {
    const data = randomBytes(3 * 300_000 + 7);
    const w = await backend.openMultipart!('rs/odd-parts', { size: data.length, sha256: sha256(data), partSize: 300_000 });
    for (let n = 1; n <= 4; n++) await w.writePart(n, data.subarray((n - 1) * 300_000, n * 300_000), {});
    expect(await backend.stat('rs/odd-parts'), 'object before complete()').toBeNull();
    const info = await w.complete({ size: data.length, digest: md5(data) });
    expect(info).toMatchObject({ key: 'rs/odd-parts', size: data.length, sha256: sha256(data) });
    expect((await readAll(backend, 'rs/odd-parts')).equals(data)).toBe(true);
  });

  it('a chunk that fails (503, reset) is TRANSIENT, and retrying the same part resumes the session', async () => {
    const data = randomBytes(4 * GCS_CHUNK_UNIT + 99);
    const part = (n: number) => data.subarray((n - 1) * GCS_CHUNK_UNIT, n * GCS_CHUNK_UNIT);
    const pending = emu.pendingUploads();
    const w = await backend.openMultipart!('rs/retry', { size: data.length, sha256: sha256(data), partSize: GCS_CHUNK_UNIT });
    await w.writePart(1, part(1), {});
    emu.injectFault({ status: 503, method: 'PUT', pathIncludes: '/upload/' });
    await expectCode(() => w.writePart(2, part(2), {}), 'TRANSIENT');
    await w.writePart(2, part(2), {}); // the engine's retry
    emu.injectFault({ status: 'reset', method: 'PUT', pathIncludes: '/upload/' });
    await expectCode(() => w.writePart(3, part(3), {}), 'TRANSIENT');
    await w.writePart(3, part(3), {});
    await w.writePart(4, part(4), {});
    await w.writePart(5, part(5), {});
    await w.complete({ size: data.length });
    expect((await readAll(backend, 'rs/retry')).equals(data)).toBe(true);
    expect(emu.pendingUploads()).toBe(pending);
  });

  it('a chunk stored by the server whose answer was lost is not sent twice after the retry', async () => {
    const data = randomBytes(3 * GCS_CHUNK_UNIT + 1);
    const part = (n: number) => data.subarray((n - 1) * GCS_CHUNK_UNIT, n * GCS_CHUNK_UNIT);
    const w = await backend.openMultipart!('rs/lost-answer', { size: data.length, sha256: sha256(data), partSize: GCS_CHUNK_UNIT });
    await w.writePart(1, part(1), {});
    emu.injectFault({ status: 'reset', afterProcessing: true, method: 'PUT', pathIncludes: '/upload/' });
    await expectCode(() => w.writePart(2, part(2), {}), 'TRANSIENT');
    const session = [...emu.state.sessions.values()].find((x) => x.name === 'rs/lost-answer')!;
    expect(session.persisted, 'the server kept part 2 although its answer was lost').toBe(2 * GCS_CHUNK_UNIT);
    const before = emu.requests();
    await w.writePart(2, part(2), {}); // asks the session where it stands: part 2 is already there
    expect(emu.requests() - before, 'one status query, no chunk sent again').toBe(1);
    await w.writePart(3, part(3), {});
    await w.writePart(4, part(4), {});
    const info = await w.complete({ size: data.length });
    expect(info.size).toBe(data.length);
    expect((await readAll(backend, 'rs/lost-answer')).equals(data)).toBe(true);
  });

  it('parts out of order are refused (sequential backend); abort cancels the session, twice is fine', async () => {
    expect(backend.limits.multipart).toMatchObject({ sequential: true, partMultiple: GCS_CHUNK_UNIT, minPartSize: GCS_CHUNK_UNIT, digestScope: 'object' });
    const pending = emu.pendingUploads();
    const w = await backend.openMultipart!('rs/order', { size: 3 * GCS_CHUNK_UNIT, partSize: GCS_CHUNK_UNIT });
    expect(emu.pendingUploads()).toBe(pending + 1);
    await expectCode(() => w.writePart(2, Buffer.alloc(GCS_CHUNK_UNIT), {}), 'INTERNAL');
    await w.abort();
    await w.abort();
    expect(emu.pendingUploads()).toBe(pending);
    await expectCode(() => w.writePart(1, Buffer.alloc(GCS_CHUNK_UNIT), {}), 'NOT_FOUND');
  });

  it("the engine's uploadStream of a big Readable goes through one resumable session, the object's md5 on the last chunk", async () => {
    const data = randomBytes(backend.tuning.multipartThreshold + 12_345);
    const log: string[] = [];
    const logged = await startGcs({ buckets: ['bkt'], log: (l) => log.push(l) });
    try {
      const b = createGcsBackend({ bucket: 'bkt', endpoint: logged.endpoint });
      const { Readable } = await import('node:stream');
      const chunks = Array.from({ length: Math.ceil(data.length / 1_000_000) }, (_, i) => data.subarray(i * 1_000_000, (i + 1) * 1_000_000));
      const ctx = { backend: b, budget: new ByteBudget(64 * 1024 * 1024), progress: new Progress(), partConcurrency: 4 };
      const result = await uploadStream(ctx, 'big', Readable.from(chunks));
      expect(result.sha256).toBe(sha256(data));
      const sessionStarts = log.filter((l) => l.startsWith('POST /upload/') && l.includes('uploadType=resumable') && l.includes('name=big'));
      expect(sessionStarts, 'resumable sessions started').toHaveLength(1);
      expect(log.filter((l) => l.startsWith('PUT /upload/')).length, 'chunk PUTs').toBeGreaterThanOrEqual(2);
      expect((await readAll(b, 'big')).equals(data)).toBe(true);
      expect(logged.pendingUploads()).toBe(0);
    } finally {
      await logged.stop();
    }
  });
});

describe('reads', () => {
  it('an empty range of an existing object is empty; of a missing one NOT_FOUND', async () => {
    await backend.write('r/x', Buffer.from('abc'), { size: 3 });
    expect((await readAll(backend, 'r/x', [1, 1])).length).toBe(0);
    await expectCode(() => readAll(backend, 'r/missing', [0, 0]), 'NOT_FOUND');
  });

  it('aborting a read in flight ends the stream with ABORTED', async () => {
    const data = randomBytes(4 * 1024 * 1024);
    await backend.write('r/big', data, { size: data.length });
    const ac = new AbortController();
    const stream = await backend.read('r/big', { signal: ac.signal });
    let got = 0;
    const err = await failure(async () => {
      for await (const chunk of stream) {
        got += (chunk as Buffer).length;
        if (got > 0) ac.abort();
      }
    });
    expect(err.code).toBe('ABORTED');
    expect(got).toBeLessThan(data.length);
  });
});

describe('the built CLI on names containing "bucket" (issue 14)', () => {
  it('flowsync push to gs://my-bucket/x and gs://my-bucket/bucket-x succeeds, and pull brings the tree back', async () => {
    requireBuiltCli();
    const work = tempDir('gcs-bucket-names');
    try {
      const src = path.join(work, 'src');
      fs.mkdirSync(path.join(src, 'flows'), { recursive: true });
      fs.writeFileSync(path.join(src, 'flows', 'hello.py'), 'print("hello")\n');
      fs.writeFileSync(path.join(src, 'bucket.txt'), 'a file named bucket\n');
      const env = cliEnv(path.join(work, 'cache'), { STORAGE_EMULATOR_HOST: emu.endpoint });
      for (const remote of ['gs://my-bucket/x', 'gs://my-bucket/bucket-x']) {
        const push = await runCli(['push', src, remote, '--json', '--quiet'], { env });
        expect(push.code, `push to ${remote}: ${push.stderr}`).toBe(0);
        expect(JSON.parse(push.stdout.trim()).uploaded, `files uploaded to ${remote}`).toBe(2);
        const out = path.join(work, `out-${remote.split('/').pop()}`);
        const pull = await runCli(['pull', remote, out, '--json', '--quiet'], { env });
        expect(pull.code, `pull from ${remote}: ${pull.stderr}`).toBe(0);
        expect(fs.readFileSync(path.join(out, 'bucket.txt'), 'utf8')).toBe('a file named bucket\n');
        expect(fs.readFileSync(path.join(out, 'flows', 'hello.py'), 'utf8')).toBe('print("hello")\n');
      }
      const missing = await runCli(['push', src, 'gs://no-bucket-here/bucket-x', '--quiet'], { env });
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toContain('no-bucket-here');
      expect(missing.stderr).toMatch(/does not exist|create it/i);
    } finally {
      removeDir(work);
    }
  }, 60_000);
});
