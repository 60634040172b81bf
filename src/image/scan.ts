/**
 * The files an image takes from a folder: walk (with the given ignore rules) and hash through
 * the stat cache, as push does, so an unchanged file is not read to decide whether its layer
 * changed. (sync/scan.ts does the same for push; it sits above image/ in the floors.)
 */
import { hashFiles } from '../hash/hash-tree.js';
import { modeOf } from '../hash/identity.js';
import { StatCache } from '../hash/stat-cache.js';
import type { FileEntry, ManifestEntry } from '../manifest/types.js';
import type { Progress } from '../util/progress.js';
import type { IgnoreMatcher } from '../walk/ignore-rules.js';
import { checkWalkRoot, walkTree } from '../walk/walk.js';
import type { Logger } from './types.js';

export interface ImageScan {
  root: string;
  entries: ManifestEntry[];
}

export async function scanForImage(
  dir: string,
  o: { ignore: IgnoreMatcher; cacheDir: string | false; followLinks?: boolean; signal?: AbortSignal; log: Logger; progress?: Progress },
): Promise<ImageScan> {
  const root = checkWalkRoot(dir);
  const cache = o.cacheDir === false ? StatCache.disabled() : await StatCache.load(root, o.cacheDir);
  const entries: ManifestEntry[] = [];
  const unhashed: FileEntry[] = [];
  const walked = await walkTree(root, { ignore: o.ignore, followLinks: o.followLinks ?? false, ...(o.signal ? { signal: o.signal } : {}) }, (rel, _full, st) => {
    const entry = { path: rel, size: st.size, mode: modeOf(st), sha256: cache.lookup(rel, st) ?? '' };
    entries.push(entry);
    if (entry.sha256 === '') unhashed.push(entry);
  });
  for (const w of walked.warnings) o.log.warn(w);
  for (const l of walked.links) entries.push({ path: l.path, link: l.target });
  await hashFiles(root, unhashed, cache, { ...(o.signal ? { signal: o.signal } : {}), ...(o.progress ? { progress: o.progress } : {}) });
  await cache.save();
  return { root, entries };
}
