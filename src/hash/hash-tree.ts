/**
 * Turn walked entries into manifest entries: files answered by the stat cache cost nothing;
 * the rest are read and hashed, a bounded number at a time.
 */
import pLimit from 'p-limit';
import { throwIfAborted } from '../errors.js';
import type { ManifestEntry } from '../manifest/types.js';
import type { Progress } from '../transfer/progress.js';
import type { WalkedEntry, WalkedFile } from '../walk/walk.js';
import { hashFile } from './hash-file.js';
import { nowNs, type StatCache } from './stat-cache.js';

export interface HashTreeResult {
  entries: ManifestEntry[];
  filesRead: number;
  bytesRead: number;
}

const HASH_CONCURRENCY = 8;

export async function hashTree(
  walked: WalkedEntry[],
  cache: StatCache,
  options: { signal?: AbortSignal; progress?: Progress } = {},
): Promise<HashTreeResult> {
  const entries: ManifestEntry[] = new Array(walked.length);
  const toHash: [number, WalkedFile][] = [];
  walked.forEach((w, i) => {
    if (w.kind === 'link') {
      entries[i] = { path: w.path, link: w.target };
      return;
    }
    const sha256 = cache.lookup(w.path, w);
    if (sha256 !== null) entries[i] = { path: w.path, size: w.size, mode: w.mode, sha256 };
    else toHash.push([i, w]);
  });

  const progress = options.progress;
  progress?.begin('hash', toHash.reduce((n, [, w]) => n + w.size, 0), toHash.length);
  const limit = pLimit(HASH_CONCURRENCY);
  let bytesRead = 0;
  await Promise.all(
    toHash.map(([i, w]) =>
      limit(async () => {
        throwIfAborted(options.signal);
        const started = nowNs();
        const h = await hashFile(w.source, { signal: options.signal, label: w.path });
        cache.record(w.path, w.source, h, h.sha256, started);
        // The size that was hashed is the size that goes in the manifest, even if the walk saw another.
        entries[i] = { path: w.path, size: h.size, mode: w.mode, sha256: h.sha256 };
        bytesRead += h.size;
        progress?.advance(h.size, 1);
      }),
    ),
  );
  progress?.end();
  return { entries, filesRead: toHash.length, bytesRead };
}
