/**
 * Switching a remote's layout (DESIGN §5): the layout is the remote's own after its first push;
 * a push with the other `--layout` converts it, says so, and removes the old layout's objects
 * once the new manifest is in force (nothing anyone reads then).
 */
import type { Remote } from '../backends/open.js';
import { looksPacked } from '../manifest/packed.js';
import { blobsFolder, packsFolder, versionsFolder } from '../pack/layout.js';
import type { Backend } from '../backends/types.js';
import { deleteKeys } from '../transfer/delete.js';
import type { Progress } from '../util/progress.js';
import { loadMemoCopy, type ManifestMemo } from './remote-memo.js';
import type { Logger } from './types.js';

/**
 * Whether `--layout` asks for a layout other than the one of the manifest this machine last saw
 * (the memo's copy): then an unchanged tree still has work to do.
 */
export async function memoLayoutDiffers(layout: 'mirror' | 'packed' | undefined, cacheDir: string, remote: Remote, memo: ManifestMemo): Promise<boolean> {
  if (!layout) return false;
  const copy = await loadMemoCopy(cacheDir, remote, memo);
  if (!copy) return true; // unknown: let the push read the remote and decide
  return (looksPacked(copy) ? 'packed' : 'mirror') !== layout;
}

export function convertingToMirrorWarning(remote: Remote): string {
  return `Converting ${remote.url} from the packed layout to mirror: its versions, packs and blobs are removed once the mirror manifest is in force (no more log, rollback or pinned pulls).`;
}

/** After a conversion to mirror: remove the packed layout's versions, packs and blobs. Returns how many. */
export async function dropPackedObjects(remote: Remote, progress: Progress, log?: Logger, signal?: AbortSignal): Promise<number> {
  const keys: string[] = [];
  try {
    for (const folder of [versionsFolder(remote.prefix), packsFolder(remote.prefix), blobsFolder(remote.prefix)]) {
      for await (const o of remote.backend.list(folder, { signal })) keys.push(o.key);
    }
    await deleteCounted(remote.backend, keys, progress, signal);
    return keys.length;
  } catch (err) {
    log?.warn(`The push succeeded, but removing the packed layout's objects failed: ${(err as Error).message}`);
    return 0;
  }
}

/** The engine's batched deletes, counted in the 'delete' phase of `progress`. */
export async function deleteCounted(backend: Backend, keys: string[], progress: Progress, signal?: AbortSignal): Promise<void> {
  progress.begin('delete', 0, keys.length);
  await deleteKeys(backend, keys, { ...(signal ? { signal } : {}), onBatch: (batch) => progress.advance(0, batch.length) });
  progress.end();
}
