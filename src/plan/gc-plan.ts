/**
 * gc of a packed remote, as two pure steps (restic's forget, then prune):
 * 1. `planGcVersions`: keep the current version, the newest `keep` others and every version
 *    younger than the grace period (a push in flight may be about to point at it); drop the rest.
 * 2. `planGcObjects`: once the kept versions are read, delete every pack/blob none of them
 *    references — but never an object younger than the grace period: a push in flight has
 *    uploaded objects that no version lists yet.
 * An object without a modification time is treated as young (kept): deleting is the one thing
 * gc must never get wrong.
 */

export interface ListedVersion {
  id: string;
  size?: number;
  lastModified?: Date;
}

export interface GcVersionPlan {
  /** Newest first. */
  keep: string[];
  delete: string[];
}

export function planGcVersions(o: { versions: readonly ListedVersion[]; current: string | null; keep: number; graceMs: number; now: Date }): GcVersionPlan {
  const young = (v: ListedVersion) => !v.lastModified || o.now.getTime() - v.lastModified.getTime() < o.graceMs;
  const newestFirst = [...o.versions].sort((a, b) => (b.lastModified?.getTime() ?? Infinity) - (a.lastModified?.getTime() ?? Infinity) || (a.id < b.id ? -1 : 1));
  const keep: string[] = [];
  const del: string[] = [];
  let others = 0;
  for (const v of newestFirst) {
    if (v.id === o.current) keep.push(v.id);
    else if (others < o.keep) {
      others++;
      keep.push(v.id);
    } else if (young(v)) keep.push(v.id);
    else del.push(v.id);
  }
  return { keep, delete: del };
}

export interface ListedObject {
  key: string;
  size: number;
  lastModified?: Date;
}

export interface GcObjectPlan {
  delete: ListedObject[];
  /** Unreferenced but inside the grace period: left for a later gc. */
  young: ListedObject[];
  kept: number;
}

export function planGcObjects(o: { objects: readonly ListedObject[]; referenced: ReadonlySet<string>; graceMs: number; now: Date }): GcObjectPlan {
  const plan: GcObjectPlan = { delete: [], young: [], kept: 0 };
  for (const obj of o.objects) {
    if (o.referenced.has(obj.key)) plan.kept++;
    else if (!obj.lastModified || o.now.getTime() - obj.lastModified.getTime() < o.graceMs) plan.young.push(obj);
    else plan.delete.push(obj);
  }
  return plan;
}
