/** walk → hash (through the stat cache) → local manifest. */
import { defaultCacheDir, StatCache } from '../hash/stat-cache.js';
import { hashTree } from '../hash/hash-tree.js';
import { createManifest } from '../manifest/codec.js';
import { Progress } from '../transfer/progress.js';
import { loadIgnoreRules } from '../walk/ignore-rules.js';
import { checkWalkRoot, walk } from '../walk/walk.js';
import type { ScanOptions, ScanResult } from './types.js';

export interface ScanDetail extends ScanResult {
  /** Absolute path to read each file's content from. */
  sources: Map<string, string>;
}

export async function scanTree(o: ScanOptions, progress = new Progress(o.onProgress)): Promise<ScanDetail> {
  // Before the ignore file is looked for inside it: a file given as the folder must say so.
  checkWalkRoot(o.dir);
  const ignore = await loadIgnoreRules(o.dir, o.ignoreFile);
  progress.begin('scan', 0, 0);
  let counted = 0;
  const walked = await walk(o.dir, {
    ignore,
    followLinks: o.followLinks ?? false,
    ...(o.signal ? { signal: o.signal } : {}),
    onCount: (n) => {
      progress.advance(0, n - counted);
      counted = n;
    },
  });
  progress.end();
  for (const w of walked.warnings) o.log?.warn(w);
  const cache = o.cacheDir === false ? StatCache.disabled() : await StatCache.load(o.dir, o.cacheDir ?? defaultCacheDir());
  const hashed = await hashTree(walked.entries, cache, { ...(o.signal ? { signal: o.signal } : {}), progress });
  await cache.save();
  const sources = new Map<string, string>();
  for (const w of walked.entries) if (w.kind === 'file') sources.set(w.path, w.source);
  return {
    manifest: createManifest(hashed.entries),
    warnings: walked.warnings,
    filesRead: hashed.filesRead,
    bytesRead: hashed.bytesRead,
    sources,
  };
}
