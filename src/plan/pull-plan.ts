/**
 * What a pull must do: a pure function of the target entries (the manifest, or a listing of a
 * prefix that has none), the state of the local files involved, and the record of what earlier
 * pulls placed. A local file flowsync did not place, or changed since it placed it, is never
 * overwritten or deleted without `force`: it becomes a conflict.
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
  download: PullFile[];
  link: LinkEntry[];
  /** Files with the right content and the wrong exec bit. */
  chmod: PullFile[];
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
  local: (path: string) => LocalState;
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
  const plan: PullPlan = { download: [], link: [], chmod: [], delete: [], unchanged: 0, conflicts: [], kept: [], forget: [] };
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
  return plan;
}

function notOurs(l: LocalState, p: Placed | undefined): string {
  if (!p) return `a ${l.kind === 'link' ? 'link' : 'file'} that flowsync did not place is in the way`;
  return 'changed locally since flowsync placed it';
}
