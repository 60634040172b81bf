/**
 * What a pull brings down: the manifest's entries, or — for a prefix pushed by Prefect's own
 * steps, which write no manifest — every object under the prefix, as Prefect's pull would.
 */
import { folderPrefix, keyFor, pathOf } from '../backends/keys.js';
import type { Remote } from '../backends/open.js';
import { FlowsyncError } from '../errors.js';
import { fileFolderClash, isReserved, unsafePathReason } from '../manifest/paths.js';
import { isLink } from '../manifest/types.js';
import type { PullTarget } from '../plan/pull-plan.js';
import { loadPackedSource, type PackedSource } from './packed-pull.js';
import { fetchAnyManifest } from './remote-manifest.js';

export interface PullSource {
  targets: PullTarget[];
  /** Object key of each file target (packed: of each blob). */
  keys: Map<string, string>;
  manifest: string | null;
  /** A packed version: where its small files sit in packs. */
  packed?: PackedSource;
}

/** `version`: a packed version to pull instead of the current one. */
export async function loadPullSource(remote: Remote, signal?: AbortSignal, version?: string): Promise<PullSource> {
  if (version !== undefined) return loadPackedSource(remote, { version, ...(signal ? { signal } : {}) });
  const found = await fetchAnyManifest(remote, signal);
  if (found && 'packed' in found) return loadPackedSource(remote, { doc: found.packed, ...(signal ? { signal } : {}) });
  const keys = new Map<string, string>();
  if (found) {
    for (const e of found.manifest.files) if (!isLink(e)) keys.set(e.path, keyFor(remote.prefix, e.path));
    return { targets: found.manifest.files, keys, manifest: found.id };
  }
  const targets: PullTarget[] = [];
  // A listing that breaks is retried by the remote's retry decorator, not here.
  for await (const o of remote.backend.list(folderPrefix(remote.prefix), { signal })) {
    const rel = pathOf(remote.prefix, o.key);
    if (rel === null || rel === '' || rel.endsWith('/')) continue; // folder markers
    // Prefect pushes from Windows wrote '\' as the separator; its pull reads it as one too.
    const path = rel.replaceAll('\\', '/');
    if (isReserved(path)) continue;
    const reason = unsafePathReason(path);
    if (reason !== null) {
      throw new FlowsyncError('UNSAFE_PATH', `Refusing to pull ${remote.url}: object ${JSON.stringify(o.key)} would land outside the folder (${reason}). Nothing was written.`);
    }
    if (keys.has(path)) {
      throw new FlowsyncError('UNSAFE_PATH', `Refusing to pull ${remote.url}: two objects map to ${JSON.stringify(path)} (one uses "\\" as separator). Remove one of them.`);
    }
    keys.set(path, o.key);
    targets.push({ path, size: o.size, mode: 0o644, ...(o.etag ? { etag: o.etag } : {}) });
  }
  const clash = fileFolderClash(new Set(keys.keys()));
  if (clash) {
    throw new FlowsyncError('UNSAFE_PATH', `Refusing to pull ${remote.url}: ${JSON.stringify(clash[0])} is both an object and a folder of ${JSON.stringify(clash[1])}. Remove one of them.`);
  }
  if (targets.length === 0) {
    throw new FlowsyncError('NOT_FOUND', `Nothing to pull at ${remote.url}: it has no flowsync manifest and no objects. Check the bucket and folder names, or push first.`);
  }
  return { targets, keys, manifest: null };
}
