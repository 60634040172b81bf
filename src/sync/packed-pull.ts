/**
 * pull, packed layout: the version's entries are the plan's targets (the same plan, local-state
 * rules and executor as mirror); what differs is where a file's bytes come from (`packedFetch`).
 */
import fs from 'node:fs';
import type { Remote } from '../backends/open.js';
import { fsError } from '../errors.js';
import { isLink } from '../manifest/types.js';
import { blobKey } from '../pack/layout.js';
import { createMemberReader } from '../pack/member-reader.js';
import type { WantedMember } from '../plan/pack-plan.js';
import type { PullFile, PullTarget } from '../plan/pull-plan.js';
import type { TransferContext } from '../transfer/context.js';
import { downloadFile } from '../transfer/download.js';
import type { FetchInto } from './tree-writer.js';
import { fetchCurrent, fetchVersion, parseCurrent, resolveVersionId, type CurrentVersion, type Document } from './packed-remote.js';

/** Where each small file's bytes sit; files not listed here are blobs (or empty). */
export interface PackedSource {
  prefix: string;
  members: Map<string, WantedMember>;
}

export interface PackedPullSource {
  targets: PullTarget[];
  keys: Map<string, string>;
  manifest: string;
  packed: PackedSource;
}

export function packedPullSource(remote: Remote, v: CurrentVersion): PackedPullSource {
  const keys = new Map<string, string>();
  const members = new Map<string, WantedMember>();
  for (const e of v.manifest.files) {
    if (isLink(e) || e.size === 0) continue;
    if (e.pack !== undefined) members.set(e.path, { sha256: e.sha256, size: e.size, pack: v.manifest.packs[e.pack]!, offset: e.offset! });
    else keys.set(e.path, blobKey(remote.prefix, e.sha256));
  }
  const targets: PullTarget[] = v.manifest.files.map((e) => (isLink(e) ? { path: e.path, link: e.link } : { path: e.path, size: e.size, mode: e.mode, sha256: e.sha256 }));
  return { targets, keys, manifest: v.id, packed: { prefix: remote.prefix, members } };
}

/** The source of `pull --version ID`, or of a pointer already read (`doc`). */
export async function loadPackedSource(remote: Remote, o: { version?: string; doc?: Document; signal?: AbortSignal }): Promise<PackedPullSource> {
  if (o.version !== undefined) return packedPullSource(remote, await fetchVersion(remote, await resolveVersionId(remote, o.version, o.signal), o.signal));
  const v = o.doc ? parseCurrent(remote, o.doc) : await fetchCurrent(remote, o.signal);
  if (!v) throw new Error('loadPackedSource: no version'); // callers only come here with a pointer
  return packedPullSource(remote, v);
}

/**
 * How the pull executor fetches one file of a packed version: a blob is downloaded like any
 * object; a pack member comes from the member reader, which serves the files sharing a planned
 * read (ranged, coalesced or whole pack) from one request; an empty file needs no request.
 * Every member's bytes were checked against their sha256 before they are written.
 */
export function packedFetch(ctx: TransferContext, source: { keys: Map<string, string>; packed: PackedSource }, files: readonly PullFile[]): (t: PullFile) => FetchInto {
  const wanted = files.flatMap((t) => {
    const m = source.packed.members.get(t.path);
    return m ? [m] : [];
  });
  const reader = createMemberReader(ctx, source.packed.prefix, wanted);
  return (t) => {
    const member = source.packed.members.get(t.path);
    if (member) {
      return async (tmp, signal, copy) => {
        const data = await reader.read(member.sha256, signal);
        writeBytes(tmp, data);
        await copy?.write(data);
        ctx.progress.advance(0, 1);
        return member.sha256;
      };
    }
    if (t.size === 0) {
      return async (tmp) => {
        writeBytes(tmp, new Uint8Array(0));
        ctx.progress.advance(0, 1);
        return t.sha256;
      };
    }
    return (tmp, signal, copy) => downloadFile(ctx, source.keys.get(t.path)!, tmp, t, signal, copy);
  };
}

/** Synchronous: for many small files the promise API's cost per call is several times the write. */
function writeBytes(file: string, data: Uint8Array): void {
  try {
    fs.writeFileSync(file, data);
  } catch (err) {
    throw fsError(err, 'write', file);
  }
}
