/** Hashing large files on worker threads (hash-threads.ts): right answers, errors with their codes, aborts that stop a read. */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFlowsyncError } from '../../src/errors.js';
import { hashFile } from '../../src/hash/hash-file.js';
import { hashOnThread } from '../../src/hash/hash-threads.js';
import { identityOf } from '../../src/hash/identity.js';
import { removeDir, tempDir } from '../e2e/support.js';

let work = '';
beforeAll(() => {
  work = tempDir('hash-threads');
});
afterAll(() => removeDir(work));

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function bigFile(name: string, size: number, fill: number): { file: string; data: Buffer } {
  const data = Buffer.alloc(size, fill);
  data.writeUInt32BE(size, 0); // no two test files alike
  const file = path.join(work, name);
  fs.writeFileSync(file, data);
  return { file, data };
}

const MiB = 1024 * 1024;

describe('hashOnThread', () => {
  it('starts workers only once 64 MiB of large files were asked for (a worker costs ~40 ms to start)', async () => {
    const first = bigFile('first', 3 * MiB, 0x21);
    expect(await hashOnThread(first.file, first.data.length)).toBeNull(); // the caller hashes it
    const big = bigFile('big', 64 * MiB, 0x22);
    const r = await hashOnThread(big.file, big.data.length);
    expect(r?.sha256).toBe(sha(big.data));
    expect((await hashOnThread(first.file, first.data.length))?.sha256).toBe(sha(first.data)); // workers are up now
  });

  it('hashes several large files at once, each with the identity it was read under', async () => {
    const files = [3, 5, 8, 13].map((mib, i) => bigFile(`f${i}`, mib * MiB + i, 0x11 * (i + 1)));
    const results = await Promise.all(files.map(({ file, data }) => hashOnThread(file, data.length)));
    results.forEach((r, i) => {
      expect(r).not.toBeNull();
      expect(r!.sha256).toBe(sha(files[i]!.data));
      expect(r!.bytesRead).toBe(files[i]!.data.length);
      expect(r!.after).toEqual(identityOf(fs.statSync(files[i]!.file)));
      expect(r!.before).toEqual(r!.after);
    });
    // hashFile takes this path for large files nobody keeps, and gives the same answer.
    expect((await hashFile(files[2]!.file)).sha256).toBe(sha(files[2]!.data));
  });

  it('passes a read error back with its code, which hashFile reports as usual', async () => {
    const missing = path.join(work, 'missing');
    const err = await hashOnThread(missing, 2 * MiB).then(
      () => null,
      (e: unknown) => e,
    );
    expect((err as NodeJS.ErrnoException).code).toBe('ENOENT');
    expect((err as NodeJS.ErrnoException).path).toBe(missing);
    const folder = path.join(work, 'a-folder');
    fs.mkdirSync(folder);
    const isDir = await hashOnThread(folder, 2 * MiB).then(
      () => null,
      (e: unknown) => e,
    );
    expect((isDir as NodeJS.ErrnoException).code).toBe('EISDIR');
  });

  it('answers an abort at once (ABORTED), and the threads go on with the next files', async () => {
    const { file, data } = bigFile('huge', 64 * MiB, 0x5a);
    const c = new AbortController();
    // hashFile hands the file to a thread before it returns its promise: the abort finds the job running.
    const hashing = hashFile(file, { signal: c.signal });
    c.abort();
    expect(isFlowsyncError(await hashing.catch((e: unknown) => e), 'ABORTED')).toBe(true);
    const again = await Promise.all([hashFile(file), hashFile(file), hashFile(file)]);
    for (const h of again) expect(h.sha256).toBe(sha(data));
    const already = new AbortController();
    already.abort();
    expect(isFlowsyncError(await hashOnThread(file, data.length, already.signal).catch((e: unknown) => e), 'ABORTED')).toBe(true);
  });

  it('on a worker too, a file that keeps changing while read is refused (FILE_CHANGED), never hashed half old, half new', async () => {
    // On its own too (the 64 MiB start threshold), this test's hashFile goes to a worker.
    const up = bigFile('up', 64 * MiB, 0x44);
    expect(await hashOnThread(up.file, up.data.length)).not.toBeNull();
    const { file } = bigFile('growing.log', 16 * MiB, 0x33);
    const timer = setInterval(() => fs.appendFileSync(file, 'x'.repeat(100)), 0);
    try {
      const err = await hashFile(file, { label: 'logs/growing.log' }).catch((e: unknown) => e);
      expect(isFlowsyncError(err, 'FILE_CHANGED')).toBe(true);
    } finally {
      clearInterval(timer);
    }
  });
});
