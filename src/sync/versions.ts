/**
 * log and rollback of a packed remote. `log` lists the versions kept under `versions/`, newest
 * first, each summarised from its head line (a short ranged read). `rollback` makes an older
 * version current: the version is read and validated (its id is its sha256, every pack and blob
 * it names must still exist), then written as `manifest.json`, conditionally like a push.
 */
import { manifestKey } from '../backends/keys.js';
import type { Remote, RemoteOptions } from '../backends/open.js';
import { FlowsyncError, isFlowsyncError } from '../errors.js';
import { looksPacked } from '../manifest/packed.js';
import { runPool } from '../util/pool.js';
import { fetchCurrent, fetchVersion, fetchVersionHead, listVersions, missingObjects, mirrorRemote, parseCurrent, readDocument, resolveVersionId, storedObjectKeys, type CurrentVersion } from './packed-remote.js';
import { writePointer } from './packed-push.js';
import { releaseRemote, resolveRemote } from './open.js';

export interface VersionInfo {
  id: string;
  createdAt: string;
  files: number;
  bytes: number;
  message: string | null;
  current: boolean;
  provenance: { flowsync: string; host: string; git?: { commit: string; dirty: boolean } };
}

export interface LogResult {
  command: 'log';
  versions: VersionInfo[];
  /** The current version's id (null when the remote has none). */
  manifest: string | null;
  durationMs: number;
}

export interface VersionOptions {
  remote: string | Remote;
  remoteOptions?: RemoteOptions;
  signal?: AbortSignal;
  concurrency?: number;
}

const HEAD_CONCURRENCY = 16;

export async function log(o: VersionOptions): Promise<LogResult> {
  const started = Date.now();
  const remote = await resolveRemote(o.remote, o.remoteOptions);
  try {
    const [current, listed] = await Promise.all([fetchCurrent(remote, o.signal), listVersions(remote, o.signal)]);
    const versions: VersionInfo[] = [];
    await runPool(
      listed,
      o.concurrency ?? HEAD_CONCURRENCY,
      async (v, signal) => {
        const head = await fetchVersionHead(remote, v, signal);
        versions.push({
          id: v.id,
          createdAt: head.createdAt,
          files: head.counts.files,
          bytes: head.counts.bytes,
          message: head.message ?? null,
          current: v.id === current?.id,
          provenance: head.provenance,
        });
      },
      o.signal,
    );
    versions.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.id < b.id ? -1 : 1));
    return { command: 'log', versions, manifest: current?.id ?? null, durationMs: Date.now() - started };
  } finally {
    await releaseRemote(remote, o.remote);
  }
}

export interface RollbackResult {
  command: 'rollback';
  /** The version now current. */
  manifest: string;
  /** The version that was current before. */
  previous: string | null;
  durationMs: number;
}

export async function rollback(o: VersionOptions & { version: string }): Promise<RollbackResult> {
  const started = Date.now();
  const remote = await resolveRemote(o.remote, o.remoteOptions);
  try {
    const id = await resolveVersionId(remote, o.version, o.signal);
    const [target, pointer] = await Promise.all([fetchVersion(remote, id, o.signal), readDocument(remote, manifestKey(remote.prefix), o.signal)]);
    if (pointer && !looksPacked(pointer.bytes)) throw mirrorRemote(remote);
    // A damaged pointer is exactly what a rollback repairs: it is replaced, on its tag.
    let current: CurrentVersion | null = null;
    try {
      current = pointer ? parseCurrent(remote, pointer) : null;
    } catch (err) {
      if (!isFlowsyncError(err, 'BAD_MANIFEST') && !isFlowsyncError(err, 'UNSAFE_PATH')) throw err;
    }
    if (current?.id === id) return { command: 'rollback', manifest: id, previous: id, durationMs: Date.now() - started };
    // A version whose objects gc removed must not become current: check every one exists.
    const missing = await missingObjects(remote, storedObjectKeys(remote.prefix, target.manifest), o.concurrency ?? HEAD_CONCURRENCY, o.signal);
    if (missing.length > 0) {
      throw new FlowsyncError('NOT_FOUND', `Version ${id} of ${remote.url} cannot be made current: ${missing.length} of its objects are gone (${missing[0]}...). gc removed them; pick a newer version from flowsync log.`);
    }
    await writePointer(remote, target.bytes, pointer ? (pointer.etag ? { ifMatch: pointer.etag } : {}) : { ifNoneMatch: '*' }, o.signal);
    return { command: 'rollback', manifest: id, previous: current?.id ?? null, durationMs: Date.now() - started };
  } finally {
    await releaseRemote(remote, o.remote);
  }
}
