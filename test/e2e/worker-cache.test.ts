/**
 * The worker's content cache (DESIGN §12) on real stores: a local folder store with 5,000 files
 * (reads counted by a pass-through around the real backend) and s3rver behind a counting HTTP
 * proxy. A second fresh folder costs the manifest and nothing else; a corrupted entry is caught
 * and downloaded again; concurrent pulls share the cache; the size bound holds; two pulls into
 * one folder never interleave.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCountingProxy, type CountingProxy } from '../../bench/infra/proxy.js';
import { manifestKey } from '../../src/backends/keys.js';
import { createLocalBackend } from '../../src/backends/local.js';
import type { Backend } from '../../src/backends/types.js';
import { listEntries } from '../../src/cache/cache-usage.js';
import { pull, push } from '../../src/index.js';
import { compareTrees, excludeFlowsyncState } from '../helpers/tree.js';
import { S3RVER_ACCESS_KEY_ID, S3RVER_REGION, S3RVER_SECRET_ACCESS_KEY, startS3rver, type S3rverServer } from '../servers/s3rver.js';
import { removeDir, tempDir } from './support.js';

let work = '';
beforeAll(() => {
  work = tempDir('worker-cache');
});
afterAll(() => removeDir(work));

function writeTree(root: string, files: number, size = (i: number) => 10 + (i % 50)): void {
  for (let i = 0; i < files; i++) {
    const dir = path.join(root, `d${i % 100}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `f${i}.py`), `# ${i}\n`.padEnd(size(i), 'x'));
  }
  fs.chmodSync(path.join(root, 'd0', 'f0.py'), 0o755);
}

/** The real local backend, with every read after the manifest recorded. */
function counted(root: string): { backend: Backend; reads: string[] } {
  const inner = createLocalBackend({ root });
  const reads: string[] = [];
  return {
    reads,
    backend: {
      ...inner,
      read: (key, o) => {
        reads.push(key);
        return inner.read(key, o);
      },
    },
  };
}

/** Every entry hashes to its name, and no temporary file is left. */
function cacheConsistent(cacheDir: string): void {
  const entries = listEntries(path.join(cacheDir, 'content'));
  for (const e of entries) expect(createHash('sha256').update(fs.readFileSync(e.file)).digest('hex')).toBe(e.sha256);
  expect(fs.readdirSync(path.join(cacheDir, 'content', 'tmp'))).toEqual([]);
}

describe('content cache on a local store, 5,000 files', () => {
  const N = 5000;
  let src = '';
  let store = '';
  let cacheDir = '';
  beforeAll(async () => {
    src = path.join(work, 'src');
    store = path.join(work, 'store');
    cacheDir = path.join(work, 'cache');
    writeTree(src, N);
    await push({ dir: src, remote: store, cacheDir });
  });
  const pullInto = (name: string, extra: Record<string, unknown> = {}) => {
    const c = counted(store);
    return pull({ remote: store, dir: path.join(work, name), remoteOptions: { backend: c.backend }, cacheDir, ...extra }).then((r) => ({ r, reads: c.reads }));
  };

  it('a second fresh folder downloads nothing beyond the manifest, and equals the source', async () => {
    const a = await pullInto('A');
    expect(a.r).toMatchObject({ downloaded: N, fromCache: 0 });
    expect(a.reads).toHaveLength(N + 1);
    const b = await pullInto('B');
    expect(b.reads).toEqual([manifestKey('')]);
    // `downloaded`/`bytes` count what was placed; `fromCache`/`cacheBytes` how much of it came from the cache.
    expect(b.r).toMatchObject({ downloaded: N, fromCache: N, bytes: a.r.bytes, cacheBytes: a.r.bytes });
    expect(compareTrees(src, path.join(work, 'B'), { excludeActual: excludeFlowsyncState })).toEqual([]);
    expect(fs.statSync(path.join(work, 'B', 'd0', 'f0.py')).mode & 0o100).toBe(0o100);
    cacheConsistent(cacheDir);
  });

  it('a corrupted entry is discarded and that file downloaded again; the cache heals', async () => {
    const victim = path.join(src, 'd7', 'f7.py');
    const sha = createHash('sha256').update(fs.readFileSync(victim)).digest('hex');
    const entry = path.join(cacheDir, 'content', 'objects', sha.slice(0, 2), sha);
    fs.chmodSync(entry, 0o644);
    const bytes = fs.readFileSync(entry);
    bytes[0] = bytes[0]! ^ 1; // same size, one bit off
    fs.writeFileSync(entry, bytes);
    const warnings: string[] = [];
    const c = await pullInto('C', { log: { info: () => {}, warn: (m: string) => warnings.push(m) } });
    expect(c.reads).toEqual([manifestKey(''), 'd7/f7.py']);
    expect(c.r).toMatchObject({ downloaded: N, fromCache: N - 1 });
    expect(warnings.some((w) => w.includes(sha.slice(0, 16)) && /discarded/.test(w))).toBe(true);
    expect(fs.readFileSync(path.join(work, 'C', 'd7', 'f7.py'))).toEqual(fs.readFileSync(victim));
    expect(createHash('sha256').update(fs.readFileSync(entry)).digest('hex')).toBe(sha);
  });
});

describe('two pulls into two new folders at once', () => {
  it('both exact, the cache consistent', async () => {
    const N = 500;
    const src = path.join(work, 'two-src');
    const store = path.join(work, 'two-store');
    const cacheDir = path.join(work, 'two-cache');
    writeTree(src, N);
    await push({ dir: src, remote: store, cacheDir: false });
    const pullInto = (name: string) => pull({ remote: store, dir: path.join(work, name), cacheDir });
    const [d, e] = await Promise.all([pullInto('two-D'), pullInto('two-E')]); // cold: both download and add at once
    for (const name of ['two-D', 'two-E']) expect(compareTrees(src, path.join(work, name), { excludeActual: excludeFlowsyncState })).toEqual([]);
    expect([d.downloaded, e.downloaded]).toEqual([N, N]);
    expect(listEntries(path.join(cacheDir, 'content'))).toHaveLength(N); // one entry per content (all distinct)
    cacheConsistent(cacheDir);
  });
});

describe('content cache on a packed remote', () => {
  it('a second fresh folder reads no pack; a corrupted entry is read again on its own', async () => {
    const src = path.join(work, 'packed-src');
    const store = path.join(work, 'packed-store');
    const cacheDir = path.join(work, 'packed-cache');
    writeTree(src, 300);
    await push({ dir: src, remote: store, cacheDir: false, layout: 'packed' });
    const pullInto = async (name: string) => {
      const c = counted(store);
      const r = await pull({ remote: store, dir: path.join(work, name), remoteOptions: { backend: c.backend }, cacheDir });
      return { r, packReads: c.reads.filter((k) => k.includes('.flowsync/packs/')) };
    };
    const a = await pullInto('packed-A');
    expect(a.packReads.length).toBeGreaterThan(0);
    const b = await pullInto('packed-B');
    expect(b.packReads).toEqual([]);
    expect(b.r).toMatchObject({ downloaded: 300, fromCache: 300 });
    expect(compareTrees(src, path.join(work, 'packed-B'), { excludeActual: excludeFlowsyncState })).toEqual([]);
    const victim = fs.readFileSync(path.join(src, 'd3', 'f3.py'));
    const sha = createHash('sha256').update(victim).digest('hex');
    const entry = path.join(cacheDir, 'content', 'objects', sha.slice(0, 2), sha);
    fs.chmodSync(entry, 0o644);
    fs.writeFileSync(entry, Buffer.from(victim).fill(0x21, 0, 1));
    const c = await pullInto('packed-C');
    expect(c.r).toMatchObject({ downloaded: 300, fromCache: 299 });
    expect(c.packReads).toHaveLength(1); // that one member, by a read of its own
    expect(compareTrees(src, path.join(work, 'packed-C'), { excludeActual: excludeFlowsyncState })).toEqual([]);
  });
});

describe('the cache bound and one pull per folder', () => {
  it('a pull bigger than the bound is still exact, and the cache ends within the bound', async () => {
    const src = path.join(work, 'big-src');
    const store = path.join(work, 'big-store');
    const cacheDir = path.join(work, 'big-cache');
    writeTree(src, 200, () => 2000); // 400 kB of distinct content
    await push({ dir: src, remote: store, cacheDir: false });
    const bound = 100_000;
    const r = await pull({ remote: store, dir: path.join(work, 'big-A'), cacheDir, cacheSize: bound });
    expect(r.downloaded).toBe(200);
    expect(compareTrees(src, path.join(work, 'big-A'), { excludeActual: excludeFlowsyncState })).toEqual([]);
    const held = listEntries(path.join(cacheDir, 'content')).reduce((n, e) => n + e.size, 0);
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThanOrEqual(bound);
    // --no-cache: nothing comes from it, nothing goes in.
    const before = listEntries(path.join(cacheDir, 'content')).length;
    const r2 = await pull({ remote: store, dir: path.join(work, 'big-B'), cacheDir: false });
    expect(r2).toMatchObject({ downloaded: 200, fromCache: 0 });
    expect(listEntries(path.join(cacheDir, 'content'))).toHaveLength(before);
  });

  it('two pulls into the same folder: the second waits for the first, then finds it done', async () => {
    const src = path.join(work, 'same-src');
    const store = path.join(work, 'same-store');
    writeTree(src, 300);
    await push({ dir: src, remote: store, cacheDir: false });
    const dest = path.join(work, 'same-dest');
    const slow = counted(store);
    // The first pull's reads are slowed down, so the second starts while it is writing.
    const slowBackend: Backend = { ...slow.backend, read: async (k, o) => (await new Promise((r) => setTimeout(r, 2)), slow.backend.read(k, o)) };
    const second = counted(store);
    const readTimes: number[] = [];
    const secondBackend: Backend = { ...second.backend, read: (k, o) => (readTimes.push(Date.now()), second.backend.read(k, o)) };
    const info: string[] = [];
    let firstDone = 0;
    const p1 = pull({ remote: store, dir: dest, remoteOptions: { backend: slowBackend }, cacheDir: false, concurrency: 2 }).then((r) => ((firstDone = Date.now()), r));
    await new Promise((r) => setTimeout(r, 150));
    const p2 = pull({ remote: store, dir: dest, remoteOptions: { backend: secondBackend }, cacheDir: false, log: { info: (m) => info.push(m), warn: () => {} } });
    const [r1, r2] = await Promise.all([p1, p2]);
    expect(info.some((m) => m.startsWith(`waiting for another pull into ${dest}`))).toBe(true);
    expect(r1.downloaded).toBe(300);
    expect(r2).toMatchObject({ downloaded: 0, unchanged: 300 });
    // The second read only the manifest, once it held the lock (after the first pull ended); never a file.
    expect(second.reads).toEqual([manifestKey('')]);
    expect(readTimes[0]!).toBeGreaterThanOrEqual(firstDone);
    expect(compareTrees(src, dest, { excludeActual: excludeFlowsyncState })).toEqual([]);
    expect(fs.existsSync(path.join(dest, '.flowsync', 'pull.lock'))).toBe(false);
  });
});

describe('content cache on s3rver (requests counted by a proxy)', () => {
  let s3: S3rverServer;
  let proxy: CountingProxy;
  beforeAll(async () => {
    s3 = await startS3rver({ buckets: ['worker'] });
    proxy = await startCountingProxy(s3.port);
  });
  afterAll(async () => {
    await proxy?.close();
    await s3?.stop();
  });

  it('a fresh folder after a first pull costs one GET (the manifest) and equals the source', async () => {
    const src = path.join(work, 's3-src');
    const cacheDir = path.join(work, 's3-cache');
    writeTree(src, 60);
    const remote = 's3://worker/flows';
    const remoteOptions = { endpoint: proxy.endpoint, region: S3RVER_REGION, s3: { credentials: { accessKeyId: S3RVER_ACCESS_KEY_ID, secretAccessKey: S3RVER_SECRET_ACCESS_KEY } } };
    await push({ dir: src, remote, remoteOptions, cacheDir: false });
    proxy.reset();
    const a = await pull({ remote, dir: path.join(work, 's3-A'), remoteOptions, cacheDir });
    expect(a.downloaded).toBe(60);
    expect(proxy.snapshot().byMethod['GET']).toBe(61);
    proxy.reset();
    const b = await pull({ remote, dir: path.join(work, 's3-B'), remoteOptions, cacheDir });
    expect(b).toMatchObject({ downloaded: 60, fromCache: 60 });
    // The manifest's HEAD and GET; not one object.
    expect(proxy.snapshot()).toMatchObject({ total: 2, byMethod: { HEAD: 1, GET: 1 } });
    expect(compareTrees(src, path.join(work, 's3-B'), { excludeActual: excludeFlowsyncState })).toEqual([]);
  });
});
