/**
 * The pending-write journal of a pull. Before its first write, a pull marks in the record of
 * placed files what it is about to place at each path (a sha256, or a link target), so a pull
 * killed mid-way still recognises its own files next time. This run's own failures undo their
 * marks; the marks a killed run left are settled after the next successful pull.
 */
import type { LocalState, PullPlan, PullTarget } from '../plan/pull-plan.js';
import type { PlacedFile } from './pull-state.js';

/** What each marked path held in the record before: what `undoPending` puts back. */
export type Journal = Map<string, PlacedFile | undefined>;

export function markPending(plan: PullPlan, placed: Map<string, PlacedFile>): Journal {
  const journal: Journal = new Map();
  for (const t of [...plan.download, ...plan.link]) {
    const pending = 'link' in t ? t.link : t.sha256;
    if (pending === undefined) continue;
    journal.set(t.path, placed.get(t.path));
    placed.set(t.path, { ...placed.get(t.path), pending });
  }
  return journal;
}

/** Undo the marks of paths this run did not write (a write that succeeded replaced its entry). */
export function undoPending(journal: Journal, placed: Map<string, PlacedFile>): void {
  for (const [p, before] of journal) {
    if (placed.get(p)?.pending === undefined) continue;
    if (before) placed.set(p, before);
    else placed.delete(p);
  }
}

/**
 * After a successful pull, resolve what an earlier killed pull marked as pending: a file that
 * holds the content it was about to place is flowsync's (`record` it in full); otherwise the
 * mark is dropped, and an entry with nothing else recorded is forgotten.
 */
export function settlePending(
  placed: Map<string, PlacedFile>,
  targets: Map<string, PullTarget>,
  local: Map<string, LocalState>,
  record: (path: string, entry: Pick<PlacedFile, 'sha256' | 'link' | 'etag'>) => void,
): void {
  for (const [p, e] of placed) {
    if (e.pending === undefined) continue;
    const t = targets.get(p);
    const l = local.get(p);
    const holdsIt = t && l && ('link' in t ? l.kind === 'link' && l.target === t.link : l.kind === 'file' && t.sha256 !== undefined && l.sha256 === t.sha256);
    if (holdsIt) record(p, 'link' in t ? { link: t.link } : { sha256: t.sha256!, ...(t.etag ? { etag: t.etag } : {}) });
    else if (e.sha256 === undefined && e.link === undefined) placed.delete(p);
    else delete e.pending;
  }
}
