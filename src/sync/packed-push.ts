/**
 * push, packed layout (DESIGN §5.2): plan against the current version → upload the packs and
 * blobs the remote lacks → write `versions/<id>.json` → replace `manifest.json` LAST, on the
 * condition that it still has the tag this push planned against. Objects are named by their
 * content, so nothing a reader may be using is ever overwritten: a push that stops anywhere, or
 * loses the race, leaves the current version whole (its uploads are left for gc).
 */
import { keyFor, manifestKey } from '../backends/keys.js';
import type { Remote } from '../backends/open.js';
import { FlowsyncError, isFlowsyncError } from '../errors.js';
import { isLink, sameContent, type Manifest, type ManifestEntry } from '../manifest/types.js';
import { createPackedManifest, serializePackedManifest, type PackedManifest } from '../manifest/packed.js';
import { manifestId } from '../manifest/codec.js';
import { blobKey, versionKey } from '../pack/layout.js';
import { uploadPack } from '../pack/pack-io.js';
import { provenanceOf } from '../pack/provenance.js';
import { locateEntries, planPackedPush, type UploadedPack } from '../plan/pack-plan.js';
import { transferContext } from '../transfer/context.js';
import { digestOf } from '../transfer/digest.js';
import { uploadFile } from '../transfer/upload.js';
import { runPool } from '../util/pool.js';
import type { Progress } from '../util/progress.js';
import { deleteCounted } from './layout-switch.js';
import { missingObjects, objectKeyOf, parseCurrent, type CurrentVersion, type Document } from './packed-remote.js';
import { saveMemo } from './remote-memo.js';
import { sourceOf, type ScanDetail } from './scan.js';
import type { PushOptions, SyncSummary } from './types.js';

export interface PackedPushInput {
  o: PushOptions & { command?: 'push' | 'status' };
  remote: Remote;
  scan: ScanDetail;
  progress: Progress;
  cacheDir: string | null;
  /** filesDigest of the scanned tree (for the remote memo). */
  digest: string;
  started: number;
  /** What manifest.json holds now: a packed pointer, a mirror manifest (converted here), a damaged one, or nothing. */
  pointer: { packed?: Document; mirror?: { manifest: Manifest; etag?: string }; damaged?: { etag?: string } } | null;
}

export interface PackedPushResult extends SyncSummary {
  changes?: { upload: string[]; delete: string[]; update: string[] };
}

export async function pushPacked(input: PackedPushInput): Promise<PackedPushResult> {
  const { o, remote, scan, progress } = input;
  const warnings = [...scan.warnings];
  const warn = (m: string) => {
    warnings.push(m);
    o.log?.warn(m);
  };
  let current: CurrentVersion | null = null;
  let etag: string | undefined;
  let exists = false;
  if (input.pointer?.packed) {
    exists = true;
    etag = input.pointer.packed.etag;
    try {
      current = parseCurrent(remote, input.pointer.packed);
    } catch (err) {
      if (!isFlowsyncError(err, 'BAD_MANIFEST') && !isFlowsyncError(err, 'UNSAFE_PATH')) throw err;
      warn(`${err.message.replace(/ It was damaged.*$/, '')} This push replaces it with a new version; \`flowsync log\` still lists the earlier ones.`);
    }
  } else if (input.pointer?.mirror) {
    exists = true;
    etag = input.pointer.mirror.etag;
    if (!o.dryRun) warn(`Converting ${remote.url} from the mirror layout to packed: from now on it keeps versions (flowsync log/rollback/gc), and Prefect's own pull steps can no longer read it. Push with --layout mirror to convert it back.`);
  } else if (input.pointer?.damaged) {
    exists = true;
    etag = input.pointer.damaged.etag;
  }

  const { backend } = remote;
  const concurrency = o.concurrency ?? backend.tuning.concurrency;
  const base = current ? await withoutLostRetained(remote, current.manifest, scan.manifest.files, concurrency, warn, o.signal) : null;
  const plan = planPackedPush(scan.manifest.files, base);
  const summary: PackedPushResult = {
    command: o.command ?? 'push',
    uploaded: plan.newFiles,
    downloaded: 0,
    deleted: plan.removed,
    unchanged: plan.unchanged,
    // Entries set without moving bytes: links, mode changes, renames and copies of stored content.
    updated: scan.manifest.files.length - plan.unchanged - plan.newFiles,
    bytes: [...plan.blobs, ...plan.packs.flat()].reduce((n, e) => n + e.size, 0),
    manifest: current?.id ?? null,
    durationMs: 0,
    dryRun: o.dryRun ?? false,
    conflicts: [],
    warnings,
  };
  const done = () => ({ ...summary, durationMs: Date.now() - input.started });
  if (o.dryRun) {
    const uploading = new Set([...plan.blobs, ...plan.packs.flat()].map((e) => e.sha256));
    const before = new Set(current?.manifest.files.map((e) => e.path));
    const oldByPath = new Map<string, ManifestEntry>((current?.manifest.files ?? []).map((e) => [e.path, e]));
    const now = new Set(scan.manifest.files.map((e) => e.path));
    const upload = scan.manifest.files.filter((e) => 'sha256' in e && e.size > 0 && uploading.has(e.sha256)).map((e) => e.path);
    const same = new Set(
      scan.manifest.files
        .filter((e) => {
          const old = oldByPath.get(e.path);
          return old !== undefined && sameContent(old, e);
        })
        .map((e) => e.path),
    );
    const uploaded = new Set(upload);
    summary.changes = {
      upload,
      delete: [...before].filter((p) => !now.has(p)),
      update: scan.manifest.files.map((e) => e.path).filter((p) => !uploaded.has(p) && !same.has(p)),
    };
    return done();
  }
  if (current && !plan.changed) {
    // The same tree again: nothing uploaded, nothing written.
    if (input.cacheDir && current.etag) await saveMemo(input.cacheDir, remote, { etag: current.etag, id: current.id, filesDigest: input.digest }, current.bytes);
    return done();
  }

  const ctx = transferContext(backend, progress, { concurrency, ...(o.partSize ? { partSize: o.partSize } : {}), ...(o.log ? { log: o.log } : {}) });
  const provenance = provenanceOf(scan.root);
  provenance.catch(() => {}); // awaited below; never an unhandled rejection if the upload fails first
  type Op = { blob: (typeof plan.blobs)[number] } | { pack: (typeof plan.packs)[number] };
  // Blobs first: they are the long transfers, packs fill in around them.
  const ops: Op[] = [...plan.blobs.map((blob) => ({ blob })), ...plan.packs.map((pack) => ({ pack }))];
  const uploaded: UploadedPack[] = [];
  let sent = 0;
  progress.begin('upload', summary.bytes, plan.newFiles);
  await runPool(
    ops,
    concurrency,
    async (op, signal) => {
      if ('blob' in op) {
        await uploadFile(ctx, blobKey(remote.prefix, op.blob.sha256), sourceOf(scan, op.blob.path), op.blob, signal);
        sent += op.blob.size;
      } else {
        const p = await uploadPack(ctx, remote.prefix, op.pack, (rel) => sourceOf(scan, rel), signal);
        uploaded.push(p);
        sent += p.ref.size;
      }
    },
    o.signal,
  );
  progress.end();
  summary.bytes = sent;

  progress.begin('manifest', 0, 1);
  const { files, packs, retained } = locateEntries(scan.manifest.files, plan.known, uploaded, plan.blobs.map((b) => b.sha256), plan.retained);
  const next = createPackedManifest({ files, packs, retained, provenance: await provenance, ...(o.message ? { message: o.message } : {}) });
  const bytes = serializePackedManifest(next);
  const id = manifestId(bytes);
  const digest = digestOf(backend, bytes, id);
  const info = { size: bytes.length, sha256: id, contentType: 'application/json', ...(digest ? { digest } : {}) };
  // The version first (immutable, named by its hash), then the pointer, conditionally.
  await backend.write(versionKey(remote.prefix, id), bytes, info, { ...(o.signal ? { signal: o.signal } : {}), ...(ctx.onRetry ? { onRetry: ctx.onRetry } : {}) });
  const written = await writePointer(remote, bytes, exists ? (etag ? { ifMatch: etag } : {}) : { ifNoneMatch: '*' }, o.signal);
  summary.manifest = id;
  progress.end();
  if (input.cacheDir && written.etag) await saveMemo(input.cacheDir, remote, { etag: written.etag, id, filesDigest: input.digest }, bytes);

  const mirror = input.pointer?.mirror;
  if (mirror && o.delete !== false) {
    // The packed version is in force: the mirror's objects are no longer what anyone reads.
    const keys = mirror.manifest.files.filter((e) => !('link' in e)).map((e) => keyFor(remote.prefix, e.path));
    try {
      await deleteCounted(backend, keys, progress, o.signal);
    } catch (err) {
      warn(`The push succeeded, but removing the ${keys.length} objects of the mirror layout failed: ${(err as Error).message}`);
    }
  }
  return done();
}

/**
 * The current version, less the retained contents the tree takes back whose objects are gone
 * (removed by hand, or by a gc from a flowsync that did not know `retained`): those are then
 * uploaded again rather than referenced. One HEAD per pack or blob, and only when the tree
 * restores something, so an ordinary push costs nothing more.
 */
async function withoutLostRetained(remote: Remote, m: PackedManifest, local: readonly ManifestEntry[], concurrency: number, warn: (m: string) => void, signal?: AbortSignal): Promise<PackedManifest> {
  if (m.retained.length === 0) return m;
  // The reader refuses a retained content the files also list: any match here is a restore.
  const keyOf = new Map(m.retained.map((r) => [r.sha256, objectKeyOf(remote.prefix, m, r)]));
  const restored = new Set<string>();
  for (const e of local) {
    const key = isLink(e) ? undefined : keyOf.get(e.sha256);
    if (key !== undefined) restored.add(key);
  }
  if (restored.size === 0) return m;
  const missing = new Set(await missingObjects(remote, restored, concurrency, signal));
  if (missing.size === 0) return m;
  warn(`${missing.size} object(s) holding content this push restores are gone from ${remote.url} (deleted by hand, or by gc from an older flowsync); that content is uploaded again.`);
  return { ...m, retained: m.retained.filter((r) => !missing.has(keyOf.get(r.sha256)!)) };
}

/** Replace manifest.json with `bytes` on the given condition; a lost race is a CONFLICT that changed nothing. */
export async function writePointer(remote: Remote, bytes: Uint8Array, condition: { ifMatch?: string; ifNoneMatch?: '*' }, signal?: AbortSignal): Promise<{ etag?: string }> {
  const { backend } = remote;
  const when = backend.features.conditionalWrite ? condition : {};
  try {
    const sha256 = manifestId(bytes);
    const digest = digestOf(backend, bytes, sha256);
    const info = await backend.write(manifestKey(remote.prefix), bytes, { size: bytes.length, sha256, contentType: 'application/json', ...(digest ? { digest } : {}), ...when }, { signal });
    return info.etag ? { etag: info.etag } : {};
  } catch (err) {
    if (!isFlowsyncError(err, 'PRECONDITION_FAILED')) throw err;
    throw new FlowsyncError(
      'CONFLICT',
      `Another push (or rollback) changed the current version of ${remote.url} while this one ran, so this one did not replace it; the other's version stays current and nothing it uses was changed. Run the push again: it uploads only what the remote still lacks.`,
      { cause: err },
    );
  }
}
