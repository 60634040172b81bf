/**
 * push: walk → hash → local manifest, while the remote state (memo, tag, manifest) is resolved;
 * plan; upload what changed;
 * write the new manifest LAST (the commit point: a push that stops early leaves the old manifest
 * in force); then delete what the old manifest listed and the new one does not.
 */
import fs from 'node:fs';
import path from 'node:path';
import { keyFor } from '../backends/keys.js';
import type { Remote } from '../backends/open.js';
import type { Backend } from '../backends/types.js';
import { FlowsyncError } from '../errors.js';
import { defaultCacheDir } from '../hash/stat-cache.js';
import { createManifest, filesDigest } from '../manifest/codec.js';
import { RESERVED_DIR } from '../manifest/paths.js';
import type { FileEntry } from '../manifest/types.js';
import { planPush } from '../plan/push-plan.js';
import { ByteBudget } from '../transfer/budget.js';
import { DEFAULT_MEMORY_BUDGET, type TransferContext } from '../transfer/context.js';
import { deleteKeys } from '../transfer/delete.js';
import { runPool } from '../util/pool.js';
import { Progress } from '../util/progress.js';
import { uploadFile } from '../transfer/upload.js';
import { loadIgnoreRules } from '../walk/ignore-rules.js';
import { releaseRemote, resolveRemote } from './open.js';
import { writeManifest } from './remote-manifest.js';
import { saveMemo } from './remote-memo.js';
import { resolveRemoteState, type RemoteState } from './remote-state.js';
import { scanTree, sourceOf, type ScanDetail } from './scan.js';
import type { PushOptions, SyncSummary } from './types.js';

/** DeleteObjects takes 1,000 keys a request; other stores batch less, none more. */

export interface PushResult extends SyncSummary {
  /** With dryRun: the paths that would be uploaded and deleted. */
  changes?: { upload: string[]; delete: string[] };
}

export async function push(o: PushOptions & { command?: 'push' | 'status' }): Promise<PushResult> {
  const started = Date.now();
  const progress = new Progress(o.onProgress);
  const remote = await resolveRemote(o.remote, o.remoteOptions);
  try {
    await refuseStoreInsideTree(o, remote);
    const cacheDir = o.cacheDir === false ? null : (o.cacheDir ?? defaultCacheDir());
    const { scan, state } = await scanAndResolve(o, remote, progress, cacheDir);
    const digest = filesDigest(scan.manifest);
    // The remote manifest is the one this machine last saw, and the tree is unchanged too: nothing moves.
    if (state.current && digest === state.current.filesDigest) {
      return {
        command: o.command ?? 'push',
        uploaded: 0,
        downloaded: 0,
        deleted: 0,
        unchanged: scan.manifest.files.length,
        bytes: 0,
        manifest: state.current.id,
        durationMs: Date.now() - started,
        dryRun: o.dryRun ?? false,
        conflicts: [],
        warnings: [...scan.warnings],
        ...(o.dryRun ? { changes: { upload: [], delete: [] } } : {}),
      };
    }
    const base = await state.base();
    const previous = base.previous;
    const plan = planPush(scan.manifest.files, previous?.manifest.files ?? null);
    const bytes = plan.upload.reduce((n, e) => n + e.size, 0);
    const doDelete = o.delete !== false;
    const summary: PushResult = {
      command: o.command ?? 'push',
      uploaded: plan.upload.length,
      downloaded: 0,
      deleted: doDelete ? plan.delete.length : 0,
      unchanged: plan.unchanged,
      bytes,
      manifest: previous?.id ?? null,
      durationMs: 0,
      dryRun: o.dryRun ?? false,
      conflicts: [],
      warnings: [...scan.warnings],
    };
    if (base.damaged) {
      const cause = base.damaged.reason.message.replace(/[.;] (Nothing was written; )?[Pp]ush again from the source folder to replace (it|the manifest)\.$/, '.');
      summary.warnings.push(`${cause} This push replaces it; objects that only the damaged manifest listed are left in place.`);
      o.log?.warn(summary.warnings.at(-1)!);
    }
    if (o.dryRun) {
      summary.changes = { upload: plan.upload.map((e) => e.path), delete: doDelete ? plan.delete : [] };
      return { ...summary, durationMs: Date.now() - started };
    }
    if (!plan.manifestChanged) {
      if (cacheDir && previous?.etag && base.previousBytes) {
        await saveMemo(cacheDir, remote, { etag: previous.etag, id: previous.id, filesDigest: digest }, base.previousBytes);
      }
      return { ...summary, durationMs: Date.now() - started };
    }

    const { backend } = remote;
    const concurrency = o.concurrency ?? backend.tuning.concurrency;
    const ctx: TransferContext = {
      backend,
      budget: new ByteBudget(DEFAULT_MEMORY_BUDGET),
      progress,
      partConcurrency: Math.min(concurrency, 8),
      ...(o.partSize ? { partSize: o.partSize } : {}),
      onRetry: (err, attempt) => o.log?.info(`retrying (attempt ${attempt + 1}): ${(err as Error).message}`),
    };
    // A file that became a folder (or a folder that became a file) cannot coexist with its old
    // objects in a store with real folders (the local store): those old objects go first. Every
    // other delete still waits until the new manifest is in force.
    const early = doDelete ? clashingDeletes(plan.upload, plan.delete) : [];
    if (early.length > 0) await deleteObjects(backend, early.map((p) => keyFor(remote.prefix, p)), progress, o.signal);
    const late = plan.delete.filter((p) => !early.includes(p));

    progress.begin('upload', bytes, plan.upload.length);
    await runPool(
      plan.upload,
      concurrency,
      (e, signal) => {
        return uploadFile(ctx, keyFor(remote.prefix, e.path), sourceOf(scan, e.path), e, signal);
      },
      o.signal,
    );
    progress.end();

    progress.begin('manifest', 0, 1);
    const next = createManifest(scan.manifest.files);
    if (previous?.manifest.extra) next.extra = previous.manifest.extra;
    const written = await writeManifest(remote, next, previous ?? base.damaged ?? null, o.signal);
    summary.manifest = written.id;
    if (cacheDir && written.etag) await saveMemo(cacheDir, remote, { etag: written.etag, id: written.id, filesDigest: digest }, written.bytes);
    progress.end();

    if (doDelete && late.length > 0) {
      // The new manifest is already in force: a failure here leaves unused objects, never a broken tree.
      try {
        await deleteObjects(remote.backend, late.map((p) => keyFor(remote.prefix, p)), progress, o.signal);
      } catch (err) {
        summary.deleted = early.length;
        summary.warnings.push(`The push succeeded, but removing ${late.length} old objects failed: ${(err as Error).message}`);
        o.log?.warn(summary.warnings.at(-1)!);
      }
    }
    return { ...summary, durationMs: Date.now() - started };
  } finally {
    await releaseRemote(remote, o.remote);
  }
}

/**
 * A local store inside the folder being pushed would be pushed into itself, one level deeper on
 * every push. Refuse unless the ignore rules keep it out (or it is flowsync's own .flowsync/).
 */
async function refuseStoreInsideTree(o: PushOptions, remote: Remote): Promise<void> {
  if (remote.scheme !== 'file' || remote.backend.name !== 'local' || !fs.existsSync(o.dir)) return;
  const real = (p: string): string => {
    // The store may not exist yet: resolve its nearest existing folder.
    const abs = path.resolve(p);
    try {
      return fs.realpathSync(abs);
    } catch {
      return path.dirname(abs) === abs ? abs : path.join(real(path.dirname(abs)), path.basename(abs));
    }
  };
  const rel = path.relative(real(o.dir), real(path.join(remote.bucket, remote.prefix)));
  if (rel.startsWith('..') || path.isAbsolute(rel)) return;
  const segments = rel === '' ? [] : rel.split(path.sep);
  if (segments[0] === RESERVED_DIR) return;
  const ignore = await loadIgnoreRules(o.dir, o.ignoreFile);
  for (let i = 1; i <= segments.length; i++) if (ignore.ignores(segments.slice(0, i).join('/'), true)) return;
  const inside = segments.join('/');
  throw new FlowsyncError(
    'INVALID_INPUT',
    `The store ${remote.url} is inside the folder being pushed (${o.dir}), so every push would copy the store into itself. Put the store outside that folder${inside ? `, or add "/${inside}/" to its ignore file` : ''}.`,
  );
}

/** Deletes whose path is a folder of an upload ("a" then "a/b"), or inside one ("a/b" then "a"). */
function clashingDeletes(uploads: readonly FileEntry[], deletes: readonly string[]): string[] {
  const files = new Set(uploads.map((e) => e.path));
  const folders = new Set<string>();
  for (const { path } of uploads) for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) folders.add(path.slice(0, i));
  const insideAFile = (p: string) => {
    for (let i = p.indexOf('/'); i !== -1; i = p.indexOf('/', i + 1)) if (files.has(p.slice(0, i))) return true;
    return false;
  };
  return deletes.filter((p) => folders.has(p) || insideAFile(p));
}

/**
 * Scan the tree while the remote state is resolved. If that fails (no such bucket, bad
 * credentials), the scan is stopped and awaited: push must not reject while it is still reading
 * files and writing the stat cache in the background.
 */
async function scanAndResolve(o: PushOptions, remote: Remote, progress: Progress, cacheDir: string | null): Promise<{ scan: ScanDetail; state: RemoteState }> {
  const scanStop = new AbortController();
  const onAbort = () => scanStop.abort(o.signal?.reason);
  if (o.signal?.aborted) onAbort();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const [scan, state] = await Promise.allSettled([
      scanTree({ ...o, signal: scanStop.signal }, progress),
      resolveRemoteState(remote, { cacheDir, ...(o.signal ? { signal: o.signal } : {}) }).catch((err: unknown) => {
        scanStop.abort(err);
        throw err;
      }),
    ]);
    if (state.status === 'rejected') throw state.reason;
    if (scan.status === 'rejected') throw scan.reason;
    return { scan: scan.value, state: state.value };
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
}

/** Deletes through the engine (batched by the backend's limit, parallel, retried by the decorator), reported as one phase. */
export async function deleteObjects(backend: Backend, keys: string[], progress: Progress, signal?: AbortSignal): Promise<void> {
  progress.begin('delete', 0, keys.length);
  await deleteKeys(backend, keys, { ...(signal ? { signal } : {}), onBatch: (batch) => progress.advance(0, batch.length) });
  progress.end();
}
