/**
 * Pieces of push that are not its main line: the store-inside-the-tree guard, the scan that runs
 * while the remote state (manifest tag, lease) is fetched, and batched deletes.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Remote } from '../backends/open.js';
import type { Backend } from '../backends/types.js';
import { FlowsyncError } from '../errors.js';
import { RESERVED_DIR } from '../manifest/paths.js';
import type { FileEntry } from '../manifest/types.js';
import { deleteKeys } from '../transfer/delete.js';
import type { Progress } from '../util/progress.js';
import { loadIgnoreRules } from '../walk/ignore-rules.js';
import { readLease, type FoundLease } from './lease.js';
import { resolveRemoteState, type RemoteState } from './remote-state.js';
import { scanTree, type ScanDetail } from './scan.js';
import type { PushOptions } from './types.js';

/**
 * A local store inside the folder being pushed would be pushed into itself, one level deeper on
 * every push. Refuse unless the ignore rules keep it out (or it is flowsync's own .flowsync/).
 */
export async function refuseStoreInsideTree(o: PushOptions, remote: Remote): Promise<void> {
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
export function clashingDeletes(uploads: readonly FileEntry[], deletes: readonly string[]): string[] {
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
 * Scan the tree while the remote state (memo, manifest tag, lease) is resolved. If the fetch fails (no such bucket, bad
 * credentials), the scan is stopped and awaited: push must not reject while it is still reading
 * files and writing the stat cache in the background.
 */
export async function scanAndResolve(
  o: PushOptions,
  remote: Remote,
  progress: Progress,
  cacheDir: string | null,
): Promise<{ scan: ScanDetail; state: RemoteState; lease: FoundLease | null; leaseLookedAt: number }> {
  const scanStop = new AbortController();
  const onAbort = () => scanStop.abort(o.signal?.reason);
  if (o.signal?.aborted) onAbort();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const stopScan = (err: unknown) => {
      scanStop.abort(err);
      throw err;
    };
    // The lease is looked at alongside the manifest tag: a push that finds one (another push
    // runs, or one was interrupted) must not take the no-change shortcut.
    const leaseLookedAt = Date.now();
    const [scan, state, lease] = await Promise.allSettled([
      scanTree({ ...o, signal: scanStop.signal }, progress),
      resolveRemoteState(remote, { cacheDir, ...(o.signal ? { signal: o.signal } : {}) }).catch(stopScan),
      readLease(remote, o.signal).catch(stopScan),
    ]);
    if (state.status === 'rejected') throw state.reason;
    if (lease.status === 'rejected') throw lease.reason;
    if (scan.status === 'rejected') throw scan.reason;
    return { scan: scan.value, state: state.value, lease: lease.value, leaseLookedAt };
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
