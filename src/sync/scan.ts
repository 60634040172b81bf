/** walk → hash (through the stat cache) → local manifest. */
import path from 'node:path';
import { hashFiles } from '../hash/hash-tree.js';
import { modeOf } from '../hash/identity.js';
import { StatCache } from '../hash/stat-cache.js';
import { defaultCacheDir } from '../util/cache-dir.js';
import { createManifest } from '../manifest/codec.js';
import type { FileEntry, ManifestEntry } from '../manifest/types.js';
import { Progress } from '../util/progress.js';
import { loadIgnoreRules } from '../walk/ignore-rules.js';
import { checkWalkRoot, walkTree } from '../walk/walk.js';
import type { ScanOptions, ScanResult } from './types.js';

export interface ScanDetail extends ScanResult {
  /** The absolute folder scanned: a file's content is read from `<root>/<path>`. */
  root: string;
}

export async function scanTree(o: ScanOptions, progress = new Progress(o.onProgress)): Promise<ScanDetail> {
  // Before the ignore file is looked for inside it: a file given as the folder must say so.
  const root = checkWalkRoot(o.dir);
  const ignore = await loadIgnoreRules(root, o.ignoreFile);
  const cache = o.cacheDir === false ? StatCache.disabled() : await StatCache.load(root, o.cacheDir ?? defaultCacheDir());
  progress.begin('scan', 0, 0);
  let counted = 0;
  // The stat cache answers during the walk, so a file it knows costs one small object.
  const entries: ManifestEntry[] = [];
  const unhashed: FileEntry[] = [];
  const walked = await walkTree(
    root,
    {
      ignore,
      followLinks: o.followLinks ?? false,
      ...(o.signal ? { signal: o.signal } : {}),
      onCount: (n) => {
        progress.advance(0, n - counted);
        counted = n;
      },
    },
    (rel, _full, st) => {
      const entry = { path: rel, size: st.size, mode: modeOf(st), sha256: cache.lookup(rel, st) ?? '' };
      entries.push(entry);
      if (entry.sha256 === '') unhashed.push(entry);
    },
  );
  progress.end();
  for (const w of walked.warnings) o.log?.warn(w);
  for (const l of walked.links) entries.push({ path: l.path, link: l.target });
  const bytesRead = await hashFiles(root, unhashed, cache, { ...(o.signal ? { signal: o.signal } : {}), progress });
  await cache.save();
  return { manifest: createManifest(entries), warnings: walked.warnings, filesRead: unhashed.length, bytesRead, root };
}

/** Where push reads a manifest path's content from. */
export function sourceOf(scan: ScanDetail, rel: string): string {
  return path.join(scan.root, rel);
}
