/**
 * pull: fetch the manifest (every path validated before anything is written) → look at the local
 * files involved → plan → download (verified, temp file + rename) → links → prune what earlier
 * pulls placed and the manifest no longer lists. Conflicts stop the pull before its first write.
 */
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { TEMP_MARKER, tempNameFor } from '../backends/local.js';
import { FlowsyncError, fsError } from '../errors.js';
import { hashFile } from '../hash/hash-file.js';
import { RESERVED_DIR } from '../manifest/paths.js';
import type { LinkEntry } from '../manifest/types.js';
import { planPull, type Conflict, type LocalState, type PullFile, type PullPlan, type PullTarget } from '../plan/pull-plan.js';
import { ByteBudget } from '../transfer/budget.js';
import { DEFAULT_MEMORY_BUDGET, type TransferContext } from '../transfer/context.js';
import { downloadFile } from '../transfer/download.js';
import { runPool } from '../util/pool.js';
import { Progress } from '../util/progress.js';
import { withRetry } from '../transfer/retry.js';
import { identityOf, modeOf, sameIdentity } from '../hash/identity.js';
import { releaseRemote, resolveRemote } from './open.js';
import { downloadPacked } from './packed-pull.js';
import { loadPullSource } from './pull-targets.js';
import { loadPullState, savePullState, type PlacedFile } from './pull-state.js';
import type { PullOptions, SyncSummary } from './types.js';

export interface PullResult extends SyncSummary {
  /** With dryRun: the paths that would be written and deleted. */
  changes?: { download: string[]; delete: string[] };
}

const INSPECT_CONCURRENCY = 8;
const MAX_LISTED_CONFLICTS = 10;

export async function pull(o: PullOptions): Promise<PullResult> {
  const started = Date.now();
  const dir = path.resolve(o.dir);
  const progress = new Progress(o.onProgress);
  const remote = await resolveRemote(o.remote, o.remoteOptions);
  try {
    await checkDestination(dir);
    const source = await loadPullSource(remote, o.signal, o.version);
    if (source.manifest === null) {
      o.log?.warn(`${remote.url} has no flowsync manifest (pushed by another tool?): pulling every object under it, as Prefect's pull does.`);
    }
    const { placed, interrupted } = await loadPullState(dir);
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
    const writer = new TreeWriter(dir, realDir, placed);
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
      if (source.packed) {
        const packed = { download: (key: string, t: PullFile, signal: AbortSignal) => writer.download(ctx, key, t, signal), place: (t: PullFile, data: Uint8Array) => writer.place(t, data) };
        await downloadPacked(ctx, { keys: source.keys, packed: source.packed }, plan.download, concurrency, packed, o.signal);
      } else {
        await runPool(plan.download, concurrency, (t, signal) => writer.download(ctx, source.keys.get(t.path)!, t, signal), o.signal);
      }
      progress.end();
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
      throw err;
    } finally {
      // Failures inside this process remove their own temporary files; only a kill leaves any.
      await savePullState(dir, placed, { remote: remote.url, manifest: source.manifest, inProgress: false });
    }
    return { ...summary, durationMs: Date.now() - started };
  } finally {
    await releaseRemote(remote, o.remote);
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

/** Give a finished temporary file its mode and move it into place. */
function settle(tmp: string, full: string, t: PullFile): void {
  if (t.mode === 0o755) {
    // Add x wherever r is set, as git does, so the umask still decides who may run it.
    const { mode } = fs.statSync(tmp);
    fs.chmodSync(tmp, mode | ((mode & 0o444) >> 2));
  }
  fs.renameSync(tmp, full);
}

/** Writes into the destination folder, keeping the record of placed files current as it goes. */
class TreeWriter {
  private readonly checkedDirs = new Set<string>();
  private readonly preparing = new Map<string, Promise<void>>();

  constructor(
    private readonly dir: string,
    private readonly realDir: string,
    private readonly placed: Map<string, PlacedFile>,
  ) {}

  /** Create the folders of `rel` and make sure they resolve inside the destination. */
  private async prepareParent(rel: string, action = 'write'): Promise<string> {
    const full = path.join(this.dir, rel);
    const parent = path.dirname(full);
    if (!this.checkedDirs.has(parent)) {
      // Downloads into one new folder run side by side: the first prepares it, the others wait.
      let ready = this.preparing.get(parent);
      if (!ready) {
        ready = (async () => {
          await fsp.mkdir(parent, { recursive: true }).catch((err) => {
            throw fsError(err, 'create folder', parent);
          });
          await this.checkInside(rel, parent, action);
        })().finally(() => this.preparing.delete(parent));
        this.preparing.set(parent, ready);
      }
      await ready;
    }
    return full;
  }

  /** A folder reached through a link the user put in the destination may lie outside it: never touch files there. */
  private async checkInside(rel: string, parent: string, action: string): Promise<void> {
    const real = await fsp.realpath(parent);
    if (real !== this.realDir && !real.startsWith(this.realDir + path.sep)) {
      throw new FlowsyncError('UNSAFE_PATH', `Refusing to ${action} ${rel}: its folder resolves to ${real}, outside ${this.dir} (a link in the way?). Replace that link with a folder, then pull again.`);
    }
    this.checkedDirs.add(parent);
  }

  // The per-file metadata calls below are synchronous on purpose: each takes microseconds, and
  // the promise API's overhead per call was several times that on pulls of many small files.
  record(rel: string, entry: Omit<PlacedFile, 'id'>): void {
    const st = fs.lstatSync(path.join(this.dir, rel));
    this.placed.set(rel, { ...entry, id: identityOf(st) });
  }

  async download(ctx: TransferContext, key: string, t: PullFile, signal: AbortSignal): Promise<void> {
    const full = await this.prepareParent(t.path);
    const tmp = tempNameFor(full);
    let sha256: string | undefined;
    try {
      await withRetry(
        async () => {
          sha256 = await downloadFile(ctx, key, tmp, t, signal);
        },
        { signal, attempts: 3, onRetry: ctx.onRetry },
      );
      settle(tmp, full, t);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw fsError(err, 'write', full);
    }
    this.record(t.path, { ...(sha256 ? { sha256 } : {}), ...(t.etag ? { etag: t.etag } : {}) });
  }

  /** Place bytes already verified against `t.sha256` (a pack member). */
  async place(t: PullFile, data: Uint8Array): Promise<void> {
    const full = await this.prepareParent(t.path);
    const tmp = tempNameFor(full);
    try {
      fs.writeFileSync(tmp, data);
      settle(tmp, full, t);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw fsError(err, 'write', full);
    }
    this.record(t.path, t.sha256 ? { sha256: t.sha256 } : {});
  }

  async chmod(t: PullFile): Promise<void> {
    const full = await this.prepareParent(t.path, 'change the mode of');
    const { mode } = await fsp.stat(full);
    await fsp.chmod(full, t.mode === 0o755 ? mode | ((mode & 0o444) >> 2) : mode & ~0o111);
    const prev = this.placed.get(t.path);
    this.record(t.path, { ...(t.sha256 ? { sha256: t.sha256 } : {}), ...(prev?.etag ? { etag: prev.etag } : {}) });
  }

  async link(l: LinkEntry): Promise<void> {
    const full = await this.prepareParent(l.path);
    const tmp = tempNameFor(full);
    try {
      await fsp.symlink(l.link, tmp);
      await fsp.rename(tmp, full);
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw fsError(err, 'create link', full);
    }
    this.record(l.path, { link: l.link });
  }

  /** Delete placed files, then the folders that became empty (never the destination or .flowsync). */
  async remove(paths: string[]): Promise<void> {
    for (const rel of paths) {
      const full = path.join(this.dir, rel);
      const parent = path.dirname(full);
      if (!this.checkedDirs.has(parent)) {
        const exists = await fsp.stat(parent).then(() => true, () => false);
        if (exists) await this.checkInside(rel, parent, 'delete');
      }
      try {
        await fsp.unlink(full);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR') throw fsError(err, 'delete', full);
      }
      this.placed.delete(rel);
      for (let d = path.dirname(full); d !== this.dir && d.startsWith(this.dir + path.sep) && path.basename(d) !== RESERVED_DIR; d = path.dirname(d)) {
        try {
          await fsp.rmdir(d);
          this.checkedDirs.delete(d);
        } catch {
          break; // not empty: its parents are not either
        }
      }
    }
  }
}
