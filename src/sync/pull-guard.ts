/**
 * What a pull sets up around its writes on a worker (DESIGN §12): the lock that keeps a second
 * pull out of the same folder, and the machine's content cache.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ContentCache } from '../cache/content-cache.js';
import { acquireLock } from '../cache/dest-lock.js';
import { RESERVED_DIR } from '../manifest/paths.js';
import type { FetchInto } from './tree-writer.js';
import type { PullOptions } from './types.js';

export interface DestinationGuard {
  /** This pull had to wait for another one: what it read of the remote before may be stale. */
  waited: boolean;
  release(): Promise<void>;
}

export function plainLockFile(dir: string): string {
  return path.join(dir, RESERVED_DIR, 'pull.lock');
}

/**
 * Lock `<dir>/.flowsync/pull.lock` for the rest of the pull. A pull that fails before writing
 * leaves no trace of the lock: the folders it created for it are removed again when empty.
 */
export async function guardDestination(dir: string, o: Pick<PullOptions, 'lockWaitMs' | 'signal' | 'log'>): Promise<DestinationGuard> {
  const existed = await fsp.stat(dir).then(() => true, () => false);
  let waited = false;
  const lock = await acquireLock(plainLockFile(dir), {
    what: dir,
    ...(o.lockWaitMs !== undefined ? { waitMs: o.lockWaitMs } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
    onWait: (m) => {
      waited = true;
      o.log?.info(m);
    },
  });
  return {
    waited,
    async release() {
      await lock.release();
      await fsp.rmdir(path.join(dir, RESERVED_DIR)).catch(() => {});
      if (!existed) await fsp.rmdir(dir).catch(() => {});
    },
  };
}

/**
 * The content cache in front of a file's download: a hit is copied (and verified) into `tmp`;
 * a miss is downloaded, and what the download verified against the manifest enters the cache:
 * written alongside the download where it can be (entry-writer.ts), else copied from `tmp`.
 * Files without a manifest hash (a prefix pushed by Prefect) bypass the cache.
 */
export function cachedFetch(cache: ContentCache | null, t: { sha256?: string; size: number; mode: number }, download: FetchInto, onHit: () => void): FetchInto {
  const sha256 = t.sha256;
  if (!cache || !sha256) return download;
  return async (tmp, signal) => {
    if (await cache.place(sha256, t.size, tmp, t.mode)) {
      onHit();
      return sha256;
    }
    const entry = cache.beginEntry(sha256, t.size);
    let got: string | undefined;
    try {
      got = await download(tmp, signal, entry ?? undefined);
    } catch (err) {
      if (entry) await cache.endEntry(entry, false);
      throw err;
    }
    const cached = entry !== null && (await cache.endEntry(entry, got === sha256));
    if (got === sha256 && !cached) await cache.addFile(sha256, tmp, t.size);
    return got;
  };
}

/** The content cache this pull uses, or null with `cacheDir: false`. */
export function openContentCache(o: Pick<PullOptions, 'cacheDir' | 'cacheSize' | 'link' | 'log'>): ContentCache | null {
  if (o.cacheDir === false) return null;
  return new ContentCache({
    ...(o.cacheDir ? { root: path.join(o.cacheDir, 'content') } : {}),
    ...(o.cacheSize !== undefined ? { maxBytes: o.cacheSize } : {}),
    ...(o.link ? { link: true } : {}),
    onWarn: (m) => o.log?.warn(m),
  });
}
