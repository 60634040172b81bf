/**
 * Drift of a mirror remote: a pure comparison of a manifest's file entries with a listing of the
 * prefix. An object disagrees with its entry when it is missing, has another size, carries a
 * stored sha256 that is not the entry's, or has a tag other than the one committed for it (so
 * it was replaced after that manifest was written). An entry without a committed tag (written
 * before tags existed) can only be vouched for by a stored sha256 in the listing.
 */
import { isReserved } from '../manifest/paths.js';
import type { FileEntry } from '../manifest/types.js';

export interface ListedObject {
  size: number;
  etag?: string;
  sha256?: string;
}

export type DriftKind = 'missing' | 'drifted' | 'stray';

export interface Drift {
  path: string;
  kind: DriftKind;
  detail: string;
}

/**
 * A tag as compared: stores quote ETags in some answers and not in others (Azure's list vs its
 * upload reply), and may mark them weak; the quotes are not part of the identity.
 */
export function normalizeTag(tag: string | undefined): string | undefined {
  if (tag === undefined) return undefined;
  const t = tag.startsWith('W/') ? tag.slice(2) : tag;
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t;
}

/** Why the object disagrees with `entry`, or null when it agrees. */
export function disagreement(entry: FileEntry, obj: ListedObject | undefined): string | null {
  if (!obj) return 'no object';
  if (obj.size !== entry.size) return `object has ${obj.size} B, manifest says ${entry.size} B`;
  if (obj.sha256 !== undefined && obj.sha256 !== entry.sha256) return 'stored sha256 differs from the manifest';
  if (entry.tag !== undefined) {
    if (normalizeTag(obj.etag) !== normalizeTag(entry.tag)) return `object tag ${obj.etag ?? '(none)'} is not the committed ${entry.tag} (replaced since the push)`;
    return null;
  }
  return obj.sha256 === entry.sha256 ? null : 'the manifest records no tag for it and the listing no sha256 (cannot vouch for it)';
}

/**
 * Every disagreement between `files` and `listing` (keyed by tree path). `stray`: objects under
 * the prefix that the manifest does not list (flowsync's own `.flowsync/` aside).
 */
export function findDrift(files: readonly FileEntry[], listing: ReadonlyMap<string, ListedObject>, listed: (path: string) => boolean = () => true): Drift[] {
  const out: Drift[] = [];
  const named = new Set<string>();
  for (const e of files) {
    named.add(e.path);
    const obj = listing.get(e.path);
    const why = disagreement(e, obj);
    if (why !== null) out.push({ path: e.path, kind: obj ? 'drifted' : 'missing', detail: why });
  }
  for (const p of listing.keys()) if (!named.has(p) && !isReserved(p) && listed(p)) out.push({ path: p, kind: 'stray', detail: 'object under the prefix that the manifest does not list' });
  return out;
}
