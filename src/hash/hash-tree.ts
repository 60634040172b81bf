/**
 * Hash the files the stat cache could not vouch for, a bounded number at a time, filling in
 * their manifest entries. Small files are read synchronously (see hash-file.ts).
 */
import path from 'node:path';
import type { FileEntry } from '../manifest/types.js';
import { runPool } from '../util/pool.js';
import type { Progress } from '../util/progress.js';
import { hashFile } from './hash-file.js';
import type { StatCache } from './stat-cache.js';

/** Large files are read asynchronously; a few at once keep the disk busy. */
const HASH_CONCURRENCY = 4;
const YIELD_EVERY_MS = 10;

/**
 * Hash the files of `entries` (sha256 still empty, size as the walk saw it), read from
 * `<root>/<path>`. Only the entries are held until their turn: a job object, an absolute path
 * and a stat identity per file were ~250 bytes each at 100k files. Returns the bytes read.
 */
export async function hashFiles(
  root: string,
  entries: FileEntry[],
  cache: StatCache,
  options: { signal?: AbortSignal; progress?: Progress } = {},
): Promise<number> {
  const progress = options.progress;
  progress?.begin('hash', entries.reduce((n, e) => n + e.size, 0), entries.length);
  let bytesRead = 0;
  let lastYield = Date.now();
  const prefix = root.endsWith(path.sep) ? root : root + path.sep; // path.join's normalising is ~0.5 µs a file
  await runPool(
    entries,
    HASH_CONCURRENCY,
    async (entry, signal) => {
      // Small files are hashed with synchronous reads: give the event loop a turn now and then,
      // so progress output and Ctrl-C are not held up by a long run of them.
      if (Date.now() - lastYield > YIELD_EVERY_MS) {
        await new Promise<void>((r) => setImmediate(r));
        lastYield = Date.now();
      }
      const source = prefix + entry.path;
      const started = Date.now();
      const h = await hashFile(source, { signal, label: entry.path });
      cache.record(entry.path, source, h, h.sha256, started);
      // The size that was hashed is the size that goes in the manifest, even if the walk saw another.
      entry.size = h.size;
      entry.sha256 = h.sha256;
      bytesRead += h.size;
      progress?.advance(h.size, 1);
    },
    options.signal,
  );
  progress?.end();
  return bytesRead;
}
