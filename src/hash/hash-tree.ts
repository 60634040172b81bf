/**
 * Hash the files the stat cache could not vouch for, a bounded number at a time, filling in
 * their manifest entries. Small files are read synchronously (see hash-file.ts).
 */
import type { FileEntry } from '../manifest/types.js';
import { runPool } from '../util/pool.js';
import type { Progress } from '../util/progress.js';
import { hashFile } from './hash-file.js';
import type { StatIdentity } from './identity.js';
import type { StatCache } from './stat-cache.js';

/** A file to hash: its manifest entry (sha256 still empty), where to read it, what the walk saw. */
export interface HashJob {
  entry: FileEntry;
  source: string;
  seen: StatIdentity;
}

/** Large files are read asynchronously; a few at once keep the disk busy. */
const HASH_CONCURRENCY = 4;
const YIELD_EVERY_MS = 10;

/** Returns the bytes read. */
export async function hashFiles(jobs: HashJob[], cache: StatCache, options: { signal?: AbortSignal; progress?: Progress } = {}): Promise<number> {
  const progress = options.progress;
  progress?.begin('hash', jobs.reduce((n, j) => n + j.seen.size, 0), jobs.length);
  let bytesRead = 0;
  let lastYield = Date.now();
  await runPool(
    jobs,
    HASH_CONCURRENCY,
    async ({ entry, source }, signal) => {
      // Small files are hashed with synchronous reads: give the event loop a turn now and then,
      // so progress output and Ctrl-C are not held up by a long run of them.
      if (Date.now() - lastYield > YIELD_EVERY_MS) {
        await new Promise<void>((r) => setImmediate(r));
        lastYield = Date.now();
      }
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
