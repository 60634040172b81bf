/**
 * Azure-specific behaviour of the Azure Blob backend, against a real Azurite: credential and
 * endpoint failures, folder markers, server-side Content-MD5 and conditional-write checks, SAS,
 * environment resolution, and a small-PUT throughput figure.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import {
  ContainerClient,
  ContainerSASPermissions,
  StorageSharedKeyCredential,
  generateBlobSASQueryParameters,
} from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAzureBackend, type AzureBackendOptions } from '../../src/backends/azure/backend.js';
import { openRemote } from '../../src/backends/open.js';
import { withRetries } from '../../src/backends/retrying.js';
import type { Backend } from '../../src/backends/types.js';
import { ByteBudget } from '../../src/transfer/budget.js';
import type { TransferContext } from '../../src/transfer/context.js';
import { deleteKeys } from '../../src/transfer/delete.js';
import { uploadStream } from '../../src/transfer/stream-parts.js';
import { Progress } from '../../src/util/progress.js';
import { FlowsyncError, type ErrorCode } from '../../src/errors.js';
import { collect } from '../../src/util/streams.js';
import { chunkedReadable, seededBytes } from '../conformance/data.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, type AzuriteServer } from '../servers/azurite.js';

const CONTAINER = 'flowsync-test';
const FAST_FAIL_MS = 10_000;

let server: AzuriteServer;
let sdk: ContainerClient; // direct SDK access, to set up and inspect what the backend cannot

beforeAll(async () => {
  server = await startAzurite({ containers: [CONTAINER] });
  sdk = new ContainerClient(server.connectionString, CONTAINER);
});

afterAll(async () => {
  await server?.stop();
});

function backendWith(o: Partial<AzureBackendOptions> = {}): Backend {
  return createAzureBackend({ container: CONTAINER, connectionString: server.connectionString, ...o });
}

const sha256 = (d: Uint8Array) => createHash('sha256').update(d).digest('hex');
const md5 = (d: Uint8Array) => createHash('md5').update(d).digest();

/** What uploadStream needs of the engine: a byte budget and a progress nobody listens to. */
function streamContext(backend: Backend): TransferContext {
  return { backend, budget: new ByteBudget(64 * 1024 * 1024), progress: new Progress(), partConcurrency: 4 };
}
const folder = () => `t-${randomBytes(4).toString('hex')}`;

/** Runs `action`, expects a FlowsyncError with `code`, and returns it with the time taken. */
async function failure(action: () => Promise<unknown>, code: ErrorCode): Promise<{ err: FlowsyncError; ms: number }> {
  const started = performance.now();
  let outcome: unknown;
  try {
    await action();
  } catch (e) {
    outcome = e;
  }
  const ms = performance.now() - started;
  expect(outcome, `expected FlowsyncError ${code}, but it succeeded`).toBeInstanceOf(FlowsyncError);
  expect((outcome as FlowsyncError).code, (outcome as Error).message).toBe(code);
  return { err: outcome as FlowsyncError, ms };
}

async function listKeys(b: Backend, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of b.list(prefix)) keys.push(o.key);
  return keys.sort();
}

/** A port nothing listens on: bind one, then close it. */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

interface Faults {
  /** Flip one byte in the request body, as a corrupting network would. Shared Key signatures do not cover the body, so only the MD5 check can notice. */
  corruptRequest?: (req: http.IncomingMessage) => boolean;
  /** Send only the first half of the response body, then cut the connection. */
  truncateResponse?: (req: http.IncomingMessage) => boolean;
}

/** A proxy in front of Azurite that injects network faults into matching requests. */
async function faultyProxy(target: URL, faults: Faults): Promise<{ endpoint: string; corrupted: () => number; truncated: () => number; close: () => Promise<void> }> {
  let corrupted = 0;
  let truncated = 0;
  const proxy = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    if (body.length > 0 && faults.corruptRequest?.(req)) {
      body[body.length >> 1]! ^= 0x01;
      corrupted++;
    }
    const upstream = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      async (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        if (!faults.truncateResponse?.(req)) return void up.pipe(res);
        const parts: Buffer[] = [];
        for await (const c of up) parts.push(c as Buffer);
        const whole = Buffer.concat(parts);
        truncated++;
        res.write(whole.subarray(0, whole.length >> 1), () => res.socket?.destroy());
      },
    );
    upstream.on('error', () => res.destroy());
    upstream.end(body);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const { port } = proxy.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`,
    corrupted: () => corrupted,
    truncated: () => truncated,
    close: () =>
      new Promise<void>((resolve) => {
        proxy.closeAllConnections();
        proxy.close(() => resolve());
      }),
  };
}

function containerSas(permissions: string): string {
  return generateBlobSASQueryParameters(
    { containerName: CONTAINER, permissions: ContainerSASPermissions.parse(permissions), expiresOn: new Date(Date.now() + 3_600_000) },
    new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
  ).toString();
}

describe('credentials and endpoints fail fast with a clear code', () => {
  it('a wrong account key is AUTH on stat, read, list and write, each in < 10 s', async () => {
    const wrongKey = Buffer.alloc(64, 7).toString('base64');
    const b = createAzureBackend({ container: CONTAINER, accountUrl: server.endpoint, accountName: AZURITE_ACCOUNT, accountKey: wrongKey });
    for (const [what, action] of [
      ['stat', () => b.stat('x')],
      ['read', () => b.read('x')],
      ['list', () => listKeys(b, '')],
      ['write', () => b.write('x', Buffer.from('x'), { size: 1 })],
    ] as const) {
      const { err, ms } = await failure(action, 'AUTH');
      expect(ms, `${what} took ${ms} ms`).toBeLessThan(FAST_FAIL_MS);
      expect(err.message).toMatch(/credentials/);
      expect(err.message, 'a wrong key must not be echoed').not.toContain(wrongKey);
    }
  });

  it('a missing container is BUCKET_NOT_FOUND naming the container and how to create it', async () => {
    const b = createAzureBackend({ container: 'no-such-container', connectionString: server.connectionString });
    for (const action of [() => b.stat('k'), () => b.read('k'), () => listKeys(b, ''), () => b.write('k', Buffer.from('k'), { size: 1 })]) {
      const { err } = await failure(action, 'BUCKET_NOT_FOUND');
      expect(err.message).toContain('"no-such-container"');
      expect(err.message).toMatch(/Create it/);
    }
  });

  it('an endpoint that refuses connections is UNREACHABLE in < 10 s', async () => {
    const port = await closedPort();
    const b = createAzureBackend({ container: CONTAINER, accountUrl: `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`, accountName: AZURITE_ACCOUNT, accountKey: AZURITE_KEY });
    for (const action of [() => b.stat('k'), () => listKeys(b, ''), () => b.write('k', Buffer.from('k'), { size: 1 })]) {
      const { err, ms } = await failure(action, 'UNREACHABLE');
      expect(ms).toBeLessThan(FAST_FAIL_MS);
      expect(err.message).toMatch(/ECONNREFUSED/);
    }
  });

  it('a host name that does not resolve is UNREACHABLE in < 10 s', async () => {
    const b = createAzureBackend({ container: CONTAINER, accountUrl: `http://no-such-host.invalid/${AZURITE_ACCOUNT}`, accountName: AZURITE_ACCOUNT, accountKey: AZURITE_KEY });
    const { ms } = await failure(() => b.stat('k'), 'UNREACHABLE');
    expect(ms).toBeLessThan(FAST_FAIL_MS);
  });

  it('no credentials at all is AUTH naming the environment variables to set', async () => {
    const b = createAzureBackend({ container: CONTAINER, env: {} });
    const { err } = await failure(() => b.stat('k'), 'AUTH');
    expect(err.message).toContain('AZURE_STORAGE_CONNECTION_STRING');
    expect(err.message).toContain('AZURE_STORAGE_KEY');
  });

  it('an account without key or SAS on an http endpoint is AUTH (Azure AD needs https)', async () => {
    const b = createAzureBackend({ container: CONTAINER, endpoint: server.endpoint, env: { AZURE_STORAGE_ACCOUNT: AZURITE_ACCOUNT } });
    const { err } = await failure(() => b.stat('k'), 'AUTH');
    expect(err.message).toMatch(/https/);
  });

  it('an invalid container name is refused before any request', () => {
    expect(() => createAzureBackend({ container: 'Bad_Name', connectionString: server.connectionString })).toThrow(/container name/);
  });
});

describe('credential sources', () => {
  it('AZURE_STORAGE_CONNECTION_STRING from the environment', async () => {
    const b = createAzureBackend({ container: CONTAINER, env: server.env });
    const key = `${folder()}/env-cs`;
    await b.write(key, Buffer.from('via env'), { size: 7 });
    expect((await b.stat(key))?.size).toBe(7);
  });

  it('AZURE_STORAGE_ACCOUNT + AZURE_STORAGE_KEY with an explicit endpoint', async () => {
    const b = createAzureBackend({ container: CONTAINER, endpoint: server.endpoint, env: { AZURE_STORAGE_ACCOUNT: AZURITE_ACCOUNT, AZURE_STORAGE_KEY: AZURITE_KEY } });
    const key = `${folder()}/env-key`;
    await b.write(key, Buffer.from('via key'), { size: 7 });
    expect((await b.stat(key))?.size).toBe(7);
  });

  it('az:// remotes open the Azure backend through openRemote', async () => {
    const remote = await openRemote(`az://${CONTAINER}/some/folder/`, { azure: { env: server.env } });
    expect(remote.backend.name).toBe('azure');
    expect(remote.prefix).toBe('some/folder');
    const key = `${remote.prefix}/${folder()}`;
    await remote.backend.write(key, Buffer.from('r'), { size: 1 });
    expect(await remote.backend.stat(key)).not.toBeNull();
  });

  it('a container SAS reads, writes, lists and deletes (one blob per request, no batch)', async () => {
    const b = createAzureBackend({ container: CONTAINER, accountUrl: server.endpoint, sasToken: containerSas('racwdl') });
    const dir = folder();
    const keys = [`${dir}/a`, `${dir}/b`, `${dir}/c`];
    for (const k of keys) await b.write(k, Buffer.from(k), { size: k.length });
    expect(await listKeys(b, `${dir}/`)).toEqual(keys);
    expect((await collect(await b.read(keys[0]!))).toString()).toBe(keys[0]);
    await deleteKeys(b, [...keys, `${dir}/missing`]);
    expect(await listKeys(b, `${dir}/`)).toEqual([]);
  });

  it('a tampered SAS is AUTH, and neither the message nor the inspected error shows the signature', async () => {
    const good = new URLSearchParams(containerSas('racwdl'));
    const sig = Buffer.alloc(32, 9).toString('base64');
    good.set('sig', sig);
    const sasToken = good.toString();
    const b = createAzureBackend({ container: CONTAINER, accountUrl: server.endpoint, sasToken });
    const { err } = await failure(() => b.read(`${folder()}/x`), 'AUTH');
    const shown = `${err.message}\n${inspect(err, { depth: 6 })}`;
    expect(shown).not.toContain(sig);
    expect(shown).not.toContain(encodeURIComponent(sig));
    const requestUrl = (err.cause as { request?: { url?: string } }).request?.url;
    expect(requestUrl, 'the failed request is kept on the cause').toContain('/x');
    expect(requestUrl).not.toContain(encodeURIComponent(sig));
  });

  it('a read-only SAS writing is PERMISSION', async () => {
    const b = createAzureBackend({ container: CONTAINER, accountUrl: server.endpoint, sasToken: containerSas('rl') });
    await failure(() => b.write(`${folder()}/ro`, Buffer.from('x'), { size: 1 }), 'PERMISSION');
  });
});

describe('listing skips folder placeholders', () => {
  it('a "dir/" blob and an ADLS Gen2 folder marker (hdi_isfolder=true) are not listed', async () => {
    const dir = folder();
    await sdk.getBlockBlobClient(`${dir}/sub/`).upload('', 0);
    await sdk.getBlockBlobClient(`${dir}/adls-dir`).upload('', 0, { metadata: { hdi_isfolder: 'true' } });
    await sdk.getBlockBlobClient(`${dir}/sub/file.txt`).upload('data', 4);
    // Proves the markers really exist on the server, so their absence below means something.
    const raw: string[] = [];
    for await (const item of sdk.listBlobsFlat({ prefix: `${dir}/` })) raw.push(item.name);
    expect(raw.sort()).toEqual([`${dir}/adls-dir`, `${dir}/sub/`, `${dir}/sub/file.txt`]);

    const listed: { key: string; size: number }[] = [];
    for await (const o of backendWith().list(`${dir}/`)) listed.push({ key: o.key, size: o.size });
    expect(listed).toEqual([{ key: `${dir}/sub/file.txt`, size: 4 }]);
  });
});

describe('server-side integrity and conditions (Azurite enforces them)', () => {
  it('a staged block corrupted in transit is refused by its Content-MD5: CHECKSUM_MISMATCH, nothing committed', async () => {
    const proxy = await faultyProxy(new URL(server.endpoint), { corruptRequest: (req) => req.method === 'PUT' && /[?&]comp=block(&|$)/.test(req.url ?? '') });
    try {
      const b = createAzureBackend({ container: CONTAINER, accountUrl: proxy.endpoint, accountName: AZURITE_ACCOUNT, accountKey: AZURITE_KEY });
      const key = `${folder()}/corrupt-block`;
      const data = seededBytes(300_000, 'block');
      const writer = await b.openMultipart!(key, { size: data.length, sha256: sha256(data), partSize: 200_000 });
      const part = data.subarray(0, 200_000);
      // The engine's Content-MD5 of the part (features.transportDigest 'md5'): Azurite checks the corrupted body against it.
      const { err } = await failure(() => writer.writePart(1, part, { digest: md5(part) }), 'CHECKSUM_MISMATCH');
      expect(err.retryable).toBe(true);
      expect(proxy.corrupted()).toBe(1);
      await writer.abort();
      expect(await backendWith().stat(key)).toBeNull();
    } finally {
      await proxy.close();
    }
  });

  it('a Put Blob corrupted in transit is refused by its Content-MD5: CHECKSUM_MISMATCH, old content kept', async () => {
    const key = `${folder()}/corrupt-put`;
    const old = Buffer.from('old content');
    await backendWith().write(key, old, { size: old.length });
    const proxy = await faultyProxy(new URL(server.endpoint), { corruptRequest: (req) => req.method === 'PUT' && !(req.url ?? '').includes('comp=') });
    try {
      const b = createAzureBackend({ container: CONTAINER, accountUrl: proxy.endpoint, accountName: AZURITE_ACCOUNT, accountKey: AZURITE_KEY });
      const data = Buffer.from('new content that gets corrupted');
      await failure(() => b.write(key, data, { size: data.length, sha256: sha256(data), digest: md5(data) }), 'CHECKSUM_MISMATCH');
      expect(proxy.corrupted()).toBe(1);
    } finally {
      await proxy.close();
    }
    expect((await collect(await backendWith().read(key))).toString()).toBe('old content');
  });

  it('conditional writes of the manifest are refused by Azurite itself (409/412 from the server)', async () => {
    const b = backendWith();
    const key = `${folder()}/.flowsync/manifest.json`;
    const v1 = Buffer.from('{"v":1}');
    const first = await b.write(key, v1, { size: v1.length, ifNoneMatch: '*' });

    const again = await failure(() => b.write(key, Buffer.from('{"v":"x"}'), { size: 9, ifNoneMatch: '*' }), 'PRECONDITION_FAILED');
    expect((again.err.cause as { statusCode?: number }).statusCode, 'refused by the server, not by the backend').toBe(409);

    const v2 = Buffer.from('{"v":2}');
    const second = await b.write(key, v2, { size: v2.length, ifMatch: first.etag! });
    expect(second.etag).not.toBe(first.etag);
    const stale = await failure(() => b.write(key, Buffer.from('{"v":3}'), { size: 7, ifMatch: first.etag! }), 'PRECONDITION_FAILED');
    expect((stale.err.cause as { statusCode?: number }).statusCode).toBe(412);

    // The same conditions on a block-list commit (multipart path).
    const writer = await b.openMultipart!(key, { size: 7, ifMatch: first.etag!, partSize: 4 });
    await writer.writePart(1, Buffer.from('{"v"'), {});
    await writer.writePart(2, Buffer.from(':4}'), {});
    await failure(() => writer.complete({ size: 7 }), 'PRECONDITION_FAILED');
    await writer.abort();
    expect((await collect(await b.read(key))).toString()).toBe('{"v":2}');
  });

  it('a multipart upload racing an ifNoneMatch create loses cleanly', async () => {
    const b = backendWith();
    const key = `${folder()}/race`;
    const writer = await b.openMultipart!(key, { size: 2, ifNoneMatch: '*', partSize: 1 });
    await writer.writePart(2, Buffer.from('b'), {});
    await writer.writePart(1, Buffer.from('a'), {});
    await b.write(key, Buffer.from('winner'), { size: 6 });
    await failure(() => writer.complete({ size: 2 }), 'PRECONDITION_FAILED');
    expect((await collect(await b.read(key))).toString()).toBe('winner');
  });
});

describe('reads over a faulty network', () => {
  const viaProxy = (endpoint: string) => createAzureBackend({ container: CONTAINER, accountUrl: endpoint, accountName: AZURITE_ACCOUNT, accountKey: AZURITE_KEY });

  it('a body cut off mid-way fails the read stream with TRANSIENT (not ABORTED); reading again gets it whole', async () => {
    const key = `${folder()}/cut-once`;
    const data = seededBytes(1_000_000, 'cut-once');
    await backendWith().write(key, data, { size: data.length });
    let gets = 0;
    const proxy = await faultyProxy(new URL(server.endpoint), { truncateResponse: (req) => req.method === 'GET' && gets++ === 0 });
    try {
      const b = viaProxy(proxy.endpoint);
      const { err } = await failure(async () => collect(await b.read(key)), 'TRANSIENT');
      expect(err.retryable).toBe(true);
      expect(proxy.truncated()).toBe(1);
      expect(sha256(await collect(await b.read(key)))).toBe(sha256(data));
    } finally {
      await proxy.close();
    }
  });

  it('through the retry decorator, a body cut off mid-way resumes with a ranged read and yields the exact bytes', async () => {
    const key = `${folder()}/cut-resume`;
    const data = seededBytes(1_000_000, 'cut-resume');
    await backendWith().write(key, data, { size: data.length });
    const ranges: (string | undefined)[] = [];
    const proxy = await faultyProxy(new URL(server.endpoint), {
      truncateResponse: (req) => {
        if (req.method !== 'GET') return false;
        ranges.push(req.headers['x-ms-range'] as string | undefined);
        return ranges.length === 1;
      },
    });
    try {
      const retries: number[] = [];
      const b = withRetries(viaProxy(proxy.endpoint), { baseDelayMs: 1 });
      const got = await collect(await b.read(key, { onRetry: (_e, attempt) => retries.push(attempt) }));
      expect(sha256(got)).toBe(sha256(data));
      expect(proxy.truncated()).toBe(1);
      expect(retries).toEqual([1]);
      // The second GET asks for the rest only, from the first byte not yet delivered.
      expect(ranges).toHaveLength(2);
      expect(ranges[1]).toMatch(/^bytes=[1-9]\d*-/);
      const from = Number(/^bytes=(\d+)-/.exec(ranges[1]!)![1]);
      expect(from).toBeGreaterThan(0);
      expect(from).toBeLessThan(data.length);
    } finally {
      await proxy.close();
    }
  });

  it('aborting in the middle of a read fails the stream with ABORTED', async () => {
    const key = `${folder()}/abort-mid-read`;
    const data = seededBytes(8 * 1024 * 1024, 'abort');
    await backendWith().write(key, data, { size: data.length });
    const ac = new AbortController();
    const stream = await backendWith().read(key, { signal: ac.signal });
    let received = 0;
    await failure(async () => {
      for await (const chunk of stream) {
        received += (chunk as Buffer).length;
        ac.abort();
      }
    }, 'ABORTED');
    expect(received).toBeLessThan(data.length);
  });
});

describe('what the backend stores', () => {
  it('Put Blob stores Content-MD5, content type and metadata (with "-" kept as "_" on Azure)', async () => {
    const key = `${folder()}/props`;
    const data = Buffer.from('print("hi")\n');
    await backendWith().write(key, data, { size: data.length, sha256: sha256(data), contentType: 'text/x-python', metadata: { 'flowsync-mode': '493' } });
    const p = await sdk.getBlockBlobClient(key).getProperties();
    expect(Buffer.from(p.contentMD5!).toString('hex')).toBe(createHash('md5').update(data).digest('hex'));
    expect(p.contentType).toBe('text/x-python');
    expect(p.metadata).toEqual({ flowsync_mode: '493', sha256: sha256(data) });
    const st = await backendWith().stat(key);
    expect(st?.metadata).toEqual({ 'flowsync-mode': '493', sha256: sha256(data) });
  });

  it("the engine's uploadStream of a Readable over 16 MiB goes up in 8 MiB blocks, each with its Content-MD5", async () => {
    const key = `${folder()}/big-stream`;
    const data = seededBytes(17 * 1024 * 1024 + 12_345, 'stream');
    const b = backendWith();
    const result = await uploadStream(streamContext(b), key, chunkedReadable(data, 256 * 1024));
    expect({ size: result.size, sha256: result.sha256 }).toEqual({ size: data.length, sha256: sha256(data) });
    const blocks = await sdk.getBlockBlobClient(key).getBlockList('committed');
    expect(blocks.committedBlocks?.map((x) => x.size)).toEqual([8 * 1024 * 1024, 8 * 1024 * 1024, 1024 * 1024 + 12_345]);
    expect(sha256(await collect(await b.read(key)))).toBe(sha256(data));
  });

  it('an uploadStream whose source fails mid-way commits nothing', async () => {
    const key = `${folder()}/big-stream-broken`;
    const data = seededBytes(9 * 1024 * 1024, 'stream-bad');
    const broken = (async function* () {
      yield data;
      throw Object.assign(new Error('disk went away'), { code: 'EIO' });
    })();
    await expect(uploadStream(streamContext(backendWith()), key, broken)).rejects.toThrow('disk went away');
    expect(await backendWith().stat(key)).toBeNull();
  });

  it('two uploads of one blob at once do not mix their blocks', async () => {
    const b = backendWith();
    const key = `${folder()}/two-writers`;
    const a = Buffer.alloc(6, 'a');
    const z = Buffer.alloc(6, 'z');
    const wa = await b.openMultipart!(key, { size: 6, sha256: sha256(a), partSize: 3 });
    const wz = await b.openMultipart!(key, { size: 6, sha256: sha256(z), partSize: 3 });
    await wa.writePart(1, a.subarray(0, 3), {});
    await wz.writePart(1, z.subarray(0, 3), {});
    await wz.writePart(2, z.subarray(3), {});
    await wa.writePart(2, a.subarray(3), {});
    await wz.complete({ size: 6 });
    expect((await collect(await b.read(key))).toString()).toBe('zzzzzz');
  });
});

describe('throughput', () => {
  it('small PUTs per second at 16 and 64 in flight (1 KiB objects)', async (ctx) => {
    const b = backendWith();
    const count = 400;
    const data = randomBytes(1024);
    const results: string[] = [];
    for (const inFlight of [16, 64]) {
      const dir = folder();
      const keys = Array.from({ length: count }, (_, i) => `${dir}/f${i}`);
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          while (next < keys.length) await b.write(keys[next++]!, data, { size: data.length, sha256: sha256(data) });
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      results.push(`${inFlight} in flight: ${Math.round(count / seconds)} PUT/s`);
      expect((await listKeys(b, `${dir}/`)).length).toBe(count);
      await deleteKeys(b, keys);
    }
    const line = `Azurite small-PUT throughput (${count} × 1 KiB): ${results.join(', ')}`;
    console.log(line);
    await ctx.annotate(line);
  }, 120_000);
});
