/**
 * push: walk → hash → local manifest; fetch the remote manifest (and look for a lease); plan;
 * take the write lease; upload what changed (and, after an interrupted push or on --repair,
 * every object that disagrees with the manifest); write the new manifest LAST with each object's
 * committed tag (the commit point); delete what the old manifest listed and the new one does
 * not; release the lease. A push that stops after touching objects leaves its lease expired, so
 * the next push heals the remote and pulls know to wait or to name --repair.
 */
import { keyFor, manifestKey } from '../backends/keys.js';
import { FlowsyncError, isFlowsyncError } from '../errors.js';
import { defaultCacheDir } from '../util/cache-dir.js';
import { createManifest, filesDigest } from '../manifest/codec.js';
import { isFile, sameContent, withTag, type FileEntry, type Manifest, type ManifestEntry } from '../manifest/types.js';
import { joinByPath } from '../manifest/paths.js';
import { normalizeTag } from '../plan/drift.js';
import { planPush } from '../plan/push-plan.js';
import { transferContext } from '../transfer/context.js';
import { uploadFile } from '../transfer/upload.js';
import { runPool } from '../util/pool.js';
import { Progress } from '../util/progress.js';
import { entriesToHeal } from './heal.js';
import { acquireLease, type HeldLease } from './lease.js';
import { releaseRemote, resolveRemote } from './open.js';
import { clashingDeletes, deleteObjects, refuseStoreInsideTree, scanAndResolve } from './push-parts.js';
import { fetchPushBase, writeManifest } from './remote-manifest.js';
import { saveMemo } from './remote-memo.js';
import { sourceOf } from './scan.js';
import { convertingToMirrorWarning, dropPackedObjects, memoLayoutDiffers } from './layout-switch.js';
import { pushPacked } from './packed-push.js';
import type { PushOptions, SyncSummary } from './types.js';

export { deleteObjects } from './push-parts.js';

export interface PushResult extends SyncSummary {
  /** With dryRun: the paths that would be uploaded, deleted and updated (mode or link only). */
  changes?: { upload: string[]; delete: string[]; update: string[] };
  /** Objects re-uploaded because they disagreed with the manifest (interrupted push, --repair). */
  repaired?: number;
}

export async function push(o: PushOptions & { command?: 'push' | 'status' }): Promise<PushResult> {
  const started = Date.now();
  const progress = new Progress(o.onProgress);
  const remote = await resolveRemote(o.remote, o.remoteOptions);
  try {
    await refuseStoreInsideTree(o, remote);
    const cacheDir = o.cacheDir === false ? null : (o.cacheDir ?? defaultCacheDir());
    const { scan, state, lease: leftLease, leaseLookedAt } = await scanAndResolve(o, remote, progress, cacheDir);
    const digest = filesDigest(scan.manifest);
    // A lease left in place means a push runs or was interrupted: objects may disagree, so look.
    const heal = o.repair === true || leftLease !== null;
    const finish = (s: PushResult): PushResult => ({ ...s, durationMs: Date.now() - started });
    // The remote manifest is the one this machine last saw, the tree is unchanged too, and nothing
    // was interrupted: nothing moves (two requests: the manifest's tag and the lease).
    if (state.current && digest === state.current.filesDigest && !heal && !(cacheDir && (await memoLayoutDiffers(o.layout, cacheDir, remote, state.current)))) {
      return finish({
        command: o.command ?? 'push', uploaded: 0, downloaded: 0, deleted: 0, unchanged: scan.manifest.files.length, updated: 0, bytes: 0,
        manifest: state.current.id, durationMs: 0, dryRun: o.dryRun ?? false, conflicts: [], warnings: [...scan.warnings],
        ...(o.dryRun ? { changes: { upload: [], delete: [], update: [] } } : {}),
      });
    }
    let base = await state.base();
    // The packed layout: a remote that has it (unless --layout mirror converts it back), or --layout packed.
    if (base.packed ? o.layout !== 'mirror' : o.layout === 'packed') {
      const pointer = base.packed ? { packed: base.packed } : base.previous ? { mirror: base.previous } : base.damaged ? { damaged: base.damaged } : null;
      return await pushPacked({ o, remote, scan, progress, cacheDir, digest, started, pointer });
    }
    let plan = planPush(scan.manifest.files, base.previous?.manifest.files ?? null);
    const doDelete = o.delete !== false;
    const summary: PushResult = {
      command: o.command ?? 'push',
      uploaded: plan.upload.length,
      downloaded: 0,
      deleted: doDelete ? plan.delete.length : 0,
      unchanged: plan.unchanged,
      updated: plan.update.length,
      bytes: plan.upload.reduce((n, e) => n + e.size, 0),
      manifest: base.previous?.id ?? null,
      durationMs: 0,
      dryRun: o.dryRun ?? false,
      conflicts: [],
      warnings: [...scan.warnings],
    };
    const warn = (message: string) => {
      summary.warnings.push(message);
      o.log?.warn(message);
    };
    if (base.damaged) {
      const cause = base.damaged.reason.message.replace(/[.;] (Nothing was written; )?[Pp]ush again from the source folder to replace (it|the manifest)\.$/, '.');
      warn(`${cause} This push replaces it; objects that only the damaged manifest listed are left in place.`);
    }
    if (base.packed && !o.dryRun) {
      summary.warnings.push(convertingToMirrorWarning(remote));
      o.log?.warn(summary.warnings.at(-1)!);
    }
    if (o.dryRun) {
      const repairs = heal ? (await entriesToHeal(remote, kept(scan.manifest.files, plan.upload, base.previous?.manifest), o.signal)).heal : [];
      summary.changes = { upload: [...plan.upload, ...repairs].map((e) => e.path), delete: doDelete ? plan.delete : [], update: plan.update };
      if (repairs.length) summary.repaired = repairs.length;
      return finish(summary);
    }
    if (!plan.manifestChanged && !heal) {
      // Without previousBytes their copy is saved already (remote-state.ts).
      if (cacheDir && base.previous?.etag) {
        await saveMemo(cacheDir, remote, { etag: base.previous.etag, id: base.previous.id, filesDigest: digest }, base.previousBytes);
      }
      return finish(summary);
    }

    // Writing starts: one writer at a time. Fails fast (nothing written) when another push holds it.
    const lease = await acquireLease(remote, {
      ...(o.leaseTtlMs ? { ttlMs: o.leaseTtlMs } : {}),
      breakLease: o.breakLease === true,
      warn,
      ...(o.signal ? { signal: o.signal } : {}),
      ...(leftLease === null ? { absentSince: leaseLookedAt } : {}),
    });
    const signal = o.signal ? AbortSignal.any([o.signal, lease.lost]) : lease.lost;
    let touched = false;
    try {
      const { backend } = remote;
      // Another push may have committed between our read and our lease. A push that heals looks
      // first (what it repairs depends on that manifest); any other looks while it uploads: under
      // our lease nobody else writes, so what it uploads is this tree's content whatever the other
      // push changed, and a new plan only adds what the new manifest lacks. One round trip fewer.
      const expected = base.previous?.etag ?? base.damaged?.etag ?? base.packed?.etag ?? null;
      const looking = backend.stat(manifestKey(remote.prefix), { signal }).then((now) => (now?.etag ?? null) !== expected);
      looking.catch(() => {}); // awaited below, after the uploads: not an unhandled rejection meanwhile
      const planAgain = async () => {
        base = await fetchPushBase(remote, signal);
        plan = planPush(scan.manifest.files, base.previous?.manifest.files ?? null);
        Object.assign(summary, { deleted: doDelete ? plan.delete.length : 0, unchanged: plan.unchanged, updated: plan.update.length, manifest: base.previous?.id ?? null });
      };
      const healing = heal || lease.tookOver !== null;
      if (healing && (await looking)) await planAgain();
      const repairs = healing ? (await entriesToHeal(remote, kept(scan.manifest.files, plan.upload, base.previous?.manifest), signal)).heal : [];
      if (repairs.length > 0) {
        summary.repaired = repairs.length;
        o.log?.info(`${repairs.length} object(s) under ${remote.url} disagree with the manifest: uploading them again.`);
      }
      let uploads = [...plan.upload, ...repairs];
      const count = (sent: readonly FileEntry[]) => Object.assign(summary, { uploaded: sent.length, bytes: sent.reduce((n, e) => n + e.size, 0) });
      count(uploads);
      // Without healing the plan changes the manifest (a push with nothing to write returned before its lease).
      if (!plan.manifestChanged && repairs.length === 0) {
        await lease.release();
        return finish(summary);
      }

      const concurrency = o.concurrency ?? backend.tuning.concurrency;
      const ctx = transferContext(backend, progress, { concurrency, ...(o.partSize ? { partSize: o.partSize } : {}), ...(o.log ? { log: o.log } : {}) });
      // A file that became a folder (or a folder that became a file) cannot coexist with its old
      // objects in a store with real folders (the local store): those old objects go first. Every
      // other delete still waits until the new manifest is in force.
      const early: string[] = [];
      const deleteClashing = async () => {
        const clashing = doDelete ? clashingDeletes(uploads, plan.delete).filter((p) => !early.includes(p)) : [];
        if (clashing.length === 0) return;
        touched = true;
        await deleteObjects(backend, clashing.map((p) => keyFor(remote.prefix, p)), progress, signal);
        early.push(...clashing);
      };

      // Only each object's tag is kept: a whole ObjectInfo (key, date) per file was ~150 bytes more at 100k.
      const committed = new Map<string, string | undefined>();
      const uploadAll = async (list: readonly FileEntry[]) => {
        progress.begin('upload', list.reduce((n, e) => n + e.size, 0), list.length);
        await runPool(
          list,
          concurrency,
          async (e, taskSignal) => {
            try {
              committed.set(e.path, normalizeTag((await uploadFile(ctx, keyFor(remote.prefix, e.path), sourceOf(scan, e.path), e, taskSignal)).etag));
            } catch (err) {
              // A file that changed while read was never sent; any other failure may have reached the store.
              if (!isFlowsyncError(err, 'FILE_CHANGED') && !isFlowsyncError(err, 'ABORTED')) touched = true;
              throw err;
            }
            touched = true;
          },
          signal,
        );
        progress.end();
      };
      let failed: unknown = null;
      try {
        await deleteClashing();
        await uploadAll(uploads);
      } catch (err) {
        failed = err; // perhaps because of what another push changed: known once the look is back
      }
      let raced: boolean;
      try {
        raced = !healing && (await looking);
      } catch (err) {
        throw failed ?? err;
      }
      if (raced) {
        const sent = uploads.filter((e) => committed.has(e.path));
        await planAgain();
        uploads = plan.upload.filter((e) => !committed.has(e.path));
        count([...sent, ...uploads]);
        await deleteClashing();
        if (uploads.length > 0) await uploadAll(uploads);
      } else if (failed !== null) throw failed;
      const late = plan.delete.filter((p) => !early.includes(p));
      const previous = base.previous;

      progress.begin('manifest', 0, 1);
      const next = createManifest(withTags(scan.manifest.files, committed, previous?.manifest));
      if (previous?.manifest.extra) next.extra = previous.manifest.extra;
      let written;
      try {
        written = await writeManifest(remote, next, previous ?? base.damaged ?? base.packed ?? null, signal);
      } catch (err) {
        if (isFlowsyncError(err, 'PRECONDITION_FAILED')) throw lostRace(o.dir, remote.url, err);
        throw err;
      }
      summary.manifest = written.id;
      // Saved while the old objects are deleted and the lease released (it never fails: a memo is a shortcut).
      const memoSaved = cacheDir && written.etag ? saveMemo(cacheDir, remote, { etag: written.etag, id: written.id, filesDigest: digest }, written.bytes) : null;
      progress.end();
      touched = false; // the new manifest and its objects agree: nothing left to heal
      if (base.packed) await dropPackedObjects(remote, progress, o.log, signal);

      if (doDelete && late.length > 0) {
        // The new manifest is already in force: a failure here leaves unused objects, never a broken tree.
        try {
          await deleteObjects(remote.backend, late.map((p) => keyFor(remote.prefix, p)), progress, signal);
        } catch (err) {
          summary.deleted = early.length;
          warn(`The push succeeded, but removing ${late.length} old objects failed: ${(err as Error).message}`);
        }
      }
      await Promise.all([memoSaved, releaseQuietly(lease, warn)]);
      return finish(summary);
    } catch (err) {
      // Objects may now disagree with the manifest in force: leave the lease expired, so the next
      // push heals the remote and pulls name --repair instead of waiting. Untouched: just release.
      if (touched) await lease.abandon();
      else await releaseQuietly(lease, warn);
      throw lease.lost.aborted && !o.signal?.aborted ? (lease.lost.reason as Error) : err;
    }
  } finally {
    await releaseRemote(remote, o.remote);
  }
}

/** Files the push leaves as they are: in the new tree, not uploaded, with the previous manifest's tag. */
function kept(files: readonly ManifestEntry[], uploads: readonly FileEntry[], previous: Manifest | undefined): FileEntry[] {
  const uploading = new Set(uploads.map((e) => e.path));
  const before = new Map((previous?.files ?? []).filter(isFile).map((e) => [e.path, e]));
  const out: FileEntry[] = [];
  for (const e of files) {
    if (!isFile(e) || uploading.has(e.path)) continue;
    const tag = before.get(e.path)?.tag;
    out.push(tag === undefined ? e : withTag(e, tag));
  }
  return out;
}

/**
 * The new manifest's entries with each object's committed tag: just written, or carried over.
 * An entry the previous manifest has as it is (tag included) is that manifest's own object, so
 * a 100k-file manifest with a few changes is not built again entry by entry.
 */
function withTags(files: readonly ManifestEntry[], committed: ReadonlyMap<string, string | undefined>, previous: Manifest | undefined): ManifestEntry[] {
  const out: ManifestEntry[] = [];
  joinByPath(files, previous?.files ?? [], (e, old) => {
    if (e === undefined) return;
    if (!isFile(e)) return void out.push(e);
    const before = old && isFile(old) ? old : undefined;
    if (committed.has(e.path)) {
      const tag = committed.get(e.path);
      out.push(tag === undefined ? e : withTag(e, tag));
    } else if (before?.tag !== undefined && sameContent(before, e)) out.push(before);
    else out.push(before?.tag === undefined ? e : withTag(e, before.tag));
  });
  return out;
}

function lostRace(dir: string, url: string, cause: unknown): FlowsyncError {
  return new FlowsyncError(
    'PRECONDITION_FAILED',
    `Another push committed a manifest to ${url} while this one ran (its lease was broken, or the store cannot enforce leases), so this push did not replace it. Objects this push uploaded may have replaced some of that version's: it left its lease expired, so the next push from either folder checks every object and repairs the remote. To make this folder's version live, run: flowsync push ${dir} ${url} --repair`,
    { cause },
  );
}

async function releaseQuietly(lease: HeldLease, warn: (m: string) => void): Promise<void> {
  try {
    await lease.release();
  } catch (err) {
    warn(`Could not remove the write lease (${(err as Error).message}); it expires on its own at ${lease.holder.expiresAt}.`);
  }
}
