/**
 * pull: fetch the manifest (every path validated before anything is written) → look at the local
 * files involved → plan → download (verified, temp file + rename) → links → prune what earlier
 * pulls placed and the manifest no longer lists. Conflicts stop the pull before its first write.
 */
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Remote } from '../backends/open.js';
import { TEMP_MARKER } from '../backends/local.js';
import { FlowsyncError, fsError } from '../errors.js';
import { hashFile } from '../hash/hash-file.js';
import { planPull, type Conflict, type LocalState, type PullPlan, type PullTarget } from '../plan/pull-plan.js';
import { ByteBudget } from '../transfer/budget.js';
import { DEFAULT_MEMORY_BUDGET, type TransferContext } from '../transfer/context.js';
import { runPool } from '../util/pool.js';
import { Progress } from '../util/progress.js';
import { identityOf, modeOf, sameIdentity } from '../hash/identity.js';
import { releaseRemote, resolveRemote } from './open.js';
import { loadPullSource } from './pull-targets.js';
import { fetchManifest } from './remote-manifest.js';
import { loadPullState, savePullState, type PlacedFile } from './pull-state.js';
import { DEFAULT_PULL_WAIT_MS, isPerFileFailure, PullIncomplete, waitOrFail, type FileFailure } from './pull-wait.js';
import { readLease, whyNotLive } from './lease.js';
import { ObjectBeingReplaced, TreeWriter } from './tree-writer.js';
import type { PullOptions, SyncSummary } from './types.js';

export interface PullResult extends SyncSummary {
  /** With dryRun: the paths that would be written and deleted. */
  changes?: { download: string[]; delete: string[] };
}

const INSPECT_CONCURRENCY = 8;
const MAX_LISTED_CONFLICTS = 10;

export async function pull(o: PullOptions): Promise<PullResult> {
  const started = Date.now();
  const deadline = started + (o.waitMs ?? DEFAULT_PULL_WAIT_MS);
  const remote = await resolveRemote(o.remote, o.remoteOptions);
  try {
    for (;;) {
      try {
        const result = await pullOnce(o, remote);
        return { ...result, durationMs: Date.now() - started };
      } catch (err) {
        if (!(err instanceof PullIncomplete)) throw err;
        // Objects disagreed while a push held the lease: it has finished; read the new manifest.
        const current = async () => (await fetchManifest(remote, o.signal).catch(() => null))?.id ?? null;
        await waitOrFail(remote, err, deadline, current, (m) => o.log?.info(m), o.signal);
      }
    }
  } finally {
    await releaseRemote(remote, o.remote);
  }
}

async function pullOnce(o: PullOptions, remote: Remote): Promise<PullResult> {
  const started = Date.now();
  const dir = path.resolve(o.dir);
  const progress = new Progress(o.onProgress);
  {
    await checkDestination(dir);
    const source = await loadPullSource(remote, o.signal);
    if (source.manifest === null) {
      o.log?.warn(`${remote.url} has no flowsync manifest (pushed by another tool?): pulling every object under it, as Prefect's pull does.`);
    }
    const { placed, interrupted, setAside } = await loadPullState(dir);
    if (setAside) {
      o.log?.warn(`The record of what earlier pulls placed in ${dir} is invalid (${setAside.reason}); it was moved to ${setAside.movedTo} and not used, so no local file counts as flowsync's.`);
    }
    const byPath = new Map(source.targets.map((t) => [t.path, t]));
    if (interrupted && !o.dryRun) await sweepTempFiles(dir, [...byPath.keys(), ...placed.keys()]);
    const local = await inspectLocal(dir, [...new Set([...byPath.keys(), ...placed.keys()])], byPath, placed, o.signal);
    const force = o.force ?? false;
    const plan = planPull({ targets: source.targets, local: (p) => local.get(p) ?? { kind: 'missing' }, placed, delete: o.delete !== false, force });
    const firstDeletes = await clearTheWay(dir, plan, local, placed, byPath, force);

    const blocking = plan.conflicts.filter((c) => !c.overridable || !force);
    if (blocking.length > 0) throw conflictError(dir, blocking);

    const warnings = [
      ...plan.conflicts.map((c) => `${plan.delete.includes(c.path) ? 'Deleted' : 'Overwrote'} ${c.path}: ${c.reason}.`),
      ...plan.kept.map((p) => `Kept ${p}: it changed locally since flowsync placed it, and the source no longer lists it.`),
    ];
    for (const w of warnings) o.log?.warn(w);
    const bytes = plan.download.reduce((n, t) => n + t.size, 0);
    const summary: PullResult = {
      command: 'pull',
      uploaded: 0,
      downloaded: plan.download.length + plan.link.length,
      deleted: plan.delete.length,
      unchanged: plan.unchanged + plan.chmod.length,
      bytes,
      manifest: source.manifest,
      durationMs: 0,
      dryRun: o.dryRun ?? false,
      conflicts: plan.conflicts.map((c) => c.path),
      warnings,
    };
    if (o.dryRun) {
      summary.changes = { download: [...plan.download, ...plan.link].map((t) => t.path), delete: plan.delete };
      return { ...summary, durationMs: Date.now() - started };
    }

    await fsp.mkdir(dir, { recursive: true }).catch((err) => {
      throw fsError(err, 'create folder', dir);
    });
    const nothingToDo = !interrupted && [plan.download, plan.link, plan.chmod, plan.delete, plan.forget, firstDeletes].every((l) => l.length === 0);
    if (nothingToDo) return { ...summary, durationMs: Date.now() - started };
    const realDir = await fsp.realpath(dir);
    let leaseProbe: Promise<boolean> | undefined;
    const pushRunning = () => (leaseProbe ??= readLease(remote, o.signal).then((l) => l !== null && whyNotLive(l) === null, () => false));
    const writer = new TreeWriter(dir, realDir, placed, bytes, pushRunning);
    // Journal first: if this pull is killed, the next one still recognises what it wrote.
    const journaled = new Map<string, PlacedFile | undefined>();
    for (const t of [...plan.download, ...plan.link]) {
      const pending = 'link' in t ? t.link : t.sha256;
      if (pending === undefined) continue;
      journaled.set(t.path, placed.get(t.path));
      placed.set(t.path, { ...placed.get(t.path), pending });
    }
    await savePullState(dir, placed, { remote: remote.url, manifest: source.manifest, inProgress: true });
    try {
      await writer.remove(firstDeletes);
      const concurrency = o.concurrency ?? remote.backend.tuning.concurrency;
      const ctx: TransferContext = {
        backend: remote.backend,
        budget: new ByteBudget(DEFAULT_MEMORY_BUDGET),
        progress,
        partConcurrency: Math.min(concurrency, 8),
        onRetry: (err, attempt) => o.log?.info(`retrying (attempt ${attempt + 1}): ${(err as Error).message}`),
      };
      progress.begin('download', bytes, plan.download.length);
      // One file out of attempts does not stop the others; the pull decides at the end.
      const failures: FileFailure[] = [];
      await runPool(
        plan.download,
        concurrency,
        async (t, signal) => {
          try {
            await writer.download(ctx, source.keys.get(t.path)!, t, signal);
          } catch (error) {
            // A push is replacing objects: stop this attempt now, wait for it, then start over.
            if (error instanceof ObjectBeingReplaced) throw new PullIncomplete([...failures, { path: t.path, error: error.cause }], source.manifest);
            if (signal.aborted || !isPerFileFailure(error)) throw error;
            failures.push({ path: t.path, error });
          }
        },
        o.signal,
      );
      progress.end();
      if (failures.length > 0) throw new PullIncomplete(failures, source.manifest);
      for (const t of plan.chmod) await writer.chmod(t);
      for (const l of plan.link) await writer.link(l);
      progress.begin('delete', 0, plan.delete.length);
      await writer.remove(plan.delete.filter((p) => !firstDeletes.includes(p)));
      progress.end();
      for (const p of plan.forget) placed.delete(p);
      settlePending(placed, byPath, local, writer);
    } catch (err) {
      // Still running, so this run knows what it did not write: undo those journal marks.
      for (const [p, before] of journaled) {
        if (placed.get(p)?.pending === undefined) continue;
        if (before) placed.set(p, before);
        else placed.delete(p);
      }
      // Failures inside this process remove their own temporary files; only a kill leaves any.
      // A record that cannot be saved (disk full) must not hide the error that stopped the pull.
      await savePullState(dir, placed, { remote: remote.url, manifest: source.manifest, inProgress: false }).catch(() => {});
      throw err;
    }
    await savePullState(dir, placed, { remote: remote.url, manifest: source.manifest, inProgress: false });
    return { ...summary, durationMs: Date.now() - started };
  }
}

/**
 * After a successful pull, resolve what an earlier killed pull marked as pending: a file that
 * holds the content it was about to place is flowsync's (recorded in full); otherwise the mark
 * is dropped, and an entry with nothing else recorded is forgotten.
 */
function settlePending(placed: Map<string, PlacedFile>, targets: Map<string, PullTarget>, local: Map<string, LocalState>, writer: TreeWriter): void {
  for (const [p, e] of placed) {
    if (e.pending === undefined) continue;
    const t = targets.get(p);
    const l = local.get(p);
    const holdsIt = t && l && ('link' in t ? l.kind === 'link' && l.target === t.link : l.kind === 'file' && t.sha256 !== undefined && l.sha256 === t.sha256);
    if (holdsIt) writer.record(p, 'link' in t ? { link: t.link } : { sha256: t.sha256!, ...(t.etag ? { etag: t.etag } : {}) });
    else if (e.sha256 === undefined && e.link === undefined) placed.delete(p);
    else delete e.pending;
  }
}

/** Remove temporary files a killed pull left in the folders it writes to. */
async function sweepTempFiles(dir: string, paths: string[]): Promise<void> {
  const folders = new Set(paths.map((p) => path.dirname(path.join(dir, p))));
  for (const folder of folders) {
    const names = await fsp.readdir(folder).catch(() => [] as string[]);
    for (const name of names) if (name.startsWith(TEMP_MARKER)) await fsp.rm(path.join(folder, name), { force: true });
  }
}

async function checkDestination(dir: string): Promise<void> {
  try {
    const st = await fsp.stat(dir);
    if (!st.isDirectory()) throw new FlowsyncError('INVALID_INPUT', `${dir} is a file. Pull into a folder.`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(err, 'open', dir);
  }
}

function conflictError(dir: string, conflicts: Conflict[]): FlowsyncError {
  const listed = conflicts
    .slice(0, MAX_LISTED_CONFLICTS)
    .map((c) => `  ${c.path}: ${c.reason}`)
    .join('\n');
  const more = conflicts.length > MAX_LISTED_CONFLICTS ? `\n  ... and ${conflicts.length - MAX_LISTED_CONFLICTS} more` : '';
  const canForce = conflicts.every((c) => c.overridable);
  return new FlowsyncError(
    'CONFLICT',
    `Pull stopped before changing anything in ${dir}: ${conflicts.length} local path(s) would be overwritten or removed.\n${listed}${more}\n` +
      (canForce ? 'Move them away, or re-run with --force to overwrite them.' : 'Move them away and re-run.'),
  );
}

/** The local state of every path the pull may touch. Files are read only when the record cannot vouch for them. */
async function inspectLocal(
  dir: string,
  paths: string[],
  targets: Map<string, PullTarget>,
  placed: Map<string, PlacedFile>,
  signal?: AbortSignal,
): Promise<Map<string, LocalState>> {
  const out = new Map<string, LocalState>();
  await runPool(
    paths,
    INSPECT_CONCURRENCY,
    async (rel) => {
      const full = path.join(dir, rel);
      let st: fs.Stats;
      try {
        st = await fsp.lstat(full);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return;
        throw fsError(err, 'inspect', full);
      }
      if (st.isDirectory()) out.set(rel, { kind: 'dir' });
      else if (st.isSymbolicLink()) out.set(rel, { kind: 'link', target: await fsp.readlink(full) });
      else if (!st.isFile()) out.set(rel, { kind: 'other' });
      else {
        const p = placed.get(rel);
        const t = targets.get(rel);
        const id = identityOf(st);
        let sha256: string | null = null;
        if (p?.id && p.sha256 && sameIdentity(p.id, id)) sha256 = p.sha256;
        else if ((t && !('link' in t) && t.size === id.size) || (p && (!p.id || p.id.size === id.size))) {
          sha256 = (await hashFile(full, { signal, label: rel })).sha256;
        }
        out.set(rel, { kind: 'file', sha256, mode: modeOf(st) });
      }
    },
    signal,
  );
  return out;
}

/**
 * Find what stands where the pull must write: a folder at a file's path (removable when it
 * holds only files flowsync placed and will delete), or a file/link where a folder must go.
 * Returns the deletes to run before any write; unresolvable cases become conflicts in `plan`.
 */
async function clearTheWay(
  dir: string,
  plan: PullPlan,
  local: Map<string, LocalState>,
  placed: Map<string, PlacedFile>,
  targets: Map<string, PullTarget>,
  force: boolean,
): Promise<string[]> {
  const deleting = new Set(plan.delete);
  const first = new Set<string>();
  const writes = [...plan.download.map((t) => t.path), ...plan.link.map((l) => l.path)];

  // Folders where the plan found one in the way are conflicts unless they hold only our deletes.
  for (const c of [...plan.conflicts]) {
    if (c.overridable || local.get(c.path)?.kind !== 'dir') continue;
    const inside = [...deleting].filter((p) => p.startsWith(c.path + '/'));
    if (inside.length > 0 && (await onlyThese(path.join(dir, c.path), c.path, new Set(inside)))) {
      plan.conflicts.splice(plan.conflicts.indexOf(c), 1);
      inside.forEach((p) => first.add(p));
      const t = targets.get(c.path)!;
      if ('link' in t) plan.link.push(t);
      else plan.download.push(t);
      writes.push(c.path);
    }
  }

  const seen = new Map<string, 'dir' | 'missing' | 'blocker'>();
  for (const w of writes) {
    const parts = w.split('/');
    for (let i = 1; i < parts.length; i++) {
      const ancestor = parts.slice(0, i).join('/');
      let kind = seen.get(ancestor);
      if (kind === undefined) {
        const st = await fsp.lstat(path.join(dir, ancestor)).catch(() => null);
        kind = !st ? 'missing' : st.isDirectory() ? 'dir' : 'blocker';
        seen.set(ancestor, kind);
      }
      if (kind === 'missing') break;
      if (kind === 'dir') continue;
      if (deleting.has(ancestor)) first.add(ancestor);
      else if (!first.has(ancestor)) {
        const ours = placed.has(ancestor);
        plan.conflicts.push({ path: ancestor, reason: `a ${ours ? 'changed ' : ''}file is where the folder of ${w} must go`, overridable: true });
        if (force) first.add(ancestor);
      }
      seen.set(ancestor, 'missing');
      break;
    }
  }
  return [...first];
}

/** Whether the folder holds nothing but the given files (and folders of them). */
async function onlyThese(full: string, rel: string, files: Set<string>): Promise<boolean> {
  for (const d of await fsp.readdir(full, { withFileTypes: true })) {
    const r = `${rel}/${d.name}`;
    if (d.isDirectory()) {
      if (!(await onlyThese(path.join(full, d.name), r, files))) return false;
    } else if (!files.has(r)) return false;
  }
  return true;
}

