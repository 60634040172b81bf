/**
 * gc of a packed remote (DESIGN §5.2): forget the versions beyond those kept (the current one,
 * the newest `keep` others, every one younger than the grace period), then delete each pack and
 * blob that no kept version references — never one younger than the grace period, since a push
 * in flight has uploaded objects that no version lists yet. Versions go first, so an interrupted
 * gc never leaves a version whose objects are gone. Packs are not repacked: a pack stays whole
 * while any kept version uses one of its members (the space a mostly dead pack holds is what
 * a later gc frees once its last user is forgotten). A kept version's references include what it
 * retains (contents that left the tree in its last RETAIN_PUSHES pushes), so `--keep 0` still
 * keeps those.
 */
import { manifestKey } from '../backends/keys.js';
import type { Remote } from '../backends/open.js';
import { isFlowsyncError } from '../errors.js';
import { blobsFolder, packsFolder, versionKey } from '../pack/layout.js';
import { planGcObjects, planGcVersions, type ListedObject } from '../plan/gc-plan.js';
import { runPool } from '../util/pool.js';
import { Progress } from '../util/progress.js';
import { deleteCounted } from './layout-switch.js';
import { releaseRemote, resolveRemote } from './open.js';
import { fetchCurrent, fetchVersion, listVersions, storedObjectKeys } from './packed-remote.js';
import type { VersionOptions } from './versions.js';
import type { ProgressEvent } from './types.js';

/** One hour: longer than any push is expected to take between its first upload and its manifest. */
export const DEFAULT_GRACE_MS = 60 * 60 * 1000;
export const DEFAULT_KEEP = 10;

export interface GcOptions extends VersionOptions {
  /** Versions kept besides the current one (default 10). */
  keep?: number;
  /** Objects younger than this are never deleted (default 1 h). */
  graceMs?: number;
  dryRun?: boolean;
  onProgress?: (e: ProgressEvent) => void;
  /** The clock (tests). */
  now?: Date;
}

export interface GcResult {
  command: 'gc';
  manifest: string | null;
  dryRun: boolean;
  keptVersions: string[];
  deletedVersions: string[];
  /** Packs and blobs deleted (or, with dryRun, that would be). */
  deletedObjects: number;
  deletedBytes: number;
  /** Unreferenced packs/blobs left because they are younger than the grace period. */
  youngObjects: number;
  durationMs: number;
}

export async function gc(o: GcOptions): Promise<GcResult> {
  const started = Date.now();
  const remote = await resolveRemote(o.remote, o.remoteOptions);
  const progress = new Progress(o.onProgress);
  try {
    const now = o.now ?? new Date();
    const graceMs = o.graceMs ?? DEFAULT_GRACE_MS;
    const concurrency = o.concurrency ?? remote.backend.tuning.concurrency;
    const current = await fetchCurrent(remote, o.signal);
    const versions = await listVersions(remote, o.signal);
    const vplan = planGcVersions({ versions, current: current?.id ?? null, keep: o.keep ?? DEFAULT_KEEP, graceMs, now });
    // Everything a kept version references stays. A kept version that cannot be read stops gc:
    // without its references nothing can be deleted safely.
    const referenced = new Set<string>();
    const addRefs = (m: NonNullable<typeof current>['manifest']) => {
      for (const key of storedObjectKeys(remote.prefix, m)) referenced.add(key);
    };
    if (current) addRefs(current.manifest);
    await runPool(
      vplan.keep.filter((id) => id !== current?.id),
      concurrency,
      async (id, signal) => {
        try {
          addRefs((await fetchVersion(remote, id, signal)).manifest);
        } catch (err) {
          // Deleted meanwhile (another gc): it references nothing any more.
          if (!isFlowsyncError(err, 'NOT_FOUND')) throw err;
        }
      },
      o.signal,
    );
    const objects: ListedObject[] = [];
    for (const folder of [packsFolder(remote.prefix), blobsFolder(remote.prefix)]) {
      for await (const x of remote.backend.list(folder, { signal: o.signal })) objects.push({ key: x.key, size: x.size, ...(x.lastModified ? { lastModified: x.lastModified } : {}) });
    }
    // The pointer may have moved while this ran (a push, a rollback): whatever it names now stays too.
    const still = await remote.backend.stat(manifestKey(remote.prefix), { signal: o.signal });
    if ((still?.etag ?? null) !== (current?.etag ?? null)) {
      const now2 = await fetchCurrent(remote, o.signal);
      if (now2) {
        addRefs(now2.manifest);
        if (vplan.delete.includes(now2.id)) vplan.delete.splice(vplan.delete.indexOf(now2.id), 1);
        if (!vplan.keep.includes(now2.id)) vplan.keep.unshift(now2.id);
      }
    }
    const oplan = planGcObjects({ objects, referenced, graceMs, now });
    const result: GcResult = {
      command: 'gc',
      manifest: current?.id ?? null,
      dryRun: o.dryRun ?? false,
      keptVersions: vplan.keep,
      deletedVersions: vplan.delete,
      deletedObjects: oplan.delete.length,
      deletedBytes: oplan.delete.reduce((n, x) => n + x.size, 0),
      youngObjects: oplan.young.length,
      durationMs: 0,
    };
    if (!o.dryRun) {
      await deleteCounted(remote.backend, vplan.delete.map((id) => versionKey(remote.prefix, id)), progress, o.signal);
      await deleteCounted(remote.backend, oplan.delete.map((x) => x.key), progress, o.signal);
    }
    return { ...result, durationMs: Date.now() - started };
  } finally {
    await releaseRemote(remote, o.remote);
  }
}
