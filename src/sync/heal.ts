/**
 * Healing a mirror remote: list the prefix and find every object that disagrees with the
 * manifest a push is about to commit, so that push re-uploads it. Used when a push takes over
 * an interrupted lease (a killed or racing push may have replaced objects in place) and on
 * `push --repair`.
 */
import { folderPrefix, pathOf } from '../backends/keys.js';
import type { Remote } from '../backends/open.js';
import type { FileEntry } from '../manifest/types.js';
import { disagreement, type ListedObject } from '../plan/drift.js';

/** Every object under the prefix, by tree path. A listing that breaks is retried by the remote's retry decorator. */
export async function listObjects(remote: Remote, signal?: AbortSignal): Promise<Map<string, ListedObject>> {
  const out = new Map<string, ListedObject>();
  for await (const o of remote.backend.list(folderPrefix(remote.prefix), { signal })) {
    const rel = pathOf(remote.prefix, o.key);
    if (rel === null || rel === '' || rel.endsWith('/')) continue;
    out.set(rel, { size: o.size, ...(o.etag ? { etag: o.etag } : {}), ...(o.sha256 ? { sha256: o.sha256 } : {}) });
  }
  return out;
}

/**
 * The entries of `keep` (files the push would leave alone, carrying the tags the previous
 * manifest committed) whose objects disagree: they must be uploaded again.
 */
export async function entriesToHeal(remote: Remote, keep: readonly FileEntry[], signal?: AbortSignal): Promise<{ heal: FileEntry[]; listed: number }> {
  const listing = await listObjects(remote, signal);
  return { heal: keep.filter((e) => disagreement(e, listing.get(e.path)) !== null), listed: listing.size };
}
