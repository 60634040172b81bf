/**
 * The remote manifest: read with its version tag, written last (the commit point of a push) and,
 * where the store supports it, only if nobody else wrote one since we read it.
 */
import { manifestKey } from '../backends/keys.js';
import type { Remote } from '../backends/open.js';
import { FlowsyncError, isFlowsyncError } from '../errors.js';
import { manifestId, parseManifest, serializeManifest } from '../manifest/codec.js';
import { looksPacked } from '../manifest/packed.js';
import type { Manifest } from '../manifest/types.js';
import { MANIFEST_MAX_BYTES } from '../manifest/limits.js';
import { assertJsonSize } from '../util/bounded-json.js';
import { collect } from '../util/streams.js';

export interface RemoteManifest {
  manifest: Manifest;
  id: string;
  /** Version tag of the stored manifest, for the conditional write that replaces it. */
  etag?: string;
}

/**
 * A flowsync document's bytes and tag, or null when it does not exist: its size is checked against
 * `maxBytes` before a byte is read (a hostile store could otherwise hand us gigabytes); with
 * `knownEtag`, only the tag when it is that one (nothing read). Each request is retried by the
 * remote's retry decorator, not here.
 */
export async function readBoundedDocument(
  remote: Remote,
  key: string,
  limit: { maxBytes: number; what: string; fix: string },
  signal?: AbortSignal,
  knownEtag?: string,
): Promise<{ bytes: Buffer | null; etag?: string } | null> {
  const info = await remote.backend.stat(key, { signal });
  if (!info) return null;
  if (knownEtag !== undefined && info.etag === knownEtag) return { bytes: null, etag: knownEtag };
  assertJsonSize(info.size, { ...limit, code: 'BAD_MANIFEST' });
  try {
    const bytes = await collect(await remote.backend.read(key, { signal }), signal);
    return { bytes, ...(info.etag ? { etag: info.etag } : {}) };
  } catch (err) {
    if (isFlowsyncError(err, 'NOT_FOUND')) return null; // deleted between stat and read
    throw err;
  }
}

function fetchManifestBytes(remote: Remote, signal?: AbortSignal, knownEtag?: string): Promise<{ bytes: Buffer | null; etag?: string } | null> {
  const key = manifestKey(remote.prefix);
  const limit = { what: `the manifest at ${remote.url} (${key})`, maxBytes: MANIFEST_MAX_BYTES, fix: 'Push again from the source folder to replace it.' };
  return readBoundedDocument(remote, key, limit, signal, knownEtag);
}

/** The bytes of a packed layout's manifest: read by the packed layout's own code (sync/packed-*). */
export interface PackedPointer {
  packed: { bytes: Buffer; etag?: string };
}

/** The remote's manifest: a mirror manifest (parsed), a packed one (its bytes), or null. */
export async function fetchAnyManifest(remote: Remote, signal?: AbortSignal): Promise<RemoteManifest | PackedPointer | null> {
  const found = await fetchManifestBytes(remote, signal);
  if (!found?.bytes) return null;
  if (looksPacked(found.bytes)) return { packed: { bytes: found.bytes, ...(found.etag ? { etag: found.etag } : {}) } };
  const manifest = parseManifest(found.bytes, `${remote.url} (${manifestKey(remote.prefix)})`);
  return { manifest, id: manifestId(found.bytes), ...(found.etag ? { etag: found.etag } : {}) };
}

/** The remote's mirror manifest, or null; a packed remote is refused by name (its callers read only mirror). */
export async function fetchManifest(remote: Remote, signal?: AbortSignal): Promise<RemoteManifest | null> {
  const found = await fetchAnyManifest(remote, signal);
  if (found && 'packed' in found) {
    throw new FlowsyncError('UNSUPPORTED', `${remote.url} uses the packed layout; this command reads only the mirror layout. Use flowsync pull / log for it.`);
  }
  return found;
}

/** What a push builds on: the remote manifest, or a damaged one that the push will replace. */
export interface PushBase {
  previous: RemoteManifest | null;
  /** Set when the stored manifest is unreadable or invalid: the push replaces it (conditionally on its tag). */
  damaged?: { etag?: string; reason: FlowsyncError };
  /** The stored manifest still has the tag the caller knew (`knownEtag`): it was not read. */
  unchanged?: boolean;
  /** The bytes `previous` was parsed from, while they are not saved as the memo's copy (remote-state.ts). */
  previousBytes?: Buffer;
  /** The stored manifest is the packed layout's pointer (read by sync/packed-push). */
  packed?: { bytes: Buffer; etag?: string };
}

/**
 * The manifest a push replaces. A damaged manifest (bad JSON, invalid entries, unsafe paths) is
 * not a dead end: the push writes a good one over it (the error message tells users to push
 * again). A manifest from a newer flowsync is still refused: replacing it could orphan its data.
 */
export async function fetchPushBase(remote: Remote, signal?: AbortSignal, knownEtag?: string): Promise<PushBase> {
  const found = await fetchManifestBytes(remote, signal, knownEtag);
  if (!found) return { previous: null };
  if (!found.bytes) return { previous: null, unchanged: true };
  return pushBaseOf(remote, found.bytes, found.etag);
}

/** The push base for manifest `bytes`, stored under the tag `etag`. */
export function pushBaseOf(remote: Remote, bytes: Buffer, etag?: string): PushBase {
  if (looksPacked(bytes)) return { previous: null, packed: { bytes, ...(etag ? { etag } : {}) } };
  try {
    const manifest = parseManifest(bytes, `${remote.url} (${manifestKey(remote.prefix)})`);
    return { previous: { manifest, id: manifestId(bytes), ...(etag ? { etag } : {}) }, previousBytes: bytes };
  } catch (err) {
    if (!isFlowsyncError(err, 'BAD_MANIFEST') && !isFlowsyncError(err, 'UNSAFE_PATH')) throw err;
    return { previous: null, damaged: { ...(etag ? { etag } : {}), reason: err } };
  }
}

/**
 * Write `manifest` as the remote's new manifest; returns its id. `previous` is what was read
 * before (its tag makes the write conditional), or null when there was no manifest.
 */
export async function writeManifest(
  remote: Remote,
  manifest: Manifest,
  previous: { etag?: string } | null,
  signal?: AbortSignal,
): Promise<{ id: string; etag?: string; bytes: Uint8Array }> {
  const bytes = serializeManifest(manifest);
  const { backend } = remote;
  const condition = !backend.features.conditionalWrite
    ? {}
    : previous
      ? previous.etag
        ? { ifMatch: previous.etag }
        : {}
      : { ifNoneMatch: '*' as const };
  let written: { etag?: string };
  try {
    written = await backend.write(manifestKey(remote.prefix), bytes, { size: bytes.length, contentType: 'application/json', ...condition }, { signal });
  } catch (err) {
    if (!isFlowsyncError(err, 'PRECONDITION_FAILED')) throw err;
    // A lost reply is not a conflict: when the first attempt was stored but its answer never
    // came, the retry meets our own manifest. Same bytes stored means the write happened.
    const stored = await fetchManifestBytes(remote, signal).catch(() => null);
    if (!stored?.bytes || !stored.bytes.equals(bytes)) {
      throw new FlowsyncError(
        'PRECONDITION_FAILED',
        `Another push updated ${remote.url} while this one ran, so this push did not replace its manifest. Run the push again: it uploads only what still differs.`,
        { cause: err },
      );
    }
    written = stored.etag ? { etag: stored.etag } : {};
  }
  return { id: manifestId(bytes), bytes, ...(written.etag ? { etag: written.etag } : {}) };
}
