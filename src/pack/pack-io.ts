/**
 * Moving packs: build one from the files of a planned group and upload it; read planned ranges
 * of packs and hand out each member's verified bytes. Memory is held through the operation's
 * byte budget, so packs in flight × their size stays under its ceiling.
 */
import type { Readable } from 'node:stream';
import { abortError, FlowsyncError } from '../errors.js';
import { hashFile } from '../hash/hash-file.js';
import type { FileEntry } from '../manifest/types.js';
import type { PackRead, UploadedPack } from '../plan/pack-plan.js';
import type { TransferContext } from '../transfer/context.js';
import { digestOf } from '../transfer/digest.js';
import { packKey } from './layout.js';
import { buildPackFrom, packSizeFor } from './tar-pack.js';

/**
 * Read the group's files (each checked against the sha256 the plan has for it: a file that
 * changed since the scan stops the push), build the pack, upload it as `packs/<sha256>.tar`.
 * Returns the pack's reference and member offsets, and the bytes sent.
 */
export async function uploadPack(ctx: TransferContext, prefix: string, group: readonly FileEntry[], sourceOf: (path: string) => string, signal: AbortSignal): Promise<UploadedPack> {
  const size = packSizeFor(group.map((e) => e.size));
  // Only the pack's buffer is big: each file is read when the tar stream wants it.
  const release = await ctx.budget.acquire(Math.min(size, ctx.budget.limit), signal);
  try {
    const pack = await buildPackFrom(group, async (i) => {
      const e = group[i]!;
      const read = await hashFile(sourceOf(e.path), { signal, keepUpTo: e.size, label: e.path });
      if (read.sha256 !== e.sha256 || !read.data) {
        throw new FlowsyncError('FILE_CHANGED', `${e.path} changed after it was scanned. Wait until nothing writes to it (or add it to .prefectignore), then push again.`);
      }
      return read.data;
    });
    const body = pack.bytes;
    const digest = digestOf(ctx.backend, body, pack.sha256);
    // Retried by the remote's retry decorator; the same bytes under the same name, so harmless.
    await ctx.backend.write(packKey(prefix, pack.sha256), body, { size: body.length, sha256: pack.sha256, contentType: 'application/x-tar', ...(digest ? { digest } : {}) }, { signal, ...(ctx.onRetry ? { onRetry: ctx.onRetry } : {}) });
    ctx.progress.advance(group.reduce((n, e) => n + e.size, 0), group.length);
    return { ref: { sha256: pack.sha256, size: body.length }, members: pack.members.map((m) => ({ sha256: m.sha256, offset: m.offset })) };
  } finally {
    release();
  }
}

/** The bytes of one planned read, held against the byte budget until `release()`. */
export interface FetchedRange {
  bytes: Buffer;
  /** Offset in the pack of `bytes[0]`. */
  start: number;
  release(): void;
}

/**
 * One planned read: a ranged GET (or the whole pack). A read that breaks mid-body is resumed by
 * the retry decorator; the caller checks each member (`memberBytes`) before using it.
 */
export async function fetchPackRange(ctx: TransferContext, prefix: string, read: PackRead, signal: AbortSignal): Promise<FetchedRange> {
  const length = read.end - read.start;
  const release = await ctx.budget.acquire(Math.min(length, ctx.budget.limit), signal);
  try {
    const whole = read.start === 0 && read.end === read.pack.size;
    const ranged = !whole && ctx.backend.features.rangeRead;
    const stream = await ctx.backend.read(packKey(prefix, read.pack.sha256), { signal, ...(ranged ? { range: [read.start, read.end] as [number, number] } : {}) });
    const bytes = await collectInto(stream, length, read.pack.size, signal);
    // A store that answers a range with the whole object is still read right.
    const start = bytes.length === read.pack.size && length !== read.pack.size ? 0 : read.start;
    if (bytes.length !== length && start !== 0) {
      throw new FlowsyncError('CHECKSUM_MISMATCH', `pack ${read.pack.sha256}: asked for ${length} B at ${read.start}, got ${bytes.length} B. The pack is damaged; re-run the pull.`);
    }
    return { bytes, start, release };
  } catch (err) {
    release();
    throw err;
  }
}

/**
 * Read a stream expected to carry `length` bytes into one buffer of that size (no chunk list and
 * concat: a 16 MiB pack is held once). A longer body (a store that ignored the range) is taken
 * up to `whole` bytes in a second buffer; anything else is returned as read for the caller to judge.
 */
async function collectInto(stream: Readable, length: number, whole: number, signal: AbortSignal): Promise<Buffer> {
  let out = Buffer.allocUnsafe(length);
  let n = 0;
  const onAbort = () => stream.destroy(abortError(signal));
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (n + chunk.length > out.length) {
        if (n + chunk.length > whole) throw new FlowsyncError('CHECKSUM_MISMATCH', `a pack read returned more than the pack's ${whole} B; the pack was replaced. Re-run the pull.`);
        const bigger = Buffer.allocUnsafe(whole);
        out.copy(bigger, 0, 0, n);
        out = bigger;
      }
      chunk.copy(out, n);
      n += chunk.length;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  if (signal.aborted) throw abortError(signal);
  return out.subarray(0, n);
}
