/**
 * pull, packed layout: the version's entries are the plan's targets (the same plan and local-state
 * rules as mirror); what differs is where bytes come from. Big files are their blobs (downloaded
 * like any object); small ones are pack members, fetched by the reads `planPackReads` chooses:
 * one ranged GET per member or run of neighbours, or the whole pack when most of it is needed.
 * Every member is checked against its sha256 before a byte of it is written.
 */
import type { Remote } from '../backends/open.js';
import { isLink } from '../manifest/types.js';
import { blobKey } from '../pack/layout.js';
import { readPackRange } from '../pack/pack-io.js';
import { planPackReads, type WantedMember } from '../plan/pack-plan.js';
import type { PullFile, PullTarget } from '../plan/pull-plan.js';
import type { TransferContext } from '../transfer/context.js';
import { runPool } from '../util/pool.js';
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

export interface PackedWriter {
  /** Download a whole object (a blob) into place, verified. */
  download(key: string, t: PullFile, signal: AbortSignal): Promise<void>;
  /** Place bytes already verified. */
  place(t: PullFile, data: Uint8Array): Promise<void>;
}

/** Bring down the planned files of a packed version: blobs whole, members by planned pack reads. */
export async function downloadPacked(
  ctx: TransferContext,
  source: { keys: Map<string, string>; packed: PackedSource },
  files: readonly PullFile[],
  concurrency: number,
  writer: PackedWriter,
  signal?: AbortSignal,
): Promise<void> {
  const blobs: PullFile[] = [];
  const empty: PullFile[] = [];
  const bySha = new Map<string, PullFile[]>();
  const wanted: WantedMember[] = [];
  for (const t of files) {
    const m = source.packed.members.get(t.path);
    if (m) {
      const list = bySha.get(m.sha256);
      if (list) list.push(t);
      else bySha.set(m.sha256, [t]);
      wanted.push(m);
    } else if (t.size === 0) empty.push(t);
    else blobs.push(t);
  }
  for (const t of empty) {
    await writer.place(t, new Uint8Array(0));
    ctx.progress.advance(0, 1);
  }
  type Op = { blob: PullFile } | { read: ReturnType<typeof planPackReads>[number] };
  const ops: Op[] = [...blobs.map((blob) => ({ blob })), ...planPackReads(wanted).map((read) => ({ read }))];
  await runPool(
    ops,
    concurrency,
    async (op, poolSignal) => {
      if ('blob' in op) return writer.download(source.keys.get(op.blob.path)!, op.blob, poolSignal);
      await readPackRange(
        ctx,
        source.packed.prefix,
        op.read,
        async (sha256, data) => {
          for (const t of bySha.get(sha256) ?? []) {
            await writer.place(t, data);
            ctx.progress.advance(0, 1);
          }
        },
        poolSignal,
      );
    },
    signal,
  );
}
