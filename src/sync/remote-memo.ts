/**
 * What this machine last knew of a remote's manifest: its version tag, its id and the digest of
 * its file list. A push whose tree has that digest, to a remote whose manifest still has that
 * tag, has nothing to do: one HEAD request instead of downloading and parsing the manifest
 * (12 MB for 100k files). Kept in the user cache folder beside the stat cache.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Remote } from '../backends/open.js';

export interface ManifestMemo {
  etag: string;
  id: string;
  filesDigest: string;
}

const FORMAT = 'flowsync-remote-memo-1';

function memoFile(cacheDir: string, remote: Remote): string {
  const key = `${remote.scheme}\0${remote.bucket}\0${remote.prefix}`;
  return path.join(cacheDir, 'remotes', `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.json`);
}

export async function loadMemo(cacheDir: string, remote: Remote): Promise<ManifestMemo | null> {
  try {
    const m = JSON.parse(await fsp.readFile(memoFile(cacheDir, remote), 'utf8')) as Partial<ManifestMemo> & { format?: string };
    if (m.format !== FORMAT || typeof m.etag !== 'string' || typeof m.id !== 'string' || typeof m.filesDigest !== 'string') return null;
    return { etag: m.etag, id: m.id, filesDigest: m.filesDigest };
  } catch {
    return null;
  }
}

export async function saveMemo(cacheDir: string, remote: Remote, memo: ManifestMemo): Promise<void> {
  const file = memoFile(cacheDir, remote);
  try {
    await fsp.mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await fsp.writeFile(tmp, JSON.stringify({ format: FORMAT, ...memo }));
    await fsp.rename(tmp, file);
  } catch {
    // Only a shortcut: without it the next push reads the manifest.
  }
}
