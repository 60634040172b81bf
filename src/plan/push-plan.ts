/**
 * What a push must do: a pure function of the local manifest entries and the remote manifest's
 * (or null when the remote has none). Objects exist only for files; links live in the manifest.
 */
import { isFile, sameContent, type FileEntry, type ManifestEntry } from '../manifest/types.js';

export interface PushPlan {
  /** Files whose content the remote does not have at that path. */
  upload: FileEntry[];
  /** Paths of remote objects the previous manifest listed and the new one does not (as files). */
  delete: string[];
  /** Entries identical on both sides. */
  unchanged: number;
  /** Whether the manifest must be (re)written: false only when it would be identical. */
  manifestChanged: boolean;
}

export function planPush(local: readonly ManifestEntry[], remote: readonly ManifestEntry[] | null): PushPlan {
  const before = new Map<string, ManifestEntry>();
  for (const e of remote ?? []) before.set(e.path, e);
  const upload: FileEntry[] = [];
  let unchanged = 0;
  let differs = remote === null || remote.length !== local.length;
  const localFiles = new Set<string>();

  for (const e of local) {
    const old = before.get(e.path);
    if (isFile(e)) {
      localFiles.add(e.path);
      // Same bytes at the same key: nothing to send, even if only the mode changed.
      if (!old || !isFile(old) || old.sha256 !== e.sha256 || old.size !== e.size) upload.push(e);
    }
    if (old && sameContent(old, e)) unchanged++;
    else differs = true;
  }

  const del: string[] = [];
  for (const e of remote ?? []) if (isFile(e) && !localFiles.has(e.path)) del.push(e.path);

  return { upload, delete: del, unchanged, manifestChanged: differs };
}
