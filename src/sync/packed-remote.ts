/**
 * Reading a packed remote's documents: the pointer (`manifest.json`) and the versions. Every
 * document is bounded in size before it is read, parsed and validated before it is used, and a
 * version is checked against its id (the sha256 of its bytes): "never trust the repository".
 */
import { manifestKey } from '../backends/keys.js';
import type { Remote } from '../backends/open.js';
import { FlowsyncError } from '../errors.js';
import { manifestId } from '../manifest/codec.js';
import { isLink } from '../manifest/types.js';
import { looksPacked, parsePackedManifest, parseVersionHead, type PackedManifest, type VersionHead } from '../manifest/packed.js';
import { blobKey, packKey, versionIdOf, versionKey, versionsFolder } from '../pack/layout.js';
import type { ListedVersion } from '../plan/gc-plan.js';
import { runPool } from '../util/pool.js';
import { collect } from '../util/streams.js';
import { readBoundedDocument } from './remote-manifest.js';

/** A manifest bigger than this is refused unread (100k files take about 15 MB). */
export const MAX_DOCUMENT_BYTES = 512 * 1024 * 1024;
/** Enough for any head line (the message is capped at 4 KiB). */
const HEAD_READ = 16 * 1024;

export interface Document {
  bytes: Buffer;
  etag?: string;
}

/** A document's bytes and tag, or null when it does not exist. */
export async function readDocument(remote: Remote, key: string, signal?: AbortSignal): Promise<Document | null> {
  const limit = { what: `${key} at ${remote.url}`, maxBytes: MAX_DOCUMENT_BYTES, fix: 'It was not written by flowsync; push again to replace it.' };
  const found = await readBoundedDocument(remote, key, limit, signal);
  return found?.bytes ? { bytes: found.bytes, ...(found.etag ? { etag: found.etag } : {}) } : null;
}

export interface CurrentVersion {
  manifest: PackedManifest;
  id: string;
  etag?: string;
  bytes: Buffer;
}

export function parseCurrent(remote: Remote, doc: Document): CurrentVersion {
  const manifest = parsePackedManifest(doc.bytes, `${remote.url} (${manifestKey(remote.prefix)})`);
  return { manifest, id: manifestId(doc.bytes), bytes: doc.bytes, ...(doc.etag ? { etag: doc.etag } : {}) };
}

/** The current version of a packed remote; null when there is no manifest. Refuses a mirror remote. */
export async function fetchCurrent(remote: Remote, signal?: AbortSignal): Promise<CurrentVersion | null> {
  const doc = await readDocument(remote, manifestKey(remote.prefix), signal);
  if (!doc) return null;
  if (!looksPacked(doc.bytes)) throw mirrorRemote(remote);
  return parseCurrent(remote, doc);
}

export function mirrorRemote(remote: Remote): FlowsyncError {
  return new FlowsyncError('UNSUPPORTED', `${remote.url} uses the mirror layout, which keeps no versions. Push with --layout packed to convert it (the remote keeps that layout from then on).`);
}

export async function listVersions(remote: Remote, signal?: AbortSignal): Promise<ListedVersion[]> {
  const out: ListedVersion[] = [];
  for await (const o of remote.backend.list(versionsFolder(remote.prefix), { signal })) {
    const id = versionIdOf(remote.prefix, o.key);
    if (id) out.push({ id, size: o.size, ...(o.lastModified ? { lastModified: o.lastModified } : {}) });
  }
  return out;
}

/** A version id as the user gave it (the whole id, or a unique prefix of at least 8 digits). */
export async function resolveVersionId(remote: Remote, given: string, signal?: AbortSignal): Promise<string> {
  const want = given.trim().toLowerCase();
  if (!/^[0-9a-f]{8,64}$/.test(want)) {
    throw new FlowsyncError('USAGE', `${JSON.stringify(given)} is not a version id: give the id \`flowsync log ${remote.url}\` shows (at least its first 8 hex digits).`);
  }
  if (want.length === 64) return want;
  const matches = (await listVersions(remote, signal)).filter((v) => v.id.startsWith(want));
  if (matches.length === 1) return matches[0]!.id;
  throw new FlowsyncError(
    matches.length === 0 ? 'NOT_FOUND' : 'USAGE',
    matches.length === 0
      ? `${remote.url} has no version ${given}. \`flowsync log ${remote.url}\` lists the versions it keeps (gc may have removed older ones).`
      : `${given} matches ${matches.length} versions of ${remote.url}; give more digits.`,
  );
}

/** A version's manifest, checked against its id. */
export async function fetchVersion(remote: Remote, id: string, signal?: AbortSignal): Promise<CurrentVersion> {
  const key = versionKey(remote.prefix, id);
  const doc = await readDocument(remote, key, signal);
  if (!doc) throw new FlowsyncError('NOT_FOUND', `${remote.url} has no version ${id}. \`flowsync log ${remote.url}\` lists the versions it keeps (gc may have removed older ones).`);
  if (manifestId(doc.bytes) !== id) {
    throw new FlowsyncError('BAD_MANIFEST', `${remote.url}: version ${id} does not hash to its id (the object was damaged or replaced). Pull another version, or push again.`);
  }
  const manifest = parsePackedManifest(doc.bytes, `${remote.url} (${key})`);
  return { manifest, id, bytes: doc.bytes, ...(doc.etag ? { etag: doc.etag } : {}) };
}

/** A version's summary from its head line: a short ranged read where the store has them. */
export async function fetchVersionHead(remote: Remote, v: { id: string; size?: number }, signal?: AbortSignal): Promise<VersionHead> {
  const { id } = v;
  const key = versionKey(remote.prefix, id);
  const where = `${remote.url} (${key})`;
  if (remote.backend.features.rangeRead && v.size !== undefined && v.size > 0) {
    // The range stays inside the object: stores differ on ranges that run past the end.
    const range: [number, number] = [0, Math.min(HEAD_READ, v.size)];
    const head = parseVersionHead(await collect(await remote.backend.read(key, { signal, range }), signal), where);
    if (head) return head;
  }
  const { manifest: m } = await fetchVersion(remote, id, signal);
  return { createdAt: m.createdAt, counts: m.counts, provenance: m.provenance, ...(m.message !== undefined ? { message: m.message } : {}) };
}

/** The object a stored content of `m` lives in: its pack, or its blob (a file entry or a retained content). */
export function objectKeyOf(prefix: string, m: PackedManifest, c: { sha256: string; pack?: number }): string {
  return c.pack !== undefined ? packKey(prefix, m.packs[c.pack]!.sha256) : blobKey(prefix, c.sha256);
}

/**
 * Every object version `m` needs: its packs, the blobs of its files and the blobs it retains
 * (the next push may take those back). What gc keeps and rollback checks.
 */
export function storedObjectKeys(prefix: string, m: PackedManifest): string[] {
  const keys = m.packs.map((p) => packKey(prefix, p.sha256));
  for (const e of m.files) if (!isLink(e) && e.size > 0 && e.pack === undefined) keys.push(blobKey(prefix, e.sha256));
  for (const r of m.retained) if (r.pack === undefined) keys.push(blobKey(prefix, r.sha256));
  return keys;
}

/** Which of `keys` the remote does not have: one HEAD each, `concurrency` at a time. */
export async function missingObjects(remote: Remote, keys: Iterable<string>, concurrency: number, signal?: AbortSignal): Promise<string[]> {
  const missing: string[] = [];
  await runPool([...new Set(keys)], concurrency, async (key, s) => {
    if ((await remote.backend.stat(key, { signal: s })) === null) missing.push(key);
  }, signal);
  return missing.sort();
}
