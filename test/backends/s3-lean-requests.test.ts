/**
 * The S3 backend's lean GET and PUT path (src/backends/s3/lean-requests.ts), on s3rver behind a
 * recording pass-through proxy. s3rver does not check signatures, so each lean request's Authorization header
 * is recomputed by botocore (Python's AWS SDK, an independent SigV4 implementation) from the
 * request exactly as it reached the proxy: a wrong canonical path, header or scope would differ.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Backend } from '../../src/backends/s3/backend.js';
import type { Backend } from '../../src/backends/types.js';
import { FlowsyncError } from '../../src/errors.js';
import { collect } from '../../src/util/streams.js';
import { rejection } from '../helpers/rejection.js';
import { S3RVER_ACCESS_KEY_ID, S3RVER_SECRET_ACCESS_KEY, startS3rver, type S3rverServer } from '../servers/s3rver.js';

const BUCKET = 'flowsync-lean-get';
const REGION = 'us-east-1';

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string>;
}

let server: S3rverServer;
let proxy: http.Server;
let proxyEndpoint: string;
const seen: Seen[] = [];
/** The lean requests of the first test, for the signature check. */
const leanRequests: Seen[] = [];
let backend: Backend;

const botocore = (() => {
  try {
    execFileSync('python3', ['-c', 'import botocore'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Signatures botocore computes for these requests (its S3SigV4Auth over the signed headers only). */
function botocoreSignatures(requests: Seen[]): string[] {
  const script = `
import json, sys
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
out = []
for r in json.load(sys.stdin):
    auth = r['headers']['authorization']
    signed = auth.split('SignedHeaders=')[1].split(',')[0].split(';')
    req = AWSRequest(method=r['method'], url=r['url'], headers={k: r['headers'][k] for k in signed})
    req.context['timestamp'] = r['headers']['x-amz-date']
    signer = S3SigV4Auth(Credentials(sys.argv[1], sys.argv[2]), 's3', sys.argv[3])
    canonical = signer.canonical_request(req)
    out.append(signer.signature(signer.string_to_sign(req, canonical), req))
print(json.dumps(out))
`;
  const input = JSON.stringify(requests.map((r) => ({ ...r, url: `${proxyEndpoint}${r.url}` })));
  return JSON.parse(execFileSync('python3', ['-c', script, S3RVER_ACCESS_KEY_ID, S3RVER_SECRET_ACCESS_KEY, REGION], { input, encoding: 'utf8' })) as string[];
}

const isLean = (r: Seen) => r.headers['x-amz-user-agent'] === undefined;

beforeAll(async () => {
  server = await startS3rver({ buckets: [BUCKET] });
  const target = new URL(server.endpoint);
  proxy = http.createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])) });
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyEndpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  backend = createS3Backend({ bucket: BUCKET, endpoint: proxyEndpoint, region: REGION, credentials: { accessKeyId: S3RVER_ACCESS_KEY_ID, secretAccessKey: S3RVER_SECRET_ACCESS_KEY } });
});

afterAll(async () => {
  await backend?.close?.();
  await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
  await server?.stop();
});

describe('s3 backend: requests after the first skip the SDK', () => {
  const names = ['first.txt', "dir one/a b+c=d&e/ü~!'()*;,$@.txt", 'deep/x/y/z.bin', '%41 literally.txt'];
  const body = (name: string) => Buffer.from(`content of ${name}\n`.repeat(50));
  const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();

  it('writes and reads objects and ranges, byte for byte, on the lean path after one SDK request', async () => {
    for (const n of names) {
      const b = body(n);
      await backend.write(n, b, { size: b.length, sha256: sha256(b).toString('hex'), digest: sha256(b), contentType: 'text/plain' });
    }
    const puts = seen.filter((r) => r.method === 'PUT');
    expect(puts).toHaveLength(names.length);
    expect(isLean(puts[0]!)).toBe(false); // the SDK's PUT, which showed the way
    expect(puts.slice(1).every(isLean)).toBe(true);
    expect(puts[1]!.headers['x-amz-checksum-sha256']).toBe(sha256(body(names[1]!)).toString('base64'));
    seen.length = 0;
    for (const n of names) expect(Buffer.from(await collect(await backend.read(n)))).toEqual(body(n));
    const ranged = Buffer.from(await collect(await backend.read(names[1]!, { range: [7, 40] })));
    expect(ranged).toEqual(body(names[1]!).subarray(7, 40));
    const gets = seen.filter((r) => r.method === 'GET');
    expect(gets).toHaveLength(names.length + 1);
    expect(gets.every(isLean)).toBe(true);
    expect(gets.at(-1)!.headers['range']).toBe('bytes=7-39');
    // What a lean PUT stored: the engine's sha256 as metadata, the content type.
    const info = await backend.stat(names[2]!);
    expect(info?.sha256).toBe(sha256(body(names[2]!)).toString('hex'));
    leanRequests.push(...puts.slice(1), ...gets);
  });

  it('a conditional write goes through the SDK', async () => {
    seen.length = 0;
    const b = Buffer.from('pointer');
    await backend.write('pointer.json', b, { size: b.length, sha256: sha256(b).toString('hex'), digest: sha256(b), ifNoneMatch: '*' });
    const puts = seen.filter((r) => r.method === 'PUT');
    expect(puts.map(isLean)).toEqual([false]);
    expect(puts[0]!.headers['if-none-match']).toBe('*');
  });

  it.skipIf(!botocore)('signs each lean GET and PUT exactly as botocore does (without python3-botocore: skipped, saying so)', () => {
    const lean = leanRequests;
    expect(lean.length).toBeGreaterThanOrEqual(8);
    expect(new Set(lean.map((r) => r.method))).toEqual(new Set(['GET', 'PUT']));
    const expected = botocoreSignatures(lean);
    const got = lean.map((r) => /Signature=([0-9a-f]{64})/.exec(r.headers['authorization'] ?? '')?.[1]);
    expect(got).toEqual(expected);
    for (const r of lean) expect(r.headers['authorization']).toContain(`/${REGION}/s3/aws4_request`);
  });

  it('a missing key on the lean path is asked of the SDK again, and is NOT_FOUND as before', async () => {
    seen.length = 0;
    const err = await rejection(backend.read('no/such/key.txt'));
    expect(err).toBeInstanceOf(FlowsyncError);
    expect((err as FlowsyncError).code).toBe('NOT_FOUND');
    expect((err as FlowsyncError).message).toContain('no/such/key.txt');
    const gets = seen.filter((r) => r.method === 'GET');
    expect(gets.map(isLean)).toEqual([true, false]);
  });

  it('an aborted signal stops a lean GET with ABORTED', async () => {
    const ac = new AbortController();
    ac.abort();
    const err = await rejection(backend.read(names[0]!, { signal: ac.signal }));
    expect((err as FlowsyncError).code).toBe('ABORTED');
  });
});

if (!botocore) process.stderr.write('s3-lean-get.test: python3-botocore is not installed: the SigV4 cross-check is skipped (apt-get install python3-botocore)\n');
