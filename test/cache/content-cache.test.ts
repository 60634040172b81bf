import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listEntries, readUsage, trimCache } from '../../src/cache/cache-usage.js';
import { ContentCache } from '../../src/cache/content-cache.js';
import { EntryWriter } from '../../src/cache/entry-writer.js';
import { removeDir, tempDir } from '../e2e/support.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('content cache', () => {
  let base: string;
  let root: string;
  beforeEach(() => {
    base = tempDir('ccache');
    root = path.join(base, 'cache');
  });
  afterEach(() => removeDir(base));

  it('serves a verified copy of what was added, and misses what was not', async () => {
    const cache = new ContentCache({ root });
    const data = Buffer.from('print("hello")\n');
    cache.addData(sha(data), data);
    const dest = path.join(base, 'out.py');
    expect(cache.mayHave(sha(data), data.length)).toBe(true);
    expect(cache.mayHave(sha(data), data.length + 1)).toBe(false);
    expect(cache.mayHave('../../etc/passwd', 1)).toBe(false);
    expect(await cache.place(sha(data), data.length, dest)).toBe(true);
    expect(fs.readFileSync(dest)).toEqual(data);
    // A copy, not the cache's inode: writing to it leaves the cache intact.
    expect(fs.statSync(dest).ino).not.toBe(fs.statSync(cache.entryPath(sha(data))).ino);
    fs.appendFileSync(dest, 'more');
    expect(fs.readFileSync(cache.entryPath(sha(data)))).toEqual(data);
    const other = Buffer.from('other');
    expect(await cache.place(sha(other), other.length, path.join(base, 'x'))).toBe(false);
    expect(fs.existsSync(path.join(base, 'x'))).toBe(false);
    expect(cache.stats).toMatchObject({ hits: 1, hitBytes: data.length, misses: 1, added: 1, addedBytes: data.length, discarded: 0 });
    expect(fs.readdirSync(path.join(root, 'tmp'))).toEqual([]);
    // Entries are read-only, so a hard-linked placement cannot be edited in place by accident.
    expect(fs.statSync(cache.entryPath(sha(data))).mode & 0o777).toBe(0o444);
    // Placed copies are ordinary writable files, small (written from memory) and large (copied) alike.
    const large = Buffer.alloc(2 * 1024 * 1024 + 5, 3);
    fs.writeFileSync(path.join(base, 'large-src'), large);
    await cache.addFile(sha(large), path.join(base, 'large-src'), large.length);
    const placedLarge = path.join(base, 'large-out');
    expect(await cache.place(sha(large), large.length, placedLarge)).toBe(true);
    expect(fs.readFileSync(placedLarge).equals(large)).toBe(true);
    for (const f of [dest, placedLarge]) expect(fs.statSync(f).mode & 0o200).toBe(0o200);
  });

  it('discards an entry that no longer hashes to its name (small and large), never serving it', async () => {
    const warnings: string[] = [];
    const cache = new ContentCache({ root, onWarn: (m) => warnings.push(m) });
    const small = Buffer.from('a'.repeat(1000));
    const large = Buffer.alloc(3 * 1024 * 1024, 7);
    cache.addData(sha(small), small);
    const srcLarge = path.join(base, 'large.bin');
    fs.writeFileSync(srcLarge, large);
    await cache.addFile(sha(large), srcLarge, large.length);
    for (const [content, byte] of [[small, 0], [large, 2 * 1024 * 1024]] as const) {
      const entry = cache.entryPath(sha(content));
      fs.chmodSync(entry, 0o644);
      const fd = fs.openSync(entry, 'r+');
      fs.writeSync(fd, Buffer.from('Z'), 0, 1, byte); // same size, different bytes
      fs.closeSync(fd);
      const dest = path.join(base, `dest-${content.length}`);
      expect(await cache.place(sha(content), content.length, dest)).toBe(false);
      expect(fs.existsSync(dest)).toBe(false);
      expect(fs.existsSync(entry)).toBe(false);
    }
    // A truncated entry is caught by its size alone.
    cache.addData(sha(small), small);
    fs.chmodSync(cache.entryPath(sha(small)), 0o644);
    fs.truncateSync(cache.entryPath(sha(small)), 10);
    expect(await cache.place(sha(small), small.length, path.join(base, 'd3'))).toBe(false);
    expect(cache.stats.discarded).toBe(3);
    expect(warnings.length).toBe(3);
    expect(warnings[0]).toMatch(/discarded .*no longer hashes to its name.*downloading/);
  });

  it('hard links only when asked, and never for executables', async () => {
    const cache = new ContentCache({ root, link: true });
    const data = Buffer.from('#!/bin/sh\necho hi\n');
    cache.addData(sha(data), data);
    const plain = path.join(base, 'plain');
    const exec = path.join(base, 'exec');
    expect(await cache.place(sha(data), data.length, plain, 0o644)).toBe(true);
    expect(await cache.place(sha(data), data.length, exec, 0o755)).toBe(true);
    const entryIno = fs.statSync(cache.entryPath(sha(data))).ino;
    expect(fs.statSync(plain).ino).toBe(entryIno);
    expect(fs.statSync(exec).ino).not.toBe(entryIno);
  });

  it('a cache that cannot be written is skipped with one warning', async () => {
    fs.mkdirSync(path.dirname(root), { recursive: true });
    fs.writeFileSync(root, 'a file where the cache folder should be');
    const warnings: string[] = [];
    const cache = new ContentCache({ root, onWarn: (m) => warnings.push(m) });
    cache.addData(sha(Buffer.from('a')), Buffer.from('a'));
    cache.addData(sha(Buffer.from('b')), Buffer.from('b'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/cannot be written.*goes on without/);
    expect(await cache.place(sha(Buffer.from('a')), 1, path.join(base, 'a'))).toBe(false);
  });

  it('trims least recently used entries first, down to the low-water mark, and keeps a usage count', async () => {
    const cache = new ContentCache({ root, maxBytes: 10_000 });
    const blobs = Array.from({ length: 8 }, (_, i) => Buffer.alloc(1000, i));
    blobs.forEach((b) => cache.addData(sha(b), b));
    // Age them: blob i was last used i minutes ago... except blob 0, used just now.
    blobs.forEach((b, i) => {
      const t = new Date(Date.now() - (i + 1) * 120_000);
      fs.utimesSync(cache.entryPath(sha(b)), t, t);
    });
    expect(await cache.place(sha(blobs[7]!), 1000, path.join(base, 'hit'))).toBe(true); // refreshes blob 7
    const more = Array.from({ length: 4 }, (_, i) => Buffer.alloc(1000, 100 + i));
    more.forEach((b) => cache.addData(sha(b), b)); // 12,000 B > bound: a trim runs
    await cache.settle();
    const left = new Set(listEntries(root).map((e) => e.sha256));
    // The 11th add passed the bound: trimmed to 80 % (8 entries), then one more came in.
    expect(left.size * 1000).toBeLessThanOrEqual(10_000);
    expect(left.size).toBe(9);
    for (const b of more) expect(left.has(sha(b))).toBe(true);
    expect(left.has(sha(blobs[7]!))).toBe(true); // recently used
    expect(left.has(sha(blobs[6]!))).toBe(false); // the oldest went first
    expect(left.has(sha(blobs[5]!))).toBe(false);
    expect(readUsage(root)).toMatchObject({ bytes: left.size * 1000, entries: left.size });
    // An explicit prune to a target.
    const r = await trimCache(root, 0, 0);
    expect(r).toMatchObject({ bytes: 0, entries: 0, removed: left.size });
  });

  it('two caches on one folder (two pulls) add the same content at once without harm', async () => {
    const a = new ContentCache({ root });
    const b = new ContentCache({ root });
    const blobs = Array.from({ length: 50 }, (_, i) => Buffer.from(`file ${i}\n`.repeat(i + 1)));
    await Promise.all([
      ...blobs.map(async (x) => a.addData(sha(x), x)),
      ...blobs.map(async (x) => b.addData(sha(x), x)),
    ]);
    expect(listEntries(root)).toHaveLength(50);
    for (const x of blobs) expect(fs.readFileSync(a.entryPath(sha(x)))).toEqual(x);
    expect(fs.readdirSync(path.join(root, 'tmp'))).toEqual([]);
  });

  it('an entry written while its download comes in enters only complete and verified (small: written at once; big: batched on the pool)', async () => {
    const MiB = 1024 * 1024;
    for (const size of [5000, 3 * MiB + 7]) {
      const cache = new ContentCache({ root });
      const content = Buffer.alloc(size);
      for (let i = 0; i < content.length; i += 997) content[i] = (i + size) % 251;
      const chunk = Math.min(64 * 1024, Math.ceil(size / 3));
      const feed = async (w: NonNullable<ReturnType<ContentCache['beginEntry']>>, bytes: Buffer) => {
        for (let off = 0; off < bytes.length; off += chunk) await w.write(bytes.subarray(off, off + chunk));
      };

      const unverified = cache.beginEntry(sha(content), content.length)!;
      await feed(unverified, content);
      expect(await cache.endEntry(unverified, false)).toBe(false);
      expect(cache.mayHave(sha(content), content.length)).toBe(false);

      // A download that went on in ranges hands over only its first part.
      const incomplete = cache.beginEntry(sha(content), content.length)!;
      await feed(incomplete, content.subarray(0, chunk));
      expect(await cache.endEntry(incomplete, true)).toBe(false);
      expect(cache.mayHave(sha(content), content.length)).toBe(false);

      const whole = cache.beginEntry(sha(content), content.length)!;
      await feed(whole, content);
      expect(await cache.endEntry(whole, true)).toBe(true);
      expect(fs.readFileSync(cache.entryPath(sha(content))).equals(content)).toBe(true);
      expect(fs.statSync(cache.entryPath(sha(content))).mode & 0o777).toBe(0o444);
      expect(cache.stats).toMatchObject({ added: 1, addedBytes: content.length });

      // Another pull added it meanwhile: this one's copy is dropped, the entry stays.
      const again = cache.beginEntry(sha(content), content.length)!;
      await feed(again, content);
      expect(await cache.endEntry(again, true)).toBe(true);
      expect(cache.stats.added).toBe(1);
      expect(fs.readdirSync(path.join(root, 'tmp'))).toEqual([]);
    }
  });

  it('an entry whose writes fail stops quietly, and the cache says once that it cannot be written', async () => {
    const warnings: string[] = [];
    const cache = new ContentCache({ root, onWarn: (m) => warnings.push(m) });
    const content = Buffer.alloc(2 * 1024 * 1024 + 1, 9);
    const w = cache.beginEntry(sha(content), content.length)!;
    // A descriptor open for reading only: every write fails (EBADF), as a full disk's would.
    const broken = new EntryWriter(w.sha256, w.size, w.tmp, fs.openSync(w.tmp, 'r'));
    await w.abandon();
    for (let off = 0; off < content.length; off += 512 * 1024) await broken.write(content.subarray(off, off + 512 * 1024));
    expect(await cache.endEntry(broken, true)).toBe(false);
    expect(broken.failure).toMatchObject({ code: 'EBADF' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/cannot be written.*goes on without/);
    expect(cache.mayHave(sha(content), content.length)).toBe(false);
    expect(fs.readdirSync(path.join(root, 'tmp'))).toEqual([]);
    // Later contents are not tried again in this pull.
    expect(cache.beginEntry(sha(Buffer.alloc(2 * 1024 * 1024, 1)), 2 * 1024 * 1024)).toBeNull();
  });
});
