/**
 * What a pull sets up around its writes on a worker (DESIGN §12): the lock that keeps a second
 * pull out of the same folder, and the machine's content cache.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ContentCache } from '../cache/content-cache.js';
import { acquireLock } from '../cache/dest-lock.js';
import { RESERVED_DIR } from '../manifest/paths.js';
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
