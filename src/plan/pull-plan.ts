/**
 * What a pull must do, as one plan: a pure function of the target entries (the manifest, or a
 * listing of a prefix that has none), the facts gathered about the destination (the state of
 * every path involved and of the folders above them, the files inside a folder that stands
 * where a file must go) and the record of what earlier pulls placed. A local file flowsync did
 * not place, or changed since it placed it, is never overwritten or deleted without `force`: it
 * becomes a conflict. The plan's lists are the executor's phases, in order: clear, download,
 * chmod, link, delete, forget; conflicts that `force` does not cover stop it before the first.
 */
import type { FileMode, LinkEntry } from '../manifest/types.js';

/** A file to bring down. `sha256` is absent when the source has no manifest (a Prefect push). */
export interface PullFile {
  path: string;
  size: number;
  mode: FileMode;
  sha256?: string;
  /** Object version tag; lets a manifest-less pull skip objects it already placed. */
  etag?: string;
}

export type PullTarget = PullFile | LinkEntry;

export type LocalState =
  | { kind: 'missing' }
  /** sha256 null: known to differ from both the target and what was placed (sizes differ). */
  | { kind: 'file'; sha256: string | null; mode: FileMode }
  | { kind: 'link'; target: string }
  | { kind: 'dir' }
  | { kind: 'other' };

/** What an earlier pull put at a path. */
export interface Placed {
  sha256?: string;
  link?: string;
  etag?: string;
  /**
   * What a pull that did not finish was about to place (a sha256, or a link target): written to
   * the record before the first write, so a pull killed mid-way still knows its own files.
   */
  pending?: string;
}

export interface Conflict {
  path: string;
  reason: string;
  /** Whether `force` may proceed over it (never for a folder in the way). */
  overridable: boolean;
}

export interface PullPlan {
  /** Deletes that must run before any write: placed files standing where a folder must go, or inside a folder where a file must go. */
  clear: string[];
  download: PullFile[];
  link: LinkEntry[];
  /** Files with the right content and the wrong exec bit. */
  chmod: PullFile[];
  /** Placed files no longer listed (the delete phase skips those `clear` already removed). */
  delete: string[];
  unchanged: number;
  conflicts: Conflict[];
  /** Placed earlier, no longer listed, but changed locally since: kept, and no longer flowsync's. */
  kept: string[];
  /** Paths placed earlier that are gone locally or kept: drop them from the record. */
  forget: string[];
}

export interface PullPlanInput {
  targets: readonly PullTarget[];
  /** The state of a target path, a placed path, or a folder above a target path. */
  local: (path: string) => LocalState;
  /**
   * The files (paths from the destination, links included) inside a folder that stands at a
   * target's path; null or absent when unknown. Such a folder can give way only when it holds
   * nothing but files this pull deletes.
   */
  folderFiles?: (path: string) => readonly string[] | null;
  placed: ReadonlyMap<string, Placed>;
  delete: boolean;
  force: boolean;
}

const isLinkTarget = (t: PullTarget): t is LinkEntry => 'link' in t;

/** Is the local thing at a path exactly what flowsync placed there (so it may be replaced)? */
function isOurs(l: LocalState, p: Placed | undefined): boolean {
  if (!p) return false;
  if (l.kind === 'file') return l.sha256 !== null && (l.sha256 === p.sha256 || l.sha256 === p.pending);
  if (l.kind === 'link') return l.target === p.link || l.target === p.pending;
  return false;
}

export function planPull(input: PullPlanInput): PullPlan {
  const plan: PullPlan = { clear: [], download: [], link: [], chmod: [], delete: [], unchanged: 0, conflicts: [], kept: [], forget: [] };
  const targetPaths = new Set<string>();
  const conflict = (path: string, reason: string, overridable = true): boolean => {
    plan.conflicts.push({ path, reason, overridable });
    return overridable && input.force;
  };

  for (const t of input.targets) {
    targetPaths.add(t.path);
    const l = input.local(t.path);
    const p = input.placed.get(t.path);
    if (l.kind === 'missing') {
      if (isLinkTarget(t)) plan.link.push(t);
      else plan.download.push(t);
      continue;
    }
    if (l.kind === 'dir') {
      conflict(t.path, 'a folder is in the way', false);
      continue;
    }
    if (isLinkTarget(t)) {
      if (l.kind === 'link' && l.target === t.link) plan.unchanged++;
      else if (isOurs(l, p) || conflict(t.path, notOurs(l, p))) plan.link.push(t);
      continue;
    }
    if (l.kind === 'file' && l.sha256 !== null) {
      const same =
        t.sha256 !== undefined
          ? l.sha256 === t.sha256
          : // No manifest: trust the object only if it is the very version placed, untouched.
            p?.etag !== undefined && p.etag === t.etag && p.sha256 === l.sha256;
      if (same) {
        if (l.mode === t.mode) plan.unchanged++;
        else plan.chmod.push(t);
        continue;
      }
    }
    if (isOurs(l, p) || conflict(t.path, notOurs(l, p))) plan.download.push(t);
  }

  for (const [path, p] of input.placed) {
    if (targetPaths.has(path)) continue;
    const l = input.local(path);
    if (l.kind === 'missing') plan.forget.push(path);
    else if (!input.delete) continue;
    else if (isOurs(l, p)) plan.delete.push(path);
    else if (input.force && l.kind !== 'dir') {
      // Forced over a local change: listed like a forced overwrite, so the caller can say so.
      plan.conflicts.push({ path, reason: 'changed locally since flowsync placed it, and the source no longer lists it', overridable: true });
      plan.delete.push(path);
    } else {
      // Changed locally and no longer listed: keeping it loses nothing, so keep it and say so.
      plan.kept.push(path);
      plan.forget.push(path);
    }
  }
  clearTheWay(plan, input);
  return plan;
}

/**
 * What stands where the pull must write: a folder at a file's path (it gives way when it holds
 * only files this pull deletes: those deletes run first), or a file or link where a folder must
 * go (deleted first when the plan deletes it anyway, else a conflict `force` may override).
 */
function clearTheWay(plan: PullPlan, input: PullPlanInput): void {
  const deleting = new Set(plan.delete);
  const first = new Set<string>();
  const byPath = new Map(input.targets.map((t) => [t.path, t]));
  const writes = [...plan.download.map((t) => t.path), ...plan.link.map((l) => l.path)];

  for (const c of [...plan.conflicts]) {
    if (c.overridable || input.local(c.path).kind !== 'dir') continue;
    const inside = [...deleting].filter((p) => p.startsWith(c.path + '/'));
    const files = input.folderFiles?.(c.path);
    if (inside.length === 0 || !files || !files.every((f) => deleting.has(f))) continue;
    plan.conflicts.splice(plan.conflicts.indexOf(c), 1);
    inside.forEach((p) => first.add(p));
    const t = byPath.get(c.path)!;
    if (isLinkTarget(t)) plan.link.push(t);
    else plan.download.push(t);
    writes.push(c.path);
  }

  // Folders known to be (or to become) absent: nothing below them needs clearing.
  const gone = new Set<string>();
  for (const w of writes) {
    const parts = w.split('/');
    for (let i = 1; i < parts.length; i++) {
      const ancestor = parts.slice(0, i).join('/');
      if (gone.has(ancestor)) break;
      const kind = input.local(ancestor).kind;
      if (kind === 'dir') continue;
      if (kind !== 'missing') {
        if (deleting.has(ancestor)) first.add(ancestor);
        else {
          const ours = input.placed.has(ancestor);
          plan.conflicts.push({ path: ancestor, reason: `a ${ours ? 'changed ' : ''}file is where the folder of ${w} must go`, overridable: true });
          if (input.force) first.add(ancestor);
        }
      }
      gone.add(ancestor);
      break;
    }
  }
  plan.clear = [...first];
}

function notOurs(l: LocalState, p: Placed | undefined): string {
  if (!p) return `a ${l.kind === 'link' ? 'link' : 'file'} that flowsync did not place is in the way`;
  return 'changed locally since flowsync placed it';
}
