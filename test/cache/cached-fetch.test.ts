/**
 * A miss enters the content cache from the bytes the download hands over (transfer/download.ts →
 * ByteCopy → EntryWriter), not from a copy of the placed file afterwards. The pull's own tests
 * cannot tell the two apart (both fill the cache), so these do: the placed file is spoiled
 * before the fetch returns, and the entry must still hold the right bytes. Both ways a pull gets
 * bytes: an object's download, and a pack member served from a planned read.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryBackend } from '../../src/backends/memory.js';
import { ContentCache } from '../../src/cache/content-cache.js';
import { packKey } from '../../src/pack/layout.js';
import { buildPack } from '../../src/pack/tar-pack.js';
import { packedFetch } from '../../src/sync/packed-pull.js';
import { cachedFetch } from '../../src/sync/pull-guard.js';
import type { FetchInto } from '../../src/sync/tree-writer.js';
import { ByteBudget } from '../../src/transfer/budget.js';
import type { TransferContext } from '../../src/transfer/context.js';
import { downloadFile } from '../../src/transfer/download.js';
import { Progress } from '../../src/util/progress.js';
import { removeDir, tempDir } from '../e2e/support.js';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function content(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i += 613) b[i] = (i * seed) % 251;
  return b;
}

describe('cache entries from the bytes in hand', () => {
  let base: string;
  beforeEach(() => {
    base = tempDir('cached-fetch');
  });
  afterEach(() => removeDir(base));

  // 5,000 B: one collected write; 3 MiB: streamed in chunks (below the memory store's 8 MiB ranged threshold).
  for (const size of [5000, 3 * MiB]) {
    it(`a download hands every byte to the copy, in order, and the cache keeps them (${size} B)`, async () => {
      const backend = createMemoryBackend();
      const data = content(size, 7);
      await backend.write('k/f', data, { size, sha256: sha(data) });
      const ctx: TransferContext = { backend, budget: new ByteBudget(64 * MiB), progress: new Progress(), partConcurrency: 2 };
      const target = { path: 'f', size, sha256: sha(data) };
      const cache = new ContentCache({ root: path.join(base, 'cache') });
      const download: FetchInto = async (tmp, signal, copy) => {
        const got = await downloadFile(ctx, 'k/f', tmp, target, signal, copy);
        fs.writeFileSync(tmp, Buffer.alloc(size, 0x21)); // a copy of the placed file would now be wrong
        return got;
      };
      let hits = 0;
      const fetch = cachedFetch(cache, { sha256: target.sha256, size, mode: 0o644 }, download, () => hits++);
      expect(await fetch(path.join(base, 'tmp1'), new AbortController().signal)).toBe(target.sha256);
      expect(fs.readFileSync(cache.entryPath(target.sha256)).equals(data)).toBe(true);
      expect(cache.stats).toMatchObject({ added: 1, addedBytes: size });

      // The next fetch of that content is a hit: nothing downloaded, the right bytes placed.
      const again = cachedFetch(cache, { sha256: target.sha256, size, mode: 0o644 }, () => Promise.reject(new Error('downloaded again')), () => hits++);
      const tmp2 = path.join(base, 'tmp2');
      expect(await again(tmp2, new AbortController().signal)).toBe(target.sha256);
      expect(hits).toBe(1);
      expect(fs.readFileSync(tmp2).equals(data)).toBe(true);
    });
  }

  it('a pack member hands its checked bytes to the copy, and the cache keeps them', async () => {
    const backend = createMemoryBackend();
    const contents = [content(7000, 5), content(9000, 11)];
    const pack = await buildPack(contents.map((data) => ({ sha256: sha(data), data })));
    await backend.write(packKey('p', pack.sha256), pack.bytes, { size: pack.bytes.length });
    const ref = { sha256: pack.sha256, size: pack.bytes.length };
    const files = contents.map((data, i) => ({ path: `f${i}`, size: data.length, mode: 0o644 as const, sha256: sha(data) }));
    const members = new Map(files.map((f, i) => [f.path, { ...pack.members[i]!, pack: ref }]));
    const ctx: TransferContext = { backend, budget: new ByteBudget(64 * MiB), progress: new Progress(), partConcurrency: 2 };
    const fetchOf = packedFetch(ctx, { keys: new Map(), packed: { prefix: 'p', members } }, files);
    const cache = new ContentCache({ root: path.join(base, 'cache') });
    for (const [i, f] of files.entries()) {
      const fetchMember = fetchOf(f);
      const spoiling: FetchInto = async (tmp, signal, copy) => {
        const got = await fetchMember(tmp, signal, copy);
        fs.writeFileSync(tmp, Buffer.alloc(f.size, 0x21)); // a copy of the placed file would now be wrong
        return got;
      };
      const fetch = cachedFetch(cache, f, spoiling, () => {});
      expect(await fetch(path.join(base, `member${i}`), new AbortController().signal)).toBe(f.sha256);
      expect(fs.readFileSync(cache.entryPath(f.sha256)).equals(contents[i]!)).toBe(true);
    }
    expect(cache.stats).toMatchObject({ added: 2, addedBytes: 16000 });
  });

  it('bytes that fail their check never enter the cache', async () => {
    const cache = new ContentCache({ root: path.join(base, 'cache') });
    const data = content(5000, 3);
    const wrong: FetchInto = async (tmp, _signal, copy) => {
      fs.writeFileSync(tmp, data);
      await copy?.write(data);
      return sha(Buffer.from('something else'));
    };
    const fetch = cachedFetch(cache, { sha256: sha(data), size: data.length, mode: 0o644 }, wrong, () => {});
    expect(await fetch(path.join(base, 'tmp'), new AbortController().signal)).not.toBe(sha(data));
    expect(cache.mayHave(sha(data), data.length)).toBe(false);
    expect(fs.readdirSync(path.join(base, 'cache', 'tmp'))).toEqual([]);
  });
});
