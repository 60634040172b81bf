/**
 * What this machine last knew of a remote's manifest: its version tag, its id, the digest of its
 * file list, and a copy of its bytes. A push whose tree has that digest, to a remote whose
 * manifest still has that tag, has nothing to do: one HEAD request instead of downloading and
 * parsing the manifest (12 MB for 100k files). A push with changes plans against the copy,
 * still one HEAD request. Kept in the user cache folder beside the stat cache.
 */
import { createHash } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Remote } from '../backends/open.js';
import { manifestId } from '../manifest/codec.js';
import { writeFileAtomic } from '../util/atomic-write.js';

export interface ManifestMemo {
  etag: string;
  id: string;
  filesDigest: string;
}

const FORMAT = 'flowsync-remote-memo-1';

function memoFile(cacheDir: string, remote: Remote, suffix = '.json'): string {
  const key = `${remote.scheme}\0${remote.bucket}\0${remote.prefix}`;
  return path.join(cacheDir, 'remotes', `${createHash('sha256').update(key).digest('hex').slice(0, 32)}${suffix}`);
}

const COPY_SUFFIX = '.manifest';

/**
 * Synchronous (a file of ~200 bytes): a push's manifest request then leaves in the same tick as
 * its lease request, so a 404 for the lease finds the manifest's request in flight (see the S3
 * backend's explainHeadFailure) instead of costing a probe.
 */
export function loadMemo(cacheDir: string, remote: Remote): ManifestMemo | null {
  try {
    const m = JSON.parse(fs.readFileSync(memoFile(cacheDir, remote), 'utf8')) as Partial<ManifestMemo> & { format?: string };
    if (m.format !== FORMAT || typeof m.etag !== 'string' || typeof m.id !== 'string' || typeof m.filesDigest !== 'string') return null;
    return { etag: m.etag, id: m.id, filesDigest: m.filesDigest };
  } catch {
    return null;
  }
}

/** The manifest bytes the memo describes, or null when the copy is missing or is not those bytes. */
export async function loadMemoCopy(cacheDir: string, remote: Remote, memo: ManifestMemo): Promise<Buffer | null> {
  try {
    const bytes = await fsp.readFile(memoFile(cacheDir, remote, COPY_SUFFIX));
    return manifestId(bytes) === memo.id ? bytes : null;
  } catch {
    return null;
  }
}

/**
 * Remember `memo`, with `bytes` (the manifest it describes) as the copy; without `bytes` the
 * copy must have been saved already (saveMemoCopy), else the memo leads to a fresh read.
 */
export async function saveMemo(cacheDir: string, remote: Remote, memo: ManifestMemo, bytes?: Uint8Array): Promise<void> {
  // The copy first: a memo is only ever paired with its own copy (checked by id on load).
  if (bytes && !(await saveMemoCopy(cacheDir, remote, bytes))) return;
  try {
    await writeFileAtomic(memoFile(cacheDir, remote), Buffer.from(JSON.stringify({ format: FORMAT, ...memo })));
  } catch {
    // Only a shortcut: without it the next push reads the manifest.
  }
}

/**
 * Keep `bytes` as the copy for a memo saved later. A push saves the manifest it read at once,
 * so it need not hold the bytes while it scans (22 MB at 100k files). False when not saved.
 */
export async function saveMemoCopy(cacheDir: string, remote: Remote, bytes: Uint8Array): Promise<boolean> {
  const copy = memoFile(cacheDir, remote, COPY_SUFFIX);
  try {
    await fsp.mkdir(path.dirname(copy), { recursive: true });
    await writeFileAtomic(copy, bytes);
    return true;
  } catch {
    return false;
  }
}
