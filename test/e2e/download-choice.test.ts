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

describe('large downloads: one stream while it is fast, then ranges', () => {
  it('a fast stream carries on to the end: one whole-object read, no ranges', async () => {
    const store = path.join(work, 'store-fast');
    fs.mkdirSync(store);
    fs.writeFileSync(path.join(store, 'big.bin'), big);
    const { backend, reads } = recording(createLocalBackend({ root: store }), false);
    const out = path.join(work, 'fast.out');
    // Any rate counts as fast here, whatever the load on this machine.
    const digest = await downloadFile(context(backend, 1), 'big.bin', out, { path: 'big.bin', size: big.length, sha256: sha(big) }, new AbortController().signal);
    expect(digest).toBe(sha(big));
    expect(fs.readFileSync(out).equals(big)).toBe(true);
    expect(reads).toEqual([{ key: 'big.bin' }]);
  });

  it('a slow stream stops after its first part; the rest comes as ranges that cover it exactly once', async () => {
    const store = path.join(work, 'store-slow');
    fs.mkdirSync(store);
    fs.writeFileSync(path.join(store, 'big.bin'), big);
    const { backend, reads } = recording(createLocalBackend({ root: store }), true);
    const out = path.join(work, 'slow.out');
    const digest = await downloadFile(context(backend), 'big.bin', out, { path: 'big.bin', size: big.length, sha256: sha(big) }, new AbortController().signal);
    expect(digest).toBe(sha(big));
    expect(fs.readFileSync(out).equals(big)).toBe(true);
    expect(reads[0]).toEqual({ key: 'big.bin' });
    const ranges = reads.slice(1).map((r) => r.range!).sort((a, b) => a[0] - b[0]);
    // The stream stopped somewhere at or after 1 MiB; the ranges start there and tile the rest.
    const from = ranges[0]![0];
    expect(from).toBeGreaterThanOrEqual(MiB);
    expect(from).toBeLessThan(2 * MiB);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBe(ranges[i - 1]![1]);
    expect(ranges.at(-1)![1]).toBe(big.length);
  });

  it('a whole pull through a slow store is correct and takes ranges for its large file', async () => {
    const store = path.join(work, 'store-pull');
    await push({ dir: path.join(work, 'src'), remote: store, cacheDir: false });
    const { backend, reads } = recording(createLocalBackend({ root: store }), true);
    const dest = path.join(work, 'pulled');
    await pull({ remote: store, dir: dest, remoteOptions: { backend } });
    expect(compareTrees(path.join(work, 'src'), dest, { excludeActual: excludeFlowsyncState })).toEqual([]);
    expect(reads.filter((r) => r.key === 'big.bin' && r.range).length).toBeGreaterThanOrEqual(3);
  });
});
