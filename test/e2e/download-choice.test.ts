/**
 * A large object starts as one stream; it stays one stream when that stream is fast over its
 * first part (a near server), and the rest comes as parallel ranges when it is slow (S3's
 * per-connection cap, a WAN). The store is the real local backend, wrapped to record every read
 * and, for "slow", to hand out whole-object bodies at a trickle (ranged reads stay fast), so which
 * path is taken never depends on this machine's load. Durations are never asserted.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalBackend } from '../../src/backends/local.js';
import type { Backend, ReadOptions } from '../../src/backends/types.js';
import { pull, push } from '../../src/index.js';
import { ByteBudget } from '../../src/transfer/budget.js';
import type { TransferContext } from '../../src/transfer/context.js';
import { downloadFile } from '../../src/transfer/download.js';
import { ContentCache } from '../../src/cache/content-cache.js';
import { Progress } from '../../src/util/progress.js';
import { compareTrees, excludeFlowsyncState } from '../helpers/tree.js';
import { removeDir, tempDir } from './support.js';

let work = '';
const MiB = 1024 * 1024;
const big = Buffer.alloc(5 * MiB + 123);
for (let i = 0; i + 4 <= big.length; i += 4096) big.writeUInt32LE(i, i);

beforeAll(() => {
  work = tempDir('download-choice');
  fs.mkdirSync(path.join(work, 'src'));
  fs.writeFileSync(path.join(work, 'src', 'big.bin'), big);
  fs.writeFileSync(path.join(work, 'src', 'small.txt'), 'small');
});
afterAll(() => removeDir(work));

/** A body that trickles: each chunk 4 ms late (64 KiB per 4 ms ≈ 16 MB/s, far under the one-stream rate). */
function trickle(body: Readable): Readable {
  async function* slow() {
    for await (const chunk of body) {
      await new Promise((r) => setTimeout(r, 4));
      yield chunk as Buffer;
    }
  }
  return Readable.from(slow());
}

function recording(inner: Backend, slowWhole: boolean): { backend: Backend; reads: { key: string; range?: [number, number] }[] } {
  const reads: { key: string; range?: [number, number] }[] = [];
  const backend: Backend = {
    ...inner,
    // Large above 1 MiB, in 1 MiB parts.
    tuning: { ...inner.tuning, multipartThreshold: MiB, partSize: MiB },
    async read(key: string, o?: ReadOptions) {
      reads.push({ key, ...(o?.range ? { range: o.range } : {}) });
      const body = await inner.read(key, o);
      return slowWhole && !o?.range && key.endsWith('.bin') ? trickle(body) : body;
    },
  };
  return { backend, reads };
}

function context(backend: Backend, oneStreamRate?: number): TransferContext {
  return { backend, budget: new ByteBudget(64 * MiB), progress: new Progress(), partConcurrency: 4, ...(oneStreamRate ? { oneStreamRate } : {}) };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A copy that keeps what it is given. */
function collector(): { chunks: Buffer[]; write(chunk: Uint8Array): undefined } {
  const chunks: Buffer[] = [];
  return { chunks, write: (chunk) => void chunks.push(Buffer.from(chunk)) };
}

describe('large downloads: one stream while it is fast, then ranges', () => {
  it('a fast stream carries on to the end: one whole-object read, no ranges', async () => {
    const store = path.join(work, 'store-fast');
    fs.mkdirSync(store);
    fs.writeFileSync(path.join(store, 'big.bin'), big);
    const { backend, reads } = recording(createLocalBackend({ root: store }), false);
    const out = path.join(work, 'fast.out');
    const copied = collector();
    // Any rate counts as fast here, whatever the load on this machine.
    const digest = await downloadFile(context(backend, 1), 'big.bin', out, { path: 'big.bin', size: big.length, sha256: sha(big) }, new AbortController().signal, copied);
    expect(digest).toBe(sha(big));
    expect(fs.readFileSync(out).equals(big)).toBe(true);
    expect(reads).toEqual([{ key: 'big.bin' }]);
    // The copy (the content cache's entry) got every byte, in order.
    expect(Buffer.concat(copied.chunks).equals(big)).toBe(true);
  });

  it('a slow stream stops after its first part; the rest comes as ranges that cover it exactly once', async () => {
    const store = path.join(work, 'store-slow');
    fs.mkdirSync(store);
    fs.writeFileSync(path.join(store, 'big.bin'), big);
    const { backend, reads } = recording(createLocalBackend({ root: store }), true);
    const out = path.join(work, 'slow.out');
    const copied = collector();
    const digest = await downloadFile(context(backend), 'big.bin', out, { path: 'big.bin', size: big.length, sha256: sha(big) }, new AbortController().signal, copied);
    expect(digest).toBe(sha(big));
    expect(fs.readFileSync(out).equals(big)).toBe(true);
    expect(reads[0]).toEqual({ key: 'big.bin' });
    // The copy has the streamed part only (ranges come out of order): the cache copies the file afterwards.
    const prefix = Buffer.concat(copied.chunks);
    expect(prefix.length).toBeGreaterThanOrEqual(MiB);
    expect(prefix.length).toBeLessThan(big.length);
    expect(prefix.equals(big.subarray(0, prefix.length))).toBe(true);
    const ranges = reads.slice(1).map((r) => r.range!).sort((a, b) => a[0] - b[0]);
    // The stream stopped somewhere at or after 1 MiB; the ranges start there and tile the rest.
    const from = ranges[0]![0];
    expect(from).toBeGreaterThanOrEqual(MiB);
    expect(from).toBeLessThan(2 * MiB);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBe(ranges[i - 1]![1]);
    expect(ranges.at(-1)![1]).toBe(big.length);
  });

  it('a whole pull through a slow store is correct and takes ranges for its large file; the cache still gets it', async () => {
    const store = path.join(work, 'store-pull');
    await push({ dir: path.join(work, 'src'), remote: store, cacheDir: false });
    const { backend, reads } = recording(createLocalBackend({ root: store }), true);
    const dest = path.join(work, 'pulled');
    const cacheDir = path.join(work, 'cache-slow');
    await pull({ remote: store, dir: dest, cacheDir, remoteOptions: { backend } });
    expect(compareTrees(path.join(work, 'src'), dest, { excludeActual: excludeFlowsyncState })).toEqual([]);
    expect(reads.filter((r) => r.key === 'big.bin' && r.range).length).toBeGreaterThanOrEqual(3);
    expect(fs.readFileSync(new ContentCache({ root: path.join(cacheDir, 'content') }).entryPath(sha(big))).equals(big)).toBe(true);
  });

  it('a whole pull of a file streamed in one read puts it in the cache, no temporary left', async () => {
    const store = path.join(work, 'store-pull-stream');
    await push({ dir: path.join(work, 'src'), remote: store, cacheDir: false });
    // The local store's own tuning: 5 MiB is under its multipart threshold, so one streamed read.
    const dest = path.join(work, 'pulled-stream');
    const cacheDir = path.join(work, 'cache-stream');
    await pull({ remote: store, dir: dest, cacheDir });
    expect(compareTrees(path.join(work, 'src'), dest, { excludeActual: excludeFlowsyncState })).toEqual([]);
    const cache = new ContentCache({ root: path.join(cacheDir, 'content') });
    expect(fs.readFileSync(cache.entryPath(sha(big))).equals(big)).toBe(true);
    expect(fs.readdirSync(path.join(cacheDir, 'content', 'tmp'))).toEqual([]);
  });
});
