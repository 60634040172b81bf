/**
 * What a push builds on, resolved in one place: this machine's memo of the remote (tag, id,
 * digest of the file list), the remote manifest's current tag, and the manifest itself, taken
 * from the memo's copy when the tag still matches (one HEAD request) and read otherwise.
 */
import type { Remote } from '../backends/open.js';
import { fetchPushBase, pushBaseOf, type PushBase } from './remote-manifest.js';
import { loadMemo, loadMemoCopy, saveMemoCopy, type ManifestMemo } from './remote-memo.js';

export interface RemoteState {
  /** The memo, when the remote manifest still has the tag it recorded (it describes that manifest). */
  current: ManifestMemo | null;
  /**
   * The manifest a push replaces. When `current` is set it is parsed from the memo's copy only
   * when asked for (a push with nothing to do never parses it), and read again when the copy is gone.
   */
  base(): Promise<PushBase>;
}

export async function resolveRemoteState(remote: Remote, o: { cacheDir: string | null; signal?: AbortSignal }): Promise<RemoteState> {
  const memo = o.cacheDir ? loadMemo(o.cacheDir, remote) : null;
  const fetched = await fetchPushBase(remote, o.signal, memo?.etag);
  if (!fetched.unchanged || !memo || !o.cacheDir) {
    // The bytes read go to the memo's copy now rather than staying in memory until the push ends.
    if (o.cacheDir && fetched.previousBytes && (await saveMemoCopy(o.cacheDir, remote, fetched.previousBytes))) delete fetched.previousBytes;
    const base = fetched.unchanged ? fetchPushBase(remote, o.signal) : Promise.resolve(fetched);
    return { current: null, base: () => base };
  }
  const cacheDir = o.cacheDir;
  let base: Promise<PushBase> | undefined;
  return {
    current: memo,
    base: () =>
      (base ??= loadMemoCopy(cacheDir, remote, memo).then((copy) => {
        if (!copy) return fetchPushBase(remote, o.signal);
        const { previousBytes: _saved, ...fromCopy } = pushBaseOf(remote, copy, memo.etag);
        return fromCopy;
      })),
  };
}
