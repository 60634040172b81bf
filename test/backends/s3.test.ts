/**
 * S3-specific behaviour against a real s3rver: failures that must be fast and clear, the
 * endpoint from the environment, sha256 metadata, batched deletes, pagination. The shared
 * semantics are in test/conformance/s3.test.ts.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3Error } from '../../src/backends/s3/errors.js';
import { createS3Backend, type S3BackendOptions } from '../../src/backends/s3/backend.js';
import { withRetries } from '../../src/backends/retrying.js';
import { deleteKeys } from '../../src/transfer/delete.js';
import type { Backend } from '../../src/backends/types.js';
import { FlowsyncError } from '../../src/errors.js';
import { collect } from '../../src/util/streams.js';
import { S3RVER_ACCESS_KEY_ID, S3RVER_SECRET_ACCESS_KEY, startS3rver, type S3rverServer } from '../servers/s3rver.js';

const BUCKET = 'flowsync-s3-test';
let server: S3rverServer;
const opened: Backend[] = [];

function backend(over: Partial<S3BackendOptions> = {}): Backend {
  const b = createS3Backend({
    bucket: BUCKET,
    endpoint: server.endpoint,
    credentials: { accessKeyId: S3RVER_ACCESS_KEY_ID, secretAccessKey: S3RVER_SECRET_ACCESS_KEY },
    ...over,
  });
  opened.push(b);
  return b;
}

/** A plain SDK client for s3rver, for looking at what the backend stored. */
function sdkClient(): S3Client {
  return new S3Client({
    endpoint: server.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: S3RVER_ACCESS_KEY_ID, secretAccessKey: S3RVER_SECRET_ACCESS_KEY },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function failure(p: Promise<unknown>): Promise<FlowsyncError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(FlowsyncError);
    return err as FlowsyncError;
  }
  throw new Error('expected a failure, got success');
}

/** A port nothing listens on: bind one, then close it. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

beforeAll(async () => {
  server = await startS3rver({ buckets: [BUCKET] });
});

afterAll(async () => {
  for (const b of opened) await b.close?.();
  await server?.stop();
});

describe('s3 backend on s3rver', () => {
  it('sends If-None-Match / If-Match on conditional writes, single PUT and multipart complete (s3rver ignores them; real S3 enforces them)', async () => {
    const client = sdkClient();
    const seen: { method: string; path: string; headers: Record<string, string> }[] = [];
    client.middlewareStack.add(
      (next) => async (args) => {
        const req = args.request as { method: string; path: string; headers: Record<string, string> };
        seen.push({ method: req.method, path: req.path, headers: { ...req.headers } });
        return next(args);
      },
      { step: 'finalizeRequest', name: 'recordRequests' },
    );
    try {
      const b = backend({ client });
      const data = Buffer.from('conditional');
      const created = await b.write('t/cond/single', data, { size: data.length, ifNoneMatch: '*' });
      await b.write('t/cond/single', data, { size: data.length, ifMatch: created.etag! });
      const header = (name: string) => seen.filter((r) => r.method === 'PUT' && r.path.endsWith('/t/cond/single')).map((r) => r.headers[name]);
      expect(header('if-none-match')).toEqual(['*', undefined]);
      expect(header('if-match')).toEqual([undefined, created.etag]);

      const big = Buffer.alloc(5 * 1024 * 1024 + 10, 7);
      const w = await b.openMultipart!('t/cond/multi', { size: big.length, partSize: 5 * 1024 * 1024, ifNoneMatch: '*' });
      await w.writePart(1, big.subarray(0, 5 * 1024 * 1024), {});
      await w.writePart(2, big.subarray(5 * 1024 * 1024), {});
      await w.complete({ size: big.length });
      // CreateMultipartUpload, then CompleteMultipartUpload: the condition goes on the commit.
      const posts = seen.filter((r) => r.method === 'POST' && r.path.endsWith('/t/cond/multi'));
      expect(posts.map((r) => r.headers['if-none-match'])).toEqual([undefined, '*']);
    } finally {
      client.destroy();
    }
  });

  it('round-trips a buffer, stores sha256 as user metadata', async () => {
    const b = backend();
    const data = Buffer.from('hello flowsync\n'.repeat(1000));
    const info = await b.write('t/meta/buf.txt', data, { size: data.length, sha256: sha256(data), contentType: 'text/plain', metadata: { mode: '420' } });
    expect(info.sha256).toBe(sha256(data));
    expect(info.etag).toMatch(/^".+"$/);

    // What another S3 client sees: x-amz-meta-sha256 on HeadObject.
    const raw = sdkClient();
    try {
      const head = await raw.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 't/meta/buf.txt' }));
      expect(head.Metadata?.sha256).toBe(sha256(data));
      expect(head.Metadata?.mode).toBe('420');
      expect(head.ContentType).toBe('text/plain');
    } finally {
      raw.destroy();
    }
    const st = await b.stat('t/meta/buf.txt');
    expect(st).toMatchObject({ key: 't/meta/buf.txt', size: data.length, sha256: sha256(data), etag: info.etag });
    expect(st?.metadata).toMatchObject({ sha256: sha256(data), mode: '420' });
  });

  it('reads a byte range', async () => {
    const b = backend();
    const data = Buffer.from('0123456789abcdef');
    await b.write('t/range.txt', data, { size: data.length });
    expect((await collect(await b.read('t/range.txt', { range: [3, 7] }))).toString()).toBe('3456');
    expect((await collect(await b.read('t/range.txt', { range: [5, 5] }))).length).toBe(0);
  });

  it('lists past page 1 (skipping folder markers), and deletes 2,500 keys in batches of 1,000', async () => {
    // Retries: s3rver's DeleteObjects now and then answers 500 (see test/conformance/s3.test.ts).
    const b = withRetries(backend());
    // Every other one of 2,500 names exists: 1,250 objects (two list pages), spread over all batches.
    const names = Array.from({ length: 2_500 }, (_, i) => `t/many/${String(i).padStart(5, '0')}`);
    const keys = names.filter((_, i) => i % 2 === 0);
    await runLimited(keys, 32, (k) => b.write(k, Buffer.from(k), { size: Buffer.byteLength(k) }));
    await b.write('t/many/folder/', new Uint8Array(0), { size: 0 });
    const seen: string[] = [];
    for await (const o of b.list('t/many/')) seen.push(o.key);
    expect(seen.sort()).toEqual(keys);

    // The engine's deleteKeys: three DeleteObjects requests (1,000 + 1,000 + 500); missing keys are no error.
    // s3rver takes any number of keys per request, so count them on the way out.
    const batches: number[] = [];
    const client = sdkClient();
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { Delete?: { Objects?: unknown[] } };
        if (context.commandName === 'DeleteObjectsCommand') batches.push(input.Delete?.Objects?.length ?? 0);
        return next(args);
      },
      { step: 'initialize', name: 'countDeleteBatches' },
    );
    const counted = withRetries(backend({ client }));
    await deleteKeys(counted, names);
    expect((await failure(counted.delete(names))).code, 'more than limits.deleteBatch keys in one call').toBe('INTERNAL');
    client.destroy();
    expect(batches).toEqual([1000, 1000, 500]);
    const left: string[] = [];
    for await (const o of b.list('t/many/')) left.push(o.key);
    expect(left).toEqual([]); // the folder marker is left, and not listed
    expect(await b.stat('t/many/folder/')).not.toBeNull();
    await b.delete(keys.slice(0, 10)); // again: no error
  });

  it('stat of a missing key is null, read of it is NOT_FOUND', async () => {
    const b = backend();
    expect(await b.stat('t/missing')).toBeNull();
    expect((await failure(b.read('t/missing'))).code).toBe('NOT_FOUND');
  });

  it('a wrong access key fails as AUTH within 10 s, with the fix and without the secret', async () => {
    const b = backend({ credentials: { accessKeyId: 'NOT-A-KEY', secretAccessKey: 'very-secret-value-123' } });
    const t0 = Date.now();
    const err = await failure(b.read('t/meta/buf.txt'));
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(err.code).toBe('AUTH');
    expect(err.message).toMatch(/AWS_ACCESS_KEY_ID/);
    expect(err.message).not.toContain('very-secret-value-123');
    // HEAD answers carry no error code: stat must still say AUTH, not "not found".
    expect((await failure(b.stat('t/meta/buf.txt'))).code).toBe('AUTH');
    expect((await failure(b.write('t/x', Buffer.from('x'), { size: 1 }))).code).toBe('AUTH');
  });

  it('a missing bucket is BUCKET_NOT_FOUND naming it, for read, stat, list and write', async () => {
    const b = backend({ bucket: 'no-such-bucket-here' });
    const err = await failure(b.read('a'));
    expect(err.code).toBe('BUCKET_NOT_FOUND');
    expect(err.message).toContain('no-such-bucket-here');
    expect(err.message).toMatch(/[Cc]reate it/);
    expect((await failure(b.stat('a'))).code).toBe('BUCKET_NOT_FOUND');
    expect((await failure(drain(b.list('x/')))).code).toBe('BUCKET_NOT_FOUND');
    expect((await failure(b.write('a', Buffer.from('x'), { size: 1 }))).code).toBe('BUCKET_NOT_FOUND');
  });

  it('an unreachable endpoint is UNREACHABLE within 10 s, naming the endpoint', async () => {
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    const b = backend({ endpoint });
    const t0 = Date.now();
    const err = await failure(b.stat('a'));
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(err.code).toBe('UNREACHABLE');
    expect(err.message).toContain(endpoint);
    expect((await failure(b.read('a'))).code).toBe('UNREACHABLE');
  });

  it('takes the endpoint from AWS_ENDPOINT_URL_S3 (over AWS_ENDPOINT_URL)', async () => {
    const saved = { s3: process.env.AWS_ENDPOINT_URL_S3, any: process.env.AWS_ENDPOINT_URL };
    process.env.AWS_ENDPOINT_URL_S3 = server.endpoint;
    process.env.AWS_ENDPOINT_URL = `http://127.0.0.1:${await closedPort()}`;
    try {
      const b = createS3Backend({ bucket: BUCKET, credentials: { accessKeyId: S3RVER_ACCESS_KEY_ID, secretAccessKey: S3RVER_SECRET_ACCESS_KEY } });
      opened.push(b);
      await b.write('t/env.txt', Buffer.from('env'), { size: 3 });
      expect((await collect(await b.read('t/env.txt'))).toString()).toBe('env');
    } finally {
      restoreEnv('AWS_ENDPOINT_URL_S3', saved.s3);
      restoreEnv('AWS_ENDPOINT_URL', saved.any);
    }
  });

  it("sends the engine's sha256 as the payload hash (x-amz-content-sha256) of a PUT and of each part (s3rver does not check it; real S3 refuses a mismatch)", async () => {
    const client = sdkClient();
    const seen: { method: string; path: string; headers: Record<string, string> }[] = [];
    client.middlewareStack.add(
      (next) => async (args) => {
        const req = args.request as { method: string; path: string; headers: Record<string, string> };
        seen.push({ method: req.method, path: req.path, headers: { ...req.headers } });
        return next(args);
      },
      { step: 'finalizeRequest', name: 'recordRequests' },
    );
    try {
      const b = backend({ client });
      const data = Buffer.from('payload hash');
      const digest = createHash('sha256').update(data).digest();
      await b.write('t/digest/single', data, { size: data.length, sha256: sha256(data), digest });
      const put = seen.find((r) => r.method === 'PUT' && r.path.endsWith('/t/digest/single'));
      expect(put?.headers['x-amz-content-sha256']).toBe(sha256(data));

      const MiB = 1024 * 1024;
      const big = Buffer.alloc(5 * MiB + 10, 5);
      const parts = [big.subarray(0, 5 * MiB), big.subarray(5 * MiB)];
      const w = await b.openMultipart!('t/digest/multi', { size: big.length, partSize: 5 * MiB });
      for (const [i, part] of parts.entries()) await w.writePart(i + 1, part, { digest: createHash('sha256').update(part).digest() });
      await w.complete({ size: big.length });
      const partPuts = seen.filter((r) => r.method === 'PUT' && r.path.endsWith('/t/digest/multi'));
      expect(partPuts.map((r) => r.headers['x-amz-content-sha256'])).toEqual(parts.map((p) => sha256(p)));
      expect(sha256(await collect(await b.read('t/digest/multi')))).toBe(sha256(big));
    } finally {
      client.destroy();
    }
  });

  it('uploads in parts, out of order, and reports a missing part before completing', async () => {
    const b = backend();
    const MiB = 1024 * 1024;
    const data = Buffer.alloc(11 * MiB);
    for (let i = 0; i < data.length; i += 4096) data[i] = (i / 4096) & 0xff;
    const w = await b.openMultipart!('t/mp.bin', { size: data.length, sha256: sha256(data), partSize: 5 * MiB });
    await Promise.all([3, 1, 2].map((n) => w.writePart(n, data.subarray((n - 1) * 5 * MiB, n * 5 * MiB), {})));
    const info = await w.complete({ size: data.length });
    expect(info.sha256).toBe(sha256(data));
    expect(sha256(await collect(await b.read('t/mp.bin')))).toBe(sha256(data));
    expect((await b.stat('t/mp.bin'))?.sha256).toBe(sha256(data));

    const gap = await b.openMultipart!('t/mp-gap.bin', { size: 10 * MiB, partSize: 5 * MiB });
    await gap.writePart(2, data.subarray(0, 5 * MiB), {});
    expect((await failure(gap.complete({ size: 10 * MiB }))).message).toContain('part 1 missing');
    expect(await b.stat('t/mp-gap.bin')).toBeNull();
  });
});

describe('s3 backend: what the conformance gaps leave out on s3rver', () => {
  it('an already-aborted signal fails every operation with ABORTED and writes nothing', async () => {
    const b = backend();
    await b.write('t/sig/existing', Buffer.from('here'), { size: 4 });
    const controller = new AbortController();
    controller.abort();
    const signal = controller.signal;
    const codeOf = async (p: Promise<unknown>) => (await failure(p)).code;
    expect(await codeOf(b.stat('t/sig/existing', { signal }))).toBe('ABORTED');
    expect(await codeOf(b.read('t/sig/existing', { signal }))).toBe('ABORTED');
    expect(await codeOf(b.write('t/sig/new', Buffer.from('no'), { size: 2 }, { signal }))).toBe('ABORTED');
    expect(await codeOf(drain(b.list('t/sig/', { signal })))).toBe('ABORTED');
    expect(await codeOf(b.delete(['t/sig/existing'], { signal }))).toBe('ABORTED');
    expect(await codeOf(b.openMultipart!('t/sig/new', { size: 10, partSize: 5 * 1024 * 1024 }, { signal }))).toBe('ABORTED');
    const writer = await b.openMultipart!('t/sig/new', { size: 10, partSize: 5 * 1024 * 1024 });
    expect(await codeOf(writer.writePart(1, Buffer.alloc(10), {}, { signal }))).toBe('ABORTED');
    expect(await codeOf(writer.complete({ size: 10 }, { signal }))).toBe('ABORTED');
    expect(await b.stat('t/sig/new')).toBeNull();
    expect(await b.stat('t/sig/existing')).not.toBeNull();
  });

  it('a multipart upload (in order) can be refused by complete() and then not aborted on s3rver', async () => {
    const b = backend();
    const MiB = 1024 * 1024;
    const data = Buffer.alloc(5 * MiB + 1000, 9);
    const w = await b.openMultipart!('t/mp-bad.bin', { size: data.length, partSize: 5 * MiB });
    await w.writePart(1, data.subarray(0, 5 * MiB), {});
    await w.writePart(2, data.subarray(5 * MiB), {});
    // A size that the parts do not add up to: refused before CompleteMultipartUpload is sent.
    expect((await failure(w.complete({ size: data.length + 1 }))).code).toBe('INTERNAL');
    expect(await b.stat('t/mp-bad.bin')).toBeNull();
    // s3rver cannot abort uploads: the backend says so instead of pretending.
    const err = await failure(w.abort());
    expect(err.code).toBe('UNSUPPORTED');
    expect(err.message).toContain(server.endpoint);
    await w.abort(); // a second abort is a no-op
  });
});

describe('s3 backend: credentials from the standard chain', () => {
  const AWS_VARS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE', 'AWS_EC2_METADATA_DISABLED'];
  let saved: Record<string, string | undefined>;
  let dir: string;

  beforeAll(async () => {
    saved = Object.fromEntries(AWS_VARS.map((k) => [k, process.env[k]]));
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'flowsync-s3-profiles-'));
    await fsp.writeFile(
      path.join(dir, 'credentials'),
      ['[flowsync-good]', `aws_access_key_id = ${S3RVER_ACCESS_KEY_ID}`, 'aws_secret_access_key = profile-secret-value-42', '', '[flowsync-bad]', 'aws_access_key_id = NOT-A-KEY', 'aws_secret_access_key = whatever-else', ''].join('\n'),
    );
    await fsp.writeFile(path.join(dir, 'config'), '');
    for (const k of AWS_VARS) delete process.env[k];
    process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(dir, 'credentials');
    process.env.AWS_CONFIG_FILE = path.join(dir, 'config');
    // No instance-metadata lookup: this machine is not on EC2.
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
  });

  afterAll(async () => {
    for (const [k, v] of Object.entries(saved)) restoreEnv(k, v);
    await fsp.rm(dir, { recursive: true, force: true });
  });

  const viaChain = (over: Partial<S3BackendOptions>) => {
    const b = createS3Backend({ bucket: BUCKET, endpoint: server.endpoint, ...over });
    opened.push(b);
    return b;
  };

  it('no credentials anywhere: AUTH within 10 s, naming the variables to set', async () => {
    const t0 = Date.now();
    const err = await failure(viaChain({}).read('t/meta/buf.txt'));
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(err.code).toBe('AUTH');
    expect(err.message).toMatch(/AWS_ACCESS_KEY_ID/);
    expect(err.message).toMatch(/AWS_PROFILE/);
  });

  it('a profile supplies the credentials (over env keys), and its secret is scrubbed from messages', async () => {
    process.env.AWS_ACCESS_KEY_ID = 'ENV-KEY-THAT-WOULD-FAIL';
    process.env.AWS_SECRET_ACCESS_KEY = 'env-secret-value';
    try {
      const b = viaChain({ profile: 'flowsync-good' });
      await b.write('t/profile.txt', Buffer.from('via profile'), { size: 11 });
      expect((await collect(await b.read('t/profile.txt'))).toString()).toBe('via profile');
      expect(new FlowsyncError('INTERNAL', 'leak: profile-secret-value-42').message).not.toContain('profile-secret-value-42');
    } finally {
      delete process.env.AWS_ACCESS_KEY_ID;
      delete process.env.AWS_SECRET_ACCESS_KEY;
    }
    expect((await failure(viaChain({ profile: 'flowsync-bad' }).read('t/profile.txt'))).code).toBe('AUTH');
    expect((await failure(viaChain({ profile: 'no-such-profile' }).read('t/profile.txt'))).code).toBe('AUTH');
  });
});

describe('s3 error map (answers s3rver cannot give: regions, throttling, 5xx, permissions)', () => {
  const context = { action: 'read', bucket: 'bkt', key: 'a/b', endpoint: 'AWS S3 (us-east-1)', region: 'us-east-1' };
  // Shaped as the SDK throws them: name = S3 error code, $metadata.httpStatusCode, XML fields copied on.
  const sdkError = (name: string, status?: number, extra: Record<string, unknown> = {}) =>
    Object.assign(new Error(`${name} message`), { name, ...(status ? { $metadata: { httpStatusCode: status } } : {}), ...extra });

  it.each([
    { name: 'InvalidAccessKeyId', status: 403, code: 'AUTH' },
    { name: 'SignatureDoesNotMatch', status: 403, code: 'AUTH' },
    { name: 'ExpiredToken', status: 400, code: 'AUTH' },
    { name: 'AccessDenied', status: 403, code: 'PERMISSION' },
    { name: 'Forbidden', status: 403, code: 'PERMISSION' },
    { name: 'NoSuchBucket', status: 404, code: 'BUCKET_NOT_FOUND' },
    { name: 'NoSuchKey', status: 404, code: 'NOT_FOUND' },
    { name: 'NotFound', status: 404, code: 'NOT_FOUND' },
    { name: 'PreconditionFailed', status: 412, code: 'PRECONDITION_FAILED' },
    { name: 'ConditionalRequestConflict', status: 409, code: 'PRECONDITION_FAILED' },
    { name: 'SlowDown', status: 503, code: 'THROTTLED' },
    { name: 'TooManyRequestsException', status: 429, code: 'THROTTLED' },
    { name: 'InternalError', status: 500, code: 'TRANSIENT' },
    { name: 'BadGateway', status: 502, code: 'TRANSIENT' },
    { name: 'RequestTimeout', status: 400, code: 'TRANSIENT' },
    { name: 'BadDigest', status: 400, code: 'CHECKSUM_MISMATCH' },
    { name: 'XAmzContentSHA256Mismatch', status: 400, code: 'CHECKSUM_MISMATCH' },
    { name: 'NotImplemented', status: 501, code: 'UNSUPPORTED' },
    { name: 'CredentialsProviderError', status: undefined, code: 'AUTH' },
  ] as const)('$name (HTTP $status) -> $code', ({ name, status, code }) => {
    const err = s3Error(sdkError(name, status), context);
    expect(err.code).toBe(code);
    expect(err.message).toContain('bkt');
  });

  it('network failures: refused/unknown host -> UNREACHABLE naming the endpoint; reset -> TRANSIENT', () => {
    for (const code of ['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT']) {
      const err = s3Error(Object.assign(new Error(`connect ${code}`), { code, syscall: code === 'ENOTFOUND' ? 'getaddrinfo' : 'connect' }), context);
      expect(err.code, code).toBe('UNREACHABLE');
      expect(err.message).toContain('AWS S3 (us-east-1)');
    }
    // The SDK names its own connect timeout, and a timeout on a connected socket, TimeoutError.
    const notConnected = Object.assign(new Error('@smithy/node-http-handler - the request socket did not establish a connection with the server within the configured timeout of 5000 ms.'), { name: 'TimeoutError' });
    const idle = Object.assign(new Error('@smithy/node-http-handler - the request socket timed out after 60000 ms of inactivity'), { name: 'TimeoutError' });
    expect(s3Error(idle, context).code).toBe('TRANSIENT');
    expect(s3Error(Object.assign(new Error('read ETIMEDOUT'), { code: 'ETIMEDOUT', syscall: 'read', name: 'TimeoutError' }), context).code).toBe('TRANSIENT');
    expect(s3Error(notConnected, context).code).toBe('UNREACHABLE');
    expect(s3Error(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), context).code).toBe('TRANSIENT');
    expect(s3Error(Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), context).message).toMatch(/AWS_CA_BUNDLE/);
  });

  it('a wrong region names the right one when S3 says it', () => {
    const redirect = s3Error(sdkError('PermanentRedirect', 301, { Endpoint: 'bkt.s3.eu-west-1.amazonaws.com' }), context);
    expect(redirect.code).toBe('INVALID_INPUT');
    expect(redirect.message).toContain('us-east-1');
    expect(redirect.message).toContain('AWS_REGION=eu-west-1');
    const malformed = s3Error(sdkError('AuthorizationHeaderMalformed', 400, { Region: 'ap-south-1' }), context);
    expect(malformed.message).toContain('AWS_REGION=ap-south-1');
    // A HEAD answer has no body, only the x-amz-bucket-region header.
    const head = s3Error(sdkError('301', 301, { $response: { statusCode: 301, headers: { 'x-amz-bucket-region': 'us-west-2' } } }), context);
    expect(head.message).toContain('AWS_REGION=us-west-2');
  });
});

describe('s3 backend over https (self-signed s3rver)', () => {
  let tlsServer: S3rverServer;
  beforeAll(async () => {
    tlsServer = await startS3rver({ buckets: [BUCKET], tls: true });
  });
  afterAll(async () => {
    await tlsServer?.stop();
  });

  it('an untrusted certificate is UNREACHABLE with the fix; tls.caFile trusts it', async () => {
    const err = await failure(backend({ endpoint: tlsServer.endpoint }).stat('x'));
    expect(err.code).toBe('UNREACHABLE');
    expect(err.message).toMatch(/AWS_CA_BUNDLE/);
    const trusted = backend({ endpoint: tlsServer.endpoint, tls: { caFile: tlsServer.caFile! } });
    await trusted.write('t/tls.txt', Buffer.from('over tls'), { size: 8 });
    expect((await collect(await trusted.read('t/tls.txt'))).toString()).toBe('over tls');
    const insecure = backend({ endpoint: tlsServer.endpoint, tls: { rejectUnauthorized: false } });
    expect((await insecure.stat('t/tls.txt'))?.size).toBe(8);
  });
});

describe('s3rver helper', () => {
  it('stops the server by PID and removes its folder', async () => {
    const extra = await startS3rver();
    const { existsSync } = await import('node:fs');
    expect(existsSync(extra.directory)).toBe(true);
    expect(() => process.kill(extra.pid, 0)).not.toThrow();
    await extra.stop();
    expect(() => process.kill(extra.pid, 0)).toThrow();
    expect(existsSync(extra.directory)).toBe(false);
    await extra.stop(); // twice is fine
  });
});

async function drain(it: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of it) void _;
}

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

async function runLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}
