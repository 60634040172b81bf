/**
 * pull: fetch the manifest (every path validated before anything is written) → gather the facts
 * about the destination → plan (one pure function, conflicts and first deletes included) →
 * journal the pending writes → execute the plan's phases (verified downloads, temp file +
 * rename, links, deletes of what earlier pulls placed and the source no longer lists).
 * Conflicts stop the pull before its first write; a file that cannot be downloaded does not
 * stop the others, and the pull fails at the end naming what is missing. Objects that disagree
 * with the manifest while a push holds the lease are being replaced: the pull waits for that push
 * (bounded by --wait) and starts over from the new manifest (pull-wait.ts).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { FlowsyncError, fsError } from '../errors.js';
import { planPull, type Conflict, type PullFile } from '../plan/pull-plan.js';
import { transferContext, type TransferContext } from '../transfer/context.js';
import { downloadFile } from '../transfer/download.js';
import { sweepTempFiles } from '../util/atomic-write.js';
import { Progress } from '../util/progress.js';
import { inspectDestination } from './inspect-destination.js';
import { executePull, missingFilesError, ObjectBeingReplaced } from './pull-execute.js';
import { DEFAULT_PULL_WAIT_MS, PullIncomplete, waitOrFail } from './pull-wait.js';
import { readLease, whyNotLive } from './lease.js';
import { fetchManifest } from './remote-manifest.js';
import { packedFetch } from './packed-pull.js';
import { markPending, settlePending, undoPending } from './pull-journal.js';
import { releaseRemote, resolveRemote } from './open.js';
import { loadPullSource, type PullSource } from './pull-targets.js';
import { loadPullState, savePullState } from './pull-state.js';
import { TreeWriter, type FetchInto } from './tree-writer.js';
import type { ContentCache } from '../cache/content-cache.js';
import type { Remote } from '../backends/open.js';
import type { PullOptions, SyncSummary } from './types.js';
import { destinationKind } from '../cache/versions.js';
import { cachedFetch, guardDestination, openContentCache, type DestinationGuard } from './pull-guard.js';
import { pullSwitched } from './pull-switch.js';

export interface PullResult extends SyncSummary {
  /** With dryRun: the paths that would be written and deleted. */
  changes?: { download: string[]; delete: string[]; update: string[] };
}

const MAX_LISTED_CONFLICTS = 10;

export async function pull(o: PullOptions): Promise<PullResult> {
  if (o.switch) return pullSwitched(o, pullInPlace);
  return pullInPlace(o);
}

/** Pull into `o.dir` itself, file by file (each file atomic, the tree as a whole not). */
async function pullInPlace(o: PullOptions): Promise<PullResult> {
  const started = Date.now();
  const deadline = started + (o.waitMs ?? DEFAULT_PULL_WAIT_MS);
  const remote = await resolveRemote(o.remote, o.remoteOptions);
  let guard: DestinationGuard | null = null;
  try {
    if (!o.dryRun) {
      // One pull per destination (DESIGN §12), taken before the folder is looked at; every
      // attempt below reads the remote after it holds the lock.
      const dir = path.resolve(o.dir);
      await checkDestination(dir);
      guard = await guardDestination(dir, o);
    }
    let retriedWithoutLease = false;
    for (;;) {
      try {
        const result = await pullOnce(o, remote);
        return { ...result, durationMs: Date.now() - started };
      } catch (err) {
        if (!(err instanceof PullIncomplete)) throw err;
        // Objects disagreed with the manifest: a push replacing them (wait for it), a push that
        // finished meanwhile, a transfer gone wrong (one more attempt), or a damaged remote.
        const current = async () => (await fetchManifest(remote, o.signal).catch(() => null))?.id ?? null;
        const next = await waitOrFail(remote, err, { dir: path.resolve(o.dir), deadline, currentManifest: current, retriedWithoutLease, info: (m) => o.log?.info(m), ...(o.signal ? { signal: o.signal } : {}) });
        if (next === 'retry') retriedWithoutLease = true;
      }
    }
  } finally {
    await guard?.release();
    await releaseRemote(remote, o.remote);
  }
}

async function pullOnce(o: PullOptions, remote: Remote): Promise<PullResult> {
  const started = Date.now();
  const dir = path.resolve(o.dir);
  const progress = new Progress(o.onProgress);
  await checkDestination(dir);
  const source = await loadPullSource(remote, o.signal, o.version);
  if (source.manifest === null) {
    o.log?.warn(`${remote.url} has no flowsync manifest (pushed by another tool?): pulling every object under it, as Prefect's pull does.`);
  }
  const { placed, interrupted, setAside } = await loadPullState(dir);
  if (setAside) {
    o.log?.warn(`The record of what earlier pulls placed in ${dir} is invalid (${setAside.reason}); it was moved to ${setAside.movedTo} and not used, so no local file counts as flowsync's.`);
  }
  const byPath = new Map(source.targets.map((t) => [t.path, t]));
  if (interrupted && !o.dryRun) await sweepTempFiles(new Set([...byPath.keys(), ...placed.keys()].map((p) => path.dirname(path.join(dir, p)))));
  const facts = await inspectDestination(dir, byPath, placed, o.signal);
  const force = o.force ?? false;
  const plan = planPull({
    targets: source.targets,
    local: (p) => facts.local.get(p) ?? { kind: 'missing' },
    folderFiles: (p) => facts.folderFiles.get(p) ?? null,
    placed,
    delete: o.delete !== false,
    force,
  });

  const blocking = plan.conflicts.filter((c) => !c.overridable || !force);
  if (blocking.length > 0) throw conflictError(dir, blocking);

  const warnings = [
    ...plan.conflicts.map((c) => `${plan.delete.includes(c.path) ? 'Deleted' : 'Overwrote'} ${c.path}: ${c.reason}.`),
    ...plan.kept.map((p) => `Kept ${p}: it changed locally since flowsync placed it, and the source no longer lists it.`),
  ];
  for (const w of warnings) o.log?.warn(w);
  const bytes = plan.download.reduce((n, t) => n + t.size, 0);
  const cache = o.dryRun ? null : openContentCache(o);
  const summary: PullResult = {
    command: 'pull',
    uploaded: 0,
    downloaded: plan.download.length,
    deleted: plan.delete.length,
    unchanged: plan.unchanged,
    updated: plan.link.length + plan.chmod.length,
    bytes,
    manifest: source.manifest,
    durationMs: 0,
    dryRun: o.dryRun ?? false,
    conflicts: plan.conflicts.map((c) => c.path),
    warnings,
    fromCache: 0,
    cacheBytes: 0,
    directory: dir,
  };
  if (o.dryRun) {
    summary.changes = { download: plan.download.map((t) => t.path), delete: plan.delete, update: [...plan.link, ...plan.chmod].map((t) => t.path) };
    return { ...summary, durationMs: Date.now() - started };
  }

  await fsp.mkdir(dir, { recursive: true }).catch((err) => {
    throw fsError(err, 'create folder', dir);
  });
  const nothingToDo = !interrupted && [plan.download, plan.link, plan.chmod, plan.delete, plan.forget, plan.clear].every((l) => l.length === 0);
  if (nothingToDo) return { ...summary, durationMs: Date.now() - started };
  const realDir = await fsp.realpath(dir);
  const writer = new TreeWriter(dir, realDir, placed, bytes, cache?.link ?? false);
  let leaseProbe: Promise<boolean> | undefined;
  // Asked once per attempt, when an object's bytes are wrong: is a push replacing objects right now?
  const pushRunning = () => (leaseProbe ??= readLease(remote, o.signal).then((l) => l !== null && whyNotLive(l) === null, () => false));
  // Journal first: if this pull is killed, the next one still recognises what it wrote.
  const journal = markPending(plan, placed);
  await savePullState(dir, placed, { remote: remote.url, manifest: source.manifest, inProgress: true });
  try {
    const concurrency = o.concurrency ?? remote.backend.tuning.concurrency;
    const ctx = transferContext(remote.backend, progress, { concurrency, ...(o.log ? { log: o.log } : {}) });
    const fromRemote = remoteFetch(ctx, source, plan.download, cache);
    const missing = await executePull(plan, {
      writer,
      // Hits from the machine's content cache are copied and verified; only misses are read from the remote.
      fetch: (t) => cachedFetch(cache, t, fromRemote(t), () => progress.advance(t.size, 1)),
      concurrency,
      progress,
      ...(source.packed ? {} : { pushRunning }),
      ...(o.signal ? { signal: o.signal } : {}),
    }).catch((err: unknown) => {
      if (err instanceof ObjectBeingReplaced) throw new PullIncomplete(err.missing, source.manifest);
      throw err;
    });
    if (cache) {
      // Of the files (and bytes) placed, these came from the cache instead of the remote.
      summary.fromCache = cache.stats.hits;
      summary.cacheBytes = cache.stats.hitBytes;
    }
    for (const p of plan.forget) placed.delete(p);
    // Mirror objects are replaced in place, so wrong or missing bytes may be a push at work (wait for
    // it); packed objects are immutable and content-addressed, so the same failure is damage.
    if (!source.packed && missing.some((m) => m.error.code === 'CHECKSUM_MISMATCH' || m.error.code === 'NOT_FOUND')) throw new PullIncomplete(missing, source.manifest);
    if (missing.length > 0) throw missingFilesError(dir, missing);
    settlePending(placed, byPath, facts.local, (p, e) => writer.record(p, e));
  } catch (err) {
    // Still running, so this run knows what it did not write: undo those journal marks.
    undoPending(journal, placed);
    // Failures inside this process remove their own temporary files; only a kill leaves any.
    // A record that cannot be saved (disk full) must not hide the error that stopped the pull.
    await savePullState(dir, placed, { remote: remote.url, manifest: source.manifest, inProgress: false }).catch(() => {});
    await cache?.settle();
    throw err;
  }
  await savePullState(dir, placed, { remote: remote.url, manifest: source.manifest, inProgress: false });
  await cache?.settle();
  return { ...summary, durationMs: Date.now() - started };
}

/**
 * Where a file's bytes come from when the cache lacks them. Packed: pack reads are planned for
 * the files the cache does not seem to hold; one it seemed to hold but that failed verification
 * gets a read of its own.
 */
function remoteFetch(ctx: TransferContext, source: PullSource, files: PullFile[], cache: ContentCache | null): (t: PullFile) => FetchInto {
  if (!source.packed) return (t) => (tmp, signal, copy) => downloadFile(ctx, source.keys.get(t.path)!, tmp, t, signal, copy);
  const src = { keys: source.keys, packed: source.packed };
  const planned = new Set(files.filter((t) => !(cache && t.sha256 && cache.mayHave(t.sha256, t.size))));
  const fromPlan = packedFetch(ctx, src, [...planned]);
  return (t) => (planned.has(t) ? fromPlan(t) : (tmp, signal, copy) => packedFetch(ctx, src, [t])(t)(tmp, signal, copy));
}

async function checkDestination(dir: string): Promise<void> {
  const kind = await destinationKind(dir);
  if (kind.kind === 'switched') {
    throw new FlowsyncError(
      'CONFLICT',
      `${dir} is a link to a version folder made by pull --switch (${kind.current}). Pull with --switch: a pull without it would rewrite, in place, files a running flow may be using.`,
    );
  }
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
