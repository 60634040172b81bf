/** hashFile (streamed, change detection) and the stat cache (never re-read an unchanged file). */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFlowsyncError } from '../../src/errors.js';
import { hashFile } from '../../src/hash/hash-file.js';
import { StatCache } from '../../src/hash/stat-cache.js';
import { scanTree } from '../../src/sync/scan.js';
import { identityOf } from '../../src/hash/identity.js';
import { prng } from '../helpers/tree.js';
import { removeDir, tempDir } from '../e2e/support.js';

let work = '';
beforeAll(() => {
  work = tempDir('hash');
});
afterAll(() => removeDir(work));

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
function randomBytes(n: number, seed: number): Buffer {
  const r = prng(seed);
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (r() * 256) | 0;
  return b;
}

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('hashFile', () => {
  it('hashes small and big (streamed, > 1 MiB chunk) files, and keeps small ones when asked', async () => {
    const small = path.join(work, 'small');
    const big = path.join(work, 'big');
    const empty = path.join(work, 'empty');
    fs.writeFileSync(small, 'hello');
    const bigData = randomBytes(3 * 1024 * 1024 + 17, 7);
    fs.writeFileSync(big, bigData);
    fs.writeFileSync(empty, '');
    const h = await hashFile(small, { keepUpTo: 100 });
    expect(h.sha256).toBe(sha('hello'));
    expect(h.data?.toString()).toBe('hello');
    expect(h.size).toBe(5);
    const b = await hashFile(big);
    expect(b.sha256).toBe(sha(bigData));
    expect(b.data).toBeUndefined();
    expect((await hashFile(empty)).sha256).toBe(sha(''));
  });

  it('reads a file that fits into the buffer it is given (small and streamed), and keeps none that does not fit', async () => {
    const small = path.join(work, 'into-small');
    const big = path.join(work, 'into-big');
    fs.writeFileSync(small, 'hello');
    const bigData = randomBytes(2 * 1024 * 1024 + 5, 9);
    fs.writeFileSync(big, bigData);
    const into = Buffer.alloc(8192);
    const h = await hashFile(small, { into });
    expect(h.sha256).toBe(sha('hello'));
    expect(h.data?.toString()).toBe('hello');
    expect(h.data?.buffer).toBe(into.buffer); // a view of the given memory, no copy
    const bigInto = Buffer.alloc(bigData.length);
    const b = await hashFile(big, { into: bigInto });
    expect(b.sha256).toBe(sha(bigData));
    expect(b.data?.buffer).toBe(bigInto.buffer);
    expect(b.data?.equals(bigData)).toBe(true);
    const tooSmall = await hashFile(small, { into: Buffer.alloc(4), keepUpTo: 100 }); // `into` wins
    expect(tooSmall.sha256).toBe(sha('hello'));
    expect(tooSmall.data).toBeUndefined();
  });

  it('refuses a file that keeps changing while it is read (FILE_CHANGED, names the file and the fix)', async () => {
    const file = path.join(work, 'growing.log');
    fs.writeFileSync(file, randomBytes(4 * 1024 * 1024, 3));
    const timer = setInterval(() => fs.appendFileSync(file, 'x'.repeat(100)), 0);
    try {
      const err = await caught(hashFile(file, { label: 'logs/growing.log' }));
      expect(isFlowsyncError(err, 'FILE_CHANGED')).toBe(true);
      expect((err as Error).message).toMatch(/logs\/growing\.log kept changing.*\.prefectignore/);
    } finally {
      clearInterval(timer);
    }
  });

  it('re-reads a file rewritten in place while it was read, and returns the hash of what is there now', async () => {
    const file = path.join(work, 'rewritten.bin');
    const original = randomBytes(32 * 1024 * 1024, 5);
    fs.writeFileSync(file, original);
    const patch = Buffer.alloc(1024 * 1024, 0xee);
    const rewritten = Buffer.concat([patch, original.subarray(patch.length)]);
    let settled = false;
    const hashing = hashFile(file).finally(() => (settled = true));
    // Overwrite the start (already read, most likely) while the rest is being read.
    await new Promise((r) => setTimeout(r, 5));
    const late = settled;
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, patch, 0, patch.length, 0);
    fs.closeSync(fd);
    const h = await hashing;
    // Whatever the timing, the hash is of bytes the file really held at one moment: never the
    // mix of old bytes (already read) and new ones. On any usual machine the read of 32 MiB
    // takes well over 5 ms, so this is the re-read case.
    expect(h.sha256).toBe(late ? sha(original) : sha(rewritten));
  });

  it('reports a missing file as NOT_FOUND and an aborted read as ABORTED', async () => {
    expect(isFlowsyncError(await caught(hashFile(path.join(work, 'nope'))), 'NOT_FOUND')).toBe(true);
    const c = new AbortController();
    c.abort();
    expect(isFlowsyncError(await caught(hashFile(path.join(work, 'small'), { signal: c.signal })), 'ABORTED')).toBe(true);
  });
});

describe('stat cache', () => {
  let root = '';
  let cacheDir = '';
  const write = (rel: string, data: string | Buffer) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), data);
  };
  // Old enough that the first scan's entries are not "racy" (written in the tick they were hashed).
  const age = (rel: string) => {
    const t = new Date(Date.now() - 10_000);
    fs.utimesSync(path.join(root, rel), t, t);
  };

  beforeAll(() => {
    root = path.join(work, 'tree');
    cacheDir = path.join(work, 'cache');
    for (let i = 0; i < 20; i++) write(`d${i % 3}/f${i}.txt`, `content ${i}`);
    for (let i = 0; i < 20; i++) age(`d${i % 3}/f${i}.txt`);
  });

  it('answers unchanged files without reading them; the cache lives outside the tree', async () => {
    const first = await scanTree({ dir: root, cacheDir });
    expect(first.filesRead).toBe(20);
    const second = await scanTree({ dir: root, cacheDir });
    expect({ filesRead: second.filesRead, bytesRead: second.bytesRead }).toEqual({ filesRead: 0, bytesRead: 0 });
    expect(second.manifest.files).toEqual(first.manifest.files);
    expect(fs.readdirSync(cacheDir).some((f) => f.startsWith('statcache-'))).toBe(true);
    expect(fs.readdirSync(root).sort()).toEqual(['d0', 'd1', 'd2']); // nothing written into the tree
  });

  it('re-reads a file whose content changed even with the same size and a restored mtime (ctime moved)', async () => {
    const rel = 'd1/f1.txt';
    const full = path.join(root, rel);
    const before = fs.statSync(full);
    fs.writeFileSync(full, 'CONTENT 1'); // same length as 'content 1'
    fs.utimesSync(full, before.atime, before.mtime);
    expect(fs.statSync(full).mtimeMs).toBe(before.mtimeMs);
    const s = await scanTree({ dir: root, cacheDir });
    expect(s.filesRead).toBe(1);
    expect(s.manifest.files.find((e) => e.path === rel)).toMatchObject({ sha256: sha('CONTENT 1') });
  });

  it('re-reads a file replaced by another inode with the same size and mtime', async () => {
    const rel = 'd2/f2.txt';
    const full = path.join(root, rel);
    const st = fs.statSync(full);
    const tmp = path.join(root, 'd2', 'replacement');
    fs.writeFileSync(tmp, 'CONTENT 2');
    fs.utimesSync(tmp, st.atime, st.mtime);
    fs.renameSync(tmp, full);
    const s = await scanTree({ dir: root, cacheDir });
    expect(s.filesRead).toBe(1);
    expect(s.manifest.files.find((e) => e.path === rel)).toMatchObject({ sha256: sha('CONTENT 2') });
  });

  it('does not trust a hash taken in the same tick as the last write until it is confirmed', async () => {
    const rel = 'racy.txt';
    write(rel, 'first!');
    const full = path.join(root, rel);
    const cache = await StatCache.load(root, cacheDir);
    const st = fs.statSync(full);
    // Hashed "now", within the mtime tick: racy.
    cache.record(rel, full, identityOf(st), sha('first!'), Date.now());
    // Changed again without moving size or mtime (a coarse clock would allow this); ctime moves.
    fs.writeFileSync(full, 'second');
    fs.utimesSync(full, st.atime, st.mtime);
    await cache.save();
    const again = await StatCache.load(root, cacheDir);
    expect(again.lookup(rel, identityOf(fs.statSync(full)))).toBeNull();
    expect(again.lookup(rel, identityOf(st))).toBeNull(); // the racy entry was dropped, not saved
  });

  it('confirms a racy entry that did not change, so the next run reads nothing', async () => {
    write('fresh.txt', 'fresh');
    const one = await scanTree({ dir: root, cacheDir }); // fresh.txt is racy here: confirmed at save
    expect(one.filesRead).toBeGreaterThanOrEqual(1);
    const two = await scanTree({ dir: root, cacheDir });
    expect(two.filesRead).toBe(0);
  });

  it('answers lookups in any order, not only the walk order the rows are stored in', async () => {
    await scanTree({ dir: root, cacheDir });
    const files = (await scanTree({ dir: root, cacheDir })).manifest.files.flatMap((e) => ('sha256' in e ? [e] : []));
    const cache = await StatCache.load(root, cacheDir);
    const answers = [...files].reverse().map((e) => cache.lookup(e.path, identityOf(fs.statSync(path.join(root, e.path)))));
    expect(answers).toEqual([...files].reverse().map((e) => e.sha256));
    expect(cache.lookup('not/there.txt', identityOf(fs.statSync(path.join(root, files[0]!.path))))).toBeNull();
  });

  it('saves the rows a run saw merged with its new hashes, recorded in any order; a path recorded twice keeps the later hash', async () => {
    const dir = path.join(work, 'merge-cache');
    const id = (n: number) => ({ size: n, mtimeMs: 1_000_000.25 + n, ctimeMs: 2_000_000.5 + n, ino: 2 ** 40 + n });
    const first = await StatCache.load(root, dir);
    // Finishing order, not path order; 'é' sorts after 'z' in UTF-8 bytes.
    for (const [p, n] of [['z', 1], ['b', 2], ['é.txt', 3], ['a', 4], ['c/d', 5]] as const) first.record(p, p, id(n), sha(p), Date.now());
    await first.save();

    const second = await StatCache.load(root, dir);
    for (const [p, n] of [['a', 4], ['b', 2], ['c/d', 5], ['é.txt', 3]] as const) expect(second.lookup(p, id(n))).toBe(sha(p));
    second.record('aa', 'aa', id(6), sha('aa'), Date.now());
    second.record('b', 'b', id(7), sha('b again'), Date.now());
    second.record('b', 'b', id(8), sha('b last'), Date.now());
    await second.save();

    const third = await StatCache.load(root, dir);
    expect(third.lookup('a', id(4))).toBe(sha('a'));
    expect(third.lookup('aa', id(6))).toBe(sha('aa'));
    expect(third.lookup('b', id(7))).toBeNull();
    expect(third.lookup('b', id(8))).toBe(sha('b last'));
    expect(third.lookup('c/d', id(5))).toBe(sha('c/d'));
    expect(third.lookup('é.txt', id(3))).toBe(sha('é.txt'));
    expect(third.lookup('z', id(1))).toBeNull(); // not seen by the second run: dropped
  });

  it('treats a damaged cache file as empty, and cacheDir: false as no cache', async () => {
    for (const f of fs.readdirSync(cacheDir)) fs.writeFileSync(path.join(cacheDir, f), '{not json');
    const s = await scanTree({ dir: root, cacheDir });
    expect(s.filesRead).toBe(s.manifest.files.length);
    const off = await scanTree({ dir: root, cacheDir: false });
    expect(off.filesRead).toBe(off.manifest.files.length);
  });
});
