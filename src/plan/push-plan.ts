/**
 * What a push must do: a pure function of the local manifest entries and the remote manifest's
 * (or null when the remote has none). Objects exist only for files; links live in the manifest.
 */
import { joinByPath } from '../manifest/paths.js';
import { isFile, sameContent, type FileEntry, type ManifestEntry } from '../manifest/types.js';

export interface PushPlan {
  /** Files whose content the remote does not have at that path. */
  upload: FileEntry[];
  /** Paths of remote objects the previous manifest listed and the new one does not (as files). */
  delete: string[];
  /** Paths whose entry changes though no bytes go up: a mode change, a new or changed link. */
  update: string[];
  /** Entries identical on both sides. */
  unchanged: number;
  /** Whether the manifest must be (re)written: false only when it would be identical. */
  manifestChanged: boolean;
}

export function planPush(local: readonly ManifestEntry[], remote: readonly ManifestEntry[] | null): PushPlan {
  const upload: FileEntry[] = [];
  const del: string[] = [];
  const update: string[] = [];
  let unchanged = 0;
  let differs = remote === null;
  joinByPath(local, remote ?? [], (e, old) => {
    // An object whose path is no longer a file (gone, or a link now) is deleted.
    if (old && isFile(old) && !(e && isFile(e))) del.push(old.path);
    if (e === undefined) {
      differs = true;
      return;
    }
    if (old && sameContent(old, e)) {
      unchanged++;
      return;
    }
    differs = true;
    // Same bytes at the same key: nothing to send, even if only the mode changed.
    if (isFile(e) && (!old || !isFile(old) || old.sha256 !== e.sha256 || old.size !== e.size)) upload.push(e);
    else update.push(e.path);
  });
  return { upload, delete: del, update, unchanged, manifestChanged: differs };
}
