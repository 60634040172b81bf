/**
 * The GCS emulator's own tests: its checksums, listing, resumable sessions, preconditions and
 * error shapes over raw HTTP (so the protocol is pinned down independently of any client), and
 * its interplay with the real @google-cloud/storage client.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CRC32C, Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32c, crc32cBase64, RESUMABLE_UNIT, type GcsEmulator } from './gcs-emulator.js';
import { spawnGcsEmulator, startGcs } from './gcs.js';

const KiB = 1024;

describe('crc32c (Castagnoli)', () => {
  it('matches the published check values', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
    // RFC 3720 (iSCSI) appendix B.4 vectors.
    expect(crc32c(Buffer.alloc(32, 0x00))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
    expect(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i)))).toBe(0x46dd794e);
    expect(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i)))).toBe(0x113fdb5c);
  });

  it('continues across chunks and agrees with the SDK implementation', () => {
    const data = randomBytes(100_003);
    expect(crc32c(data.subarray(40_000), crc32c(data.subarray(0, 40_000)))).toBe(crc32c(data));
    const sdk = new CRC32C();
    sdk.update(data);
    expect(crc32cBase64(data)).toBe(sdk.toString());
  });
});

describe('GCS emulator over HTTP', () => {
  let emu: GcsEmulator;
  let base: string;
  beforeAll(async () => {
    emu = await startGcs({ buckets: ['b'] });
    base = emu.endpoint;
  });
  afterAll(() => emu.stop());

  const upload = (name: string, data: Buffer | string, query = '') =>
    fetch(`${base}/upload/storage/v1/b/b/o?uploadType=media&name=${encodeURIComponent(name)}${query}`, { method: 'POST', body: data });
  const json = async (r: Response) => (await r.json()) as Record<string, any>;

  it('stores an object and reports its resource, hashes and media', async () => {
    const data = Buffer.from('hello emulator');
    const r = await upload('dir/hello.txt', data);
    expect(r.status).toBe(200);
    const o = await json(r);
    expect(o).toMatchObject({ name: 'dir/hello.txt', bucket: 'b', size: String(data.length), md5Hash: '' + (await md5b64(data)), crc32c: crc32cBase64(data) });
    expect(o['generation']).toMatch(/^\d+$/);
    const media = await fetch(`${base}/storage/v1/b/b/o/${encodeURIComponent('dir/hello.txt')}?alt=media`);
    expect(media.status).toBe(200);
    expect(media.headers.get('x-goog-hash')).toBe(`crc32c=${o['crc32c']},md5=${o['md5Hash']}`);
    expect(media.headers.get('x-goog-generation')).toBe(o['generation']);
    expect(Buffer.from(await media.arrayBuffer()).toString()).toBe('hello emulator');
  });

  it('serves ranges (206), suffixes, and refuses a range past the end (416)', async () => {
    const data = Buffer.from('0123456789');
    await upload('ranged', data);
    const get = (range: string) => fetch(`${base}/storage/v1/b/b/o/ranged?alt=media`, { headers: { Range: range } });
    const mid = await get('bytes=2-4');
    expect(mid.status).toBe(206);
    expect(mid.headers.get('content-range')).toBe('bytes 2-4/10');
    expect(await mid.text()).toBe('234');
    expect(await (await get('bytes=7-')).text()).toBe('789');
    expect(await (await get('bytes=-3')).text()).toBe('789');
    expect(await (await get('bytes=8-100')).text()).toBe('89');
    expect((await get('bytes=10-12')).status).toBe(416);
  });

  it('lists in UTF-8 order, page by page, with prefixes for a delimiter', async () => {
    const names = Array.from({ length: 25 }, (_, i) => `list/k${String(i).padStart(2, '0')}`);
    names.push('list/sub/a', 'list/sub/b', 'list/\u00e9', 'list/\u{1F680}', 'listing-sibling');
    for (const n of names) await upload(n, n);
    const seen: string[] = [];
    let pageToken: string | undefined;
    let pages = 0;
    do {
      const q = new URLSearchParams({ prefix: 'list/', maxResults: '10', ...(pageToken ? { pageToken } : {}) });
      const page = await json(await fetch(`${base}/storage/v1/b/b/o?${q}`));
      seen.push(...((page['items'] ?? []) as { name: string }[]).map((i) => i.name));
      pageToken = page['nextPageToken'];
      pages++;
    } while (pageToken);
    const expected = names.filter((n) => n.startsWith('list/')).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(seen).toEqual(expected);
    expect(pages).toBe(3);
    expect(seen.at(-1)).toBe('list/\u{1F680}'); // 4-byte UTF-8 sorts after 2-byte é

    const d = await json(await fetch(`${base}/storage/v1/b/b/o?prefix=list%2F&delimiter=%2F&maxResults=1000`));
    expect(d['prefixes']).toEqual(['list/sub/']);
    expect((d['items'] as unknown[]).length).toBe(expected.length - 2);
  });

  it('runs a resumable session: 256 KiB units, status query, finish, 499 on cancel', async () => {
    const data = randomBytes(RESUMABLE_UNIT + 100 * KiB);
    const pendingBefore = emu.pendingUploads();
    const init = await fetch(`${base}/upload/storage/v1/b/b/o?uploadType=resumable&name=big%2Fone`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Upload-Content-Length': String(data.length) },
      body: JSON.stringify({ contentType: 'application/x-test', metadata: { sha256: 'abc' } }),
    });
    expect(init.status).toBe(200);
    const session = init.headers.get('location')!;
    expect(session).toContain('upload_id=');
    expect(emu.pendingUploads()).toBe(pendingBefore + 1);

    // A non-final chunk that is not a whole number of units: only the whole unit is kept.
    const first = data.subarray(0, RESUMABLE_UNIT + 10 * KiB);
    const r1 = await fetch(session, { method: 'PUT', headers: { 'Content-Range': `bytes 0-${first.length - 1}/*` }, body: first });
    expect(r1.status).toBe(308);
    expect(r1.headers.get('range')).toBe(`bytes=0-${RESUMABLE_UNIT - 1}`);
    const status = await fetch(session, { method: 'PUT', headers: { 'Content-Range': 'bytes */*' } });
    expect(status.status).toBe(308);
    expect(status.headers.get('range')).toBe(`bytes=0-${RESUMABLE_UNIT - 1}`);
    // A gap is refused.
    const gap = await fetch(session, { method: 'PUT', headers: { 'Content-Range': `bytes ${RESUMABLE_UNIT + 1}-${RESUMABLE_UNIT + 1}/*` }, body: Buffer.alloc(1) });
    expect(gap.status).toBe(400);

    const rest = data.subarray(RESUMABLE_UNIT);
    const done = await fetch(session, {
      method: 'PUT',
      headers: { 'Content-Range': `bytes ${RESUMABLE_UNIT}-${data.length - 1}/${data.length}`, 'X-Goog-Hash': `md5=${await md5b64(data)}` },
      body: rest,
    });
    expect(done.status).toBe(200);
    const o = await json(done);
    expect(o).toMatchObject({ name: 'big/one', size: String(data.length), contentType: 'application/x-test', metadata: { sha256: 'abc' } });
    expect(emu.pendingUploads()).toBe(pendingBefore);
    const media = Buffer.from(await (await fetch(`${base}/storage/v1/b/b/o/big%2Fone?alt=media`)).arrayBuffer());
    expect(media.equals(data)).toBe(true);
    // A finished session answers a status query with the object.
    expect((await fetch(session, { method: 'PUT', headers: { 'Content-Range': 'bytes */*' } })).status).toBe(200);

    const init2 = await fetch(`${base}/upload/storage/v1/b/b/o?uploadType=resumable&name=cancelled`, { method: 'POST' });
    const session2 = init2.headers.get('location')!;
    expect((await fetch(session2, { method: 'DELETE' })).status).toBe(499);
    expect((await fetch(session2, { method: 'PUT', headers: { 'Content-Range': 'bytes */*' } })).status).toBe(404);
    expect(emu.pendingUploads()).toBe(pendingBefore);
  });

  it('refuses a final chunk whose X-Goog-Hash does not match, and stores nothing', async () => {
    const init = await fetch(`${base}/upload/storage/v1/b/b/o?uploadType=resumable&name=bad-hash`, { method: 'POST' });
    const r = await fetch(init.headers.get('location')!, {
      method: 'PUT',
      headers: { 'Content-Range': 'bytes 0-4/5', 'X-Goog-Hash': `md5=${await md5b64(Buffer.from('other'))}` },
      body: 'hello',
    });
    expect(r.status).toBe(400);
    expect((await json(r))['error']['message']).toMatch(/MD5/);
    expect((await fetch(`${base}/storage/v1/b/b/o/bad-hash`)).status).toBe(404);
  });

  it('honours ifGenerationMatch / ifGenerationNotMatch on writes and deletes', async () => {
    const first = await json(await upload('cond', 'v1', '&ifGenerationMatch=0'));
    expect((await upload('cond', 'v2', '&ifGenerationMatch=0')).status).toBe(412);
    const second = await json(await upload('cond', 'v2', `&ifGenerationMatch=${first['generation']}`));
    expect(BigInt(second['generation'])).toBeGreaterThan(BigInt(first['generation']));
    expect((await upload('cond', 'v3', `&ifGenerationMatch=${first['generation']}`)).status).toBe(412);
    expect((await upload('cond', 'v3', `&ifGenerationNotMatch=${second['generation']}`)).status).toBe(412);
    expect((await fetch(`${base}/storage/v1/b/b/o/cond?ifGenerationMatch=${first['generation']}`, { method: 'DELETE' })).status).toBe(412);
    const resumable = await fetch(`${base}/upload/storage/v1/b/b/o?uploadType=resumable&name=cond&ifGenerationMatch=0`, { method: 'POST' });
    expect(resumable.status).toBe(412);
    expect(await (await fetch(`${base}/storage/v1/b/b/o/cond?alt=media`)).text()).toBe('v2');
  });

  it('answers GCS-shaped JSON errors: 404 for a missing bucket or object, 409 for an existing bucket, 400 for a bad name', async () => {
    const noBucket = await fetch(`${base}/storage/v1/b/nope/o/x`);
    expect(noBucket.status).toBe(404);
    expect(await json(noBucket)).toEqual({
      error: { code: 404, message: 'The specified bucket does not exist.', errors: [{ message: 'The specified bucket does not exist.', domain: 'global', reason: 'notFound' }] },
    });
    const noObject = await json(await fetch(`${base}/storage/v1/b/b/o/missing%2Fkey`));
    expect(noObject['error']['message']).toBe('No such object: b/missing/key');
    const create = () => fetch(`${base}/storage/v1/b?project=p`, { method: 'POST', body: JSON.stringify({ name: 'twice-created' }) });
    expect((await create()).status).toBe(200);
    expect((await create()).status).toBe(409);
    const tooShort = await fetch(`${base}/storage/v1/b?project=p`, { method: 'POST', body: JSON.stringify({ name: 'x' }) });
    expect(tooShort.status).toBe(400);
  });

  it('accepts the JSON API without /storage/v1 (how the SDK uses STORAGE_EMULATOR_HOST)', async () => {
    await upload('bare-path', 'x');
    expect((await json(await fetch(`${base}/b/b/o/bare-path`)))['name']).toBe('bare-path');
  });

  it('injects faults and counts requests', async () => {
    const before = emu.requests();
    emu.injectFault({ status: 503, count: 2, pathIncludes: '/o/faulty' });
    expect((await fetch(`${base}/storage/v1/b/b/o/faulty`)).status).toBe(503);
    expect((await fetch(`${base}/storage/v1/b/b/o/faulty`)).status).toBe(503);
    expect((await fetch(`${base}/storage/v1/b/b/o/faulty`)).status).toBe(404);
    expect(emu.requests()).toBe(before + 3);
  });
});

describe('GCS emulator with @google-cloud/storage', () => {
  let emu: GcsEmulator;
  let storage: Storage;
  const log: string[] = [];
  beforeAll(async () => {
    emu = await startGcs({ log: (line) => log.push(line) });
    storage = new Storage({ apiEndpoint: emu.endpoint, useAuthWithCustomEndpoint: false, projectId: 'test', retryOptions: { autoRetry: false } });
  });
  afterAll(() => emu.stop());

  it('creates a bucket and round-trips names with %2F, +, spaces and unicode', async () => {
    await storage.createBucket('sdk');
    const bucket = storage.bucket('sdk');
    const names = ['a/b%2Fc.txt', 'x+y z.txt', '\u00fcber/\u65e5\u672c.txt', 'rocket \u{1F680}'];
    for (const n of names) await bucket.file(n).save(Buffer.from(n), { resumable: false });
    for (const n of names) {
      const [m] = await bucket.file(n).getMetadata();
      expect(m.name).toBe(n);
      const [content] = await bucket.file(n).download();
      expect(content.toString()).toBe(n);
    }
    const [files] = await bucket.getFiles();
    expect(files.map((f) => f.name).sort()).toEqual([...names].sort());
    expect(log.some((l) => l.startsWith('POST /upload/storage/v1/b/sdk/o?uploadType=multipart'))).toBe(true);
  });

  it("takes the SDK's resumable uploads, chunked and streamed in one request", async () => {
    const bucket = storage.bucket('sdk');
    const data = randomBytes(3 * RESUMABLE_UNIT + 1234);
    await bucket.file('chunked').save(data, { resumable: true, chunkSize: RESUMABLE_UNIT });
    await pipeline(Readable.from([data.subarray(0, 1000), data.subarray(1000)]), bucket.file('streamed').createWriteStream({ resumable: true }));
    for (const name of ['chunked', 'streamed']) expect((await bucket.file(name).download())[0].equals(data)).toBe(true);
    expect(emu.pendingUploads()).toBe(0);
  });

  it('lets the SDK detect bytes that rotted in storage', async () => {
    const file = storage.bucket('sdk').file('rotting');
    await file.save(Buffer.from('precious bytes'), { resumable: false });
    emu.tamper('sdk', 'rotting', (d) => Buffer.concat([d.subarray(0, 3), Buffer.from('X'), d.subarray(4)]));
    await expect(file.download({ validation: 'crc32c' })).rejects.toMatchObject({ code: 'CONTENT_DOWNLOAD_MISMATCH' });
  });

  it('requires an Authorization header when asked to, as GCS does', async () => {
    const strict = await startGcs({ buckets: ['locked'], requireAuth: true });
    try {
      const anonymous = new Storage({ apiEndpoint: strict.endpoint, projectId: 'test', retryOptions: { autoRetry: false } });
      await expect(anonymous.bucket('locked').file('x').getMetadata()).rejects.toMatchObject({ code: 401 });
    } finally {
      await strict.stop();
    }
  });
});

describe('GCS emulator as a child process', () => {
  it('starts from its command line, serves, reports stats and stops by PID', async () => {
    const child = await spawnGcsEmulator({ buckets: ['outside'] });
    let stopped = false;
    try {
      expect(child.endpoint).toBe(`http://127.0.0.1:${child.port}`);
      const storage = new Storage({ apiEndpoint: child.endpoint, projectId: 'test', retryOptions: { autoRetry: false } });
      await storage.bucket('outside').file('k').save(Buffer.from('v'), { resumable: false });
      const stats = await child.stats();
      expect(stats).toMatchObject({ pendingUploads: 0, buckets: ['outside'] });
      expect(stats.requests).toBeGreaterThanOrEqual(1);
      // The control API steers an emulator in another process: a fault, then a reset.
      const fault = await fetch(`${child.endpoint}/_emulator/fault`, { method: 'POST', body: JSON.stringify({ status: 503, pathIncludes: '/o/k' }) });
      expect(fault.status).toBe(204);
      expect((await fetch(`${child.endpoint}/storage/v1/b/outside/o/k`)).status).toBe(503);
      expect((await fetch(`${child.endpoint}/storage/v1/b/outside/o/k`)).status).toBe(200);
      expect((await fetch(`${child.endpoint}/_emulator/reset`, { method: 'POST' })).status).toBe(204);
      expect((await fetch(`${child.endpoint}/storage/v1/b/outside/o/k`)).status).toBe(404);
      await child.stop();
      stopped = true;
      expect(() => process.kill(child.pid, 0)).toThrow(); // the process is gone
    } finally {
      if (!stopped) await child.stop();
    }
  });
});

async function md5b64(data: Buffer): Promise<string> {
  const { createHash } = await import('node:crypto');
  return createHash('md5').update(data).digest('base64');
}
