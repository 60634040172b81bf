/**
 * Upload one file. The engine hashes every byte once per digest: the content sha256 (checked
 * against the manifest's, FILE_CHANGED otherwise) and the transport digest the backend declares
 * (handed over in WriteInfo / PartInfo / CompleteInfo; the backend never re-hashes). Retries are
 * the retry decorator's (the backend is wrapped where the remote is opened). Small files are read
 * whole (once), checked against the hash planned for them and sent in one request. Big files go up in parts: one chunk generator reads the file in order
 * (hashing as it goes) and the part workers pull from it, so memory stays at part size × parts
 * in flight (lib-storage's design). If the bytes read do not hash to what the manifest will say,
 * the upload is aborted: a manifest never names content that was not sent.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { MultipartWriter, ObjectInfo } from '../backends/types.js';
import { FlowsyncError, fsError, isFlowsyncError } from '../errors.js';
import { hashFile } from '../hash/hash-file.js';
import { identityOf, sameIdentity } from '../hash/identity.js';
import type { FileEntry } from '../manifest/types.js';
import type { TransferContext } from './context.js';
import { choosePartSize, usesMultipart } from './part-size.js';
import { SIZE_CLASSES_UP_TO } from './budget.js';
import { runPool } from '../util/pool.js';
import { digestOf, digestScope, transportHasher } from './digest.js';

function changedError(path: string): FlowsyncError {
  return new FlowsyncError('FILE_CHANGED', `${path} changed after it was scanned. Wait until nothing writes to it (or add it to .prefectignore), then push again.`);
}

/** Returns what the store says it committed (its tag goes into the mirror manifest). */
export async function uploadFile(ctx: TransferContext, key: string, source: string, entry: FileEntry, signal: AbortSignal): Promise<ObjectInfo> {
  if (usesMultipart(entry.size, ctx.backend, ctx.partSize)) return uploadInParts(ctx, key, source, entry, signal);
  // Small files (most of a tree) are read into recycled buffers; a bigger one, whose size rarely
  // repeats, into its own. Either way exactly the planned size: a file that grew is not kept.
  const held = entry.size <= SIZE_CLASSES_UP_TO ? await ctx.budget.buffer(entry.size, signal) : { release: await ctx.budget.acquire(entry.size, signal) };
  const { release } = held;
  try {
    const read = await hashFile(source, { signal, label: entry.path, ...('data' in held ? { into: held.data } : { keepUpTo: entry.size }) });
    if (read.sha256 !== entry.sha256 || !read.data) throw changedError(entry.path);
    const body = read.data;
    const digest = digestOf(ctx.backend, body, entry.sha256);
    const info = await ctx.backend.write(key, body, { size: entry.size, sha256: entry.sha256, ...(digest ? { digest } : {}) }, op(ctx, signal));
    ctx.progress.advance(entry.size, 1);
    return info;
  } finally {
    release();
  }
}

interface Part {
  n: number;
  data: Buffer;
  digest?: Uint8Array;
  release: () => void;
}

function op(ctx: TransferContext, signal: AbortSignal) {
  return { signal, ...(ctx.onRetry ? { onRetry: ctx.onRetry } : {}) };
}

async function uploadInParts(ctx: TransferContext, key: string, source: string, entry: FileEntry, signal: AbortSignal): Promise<ObjectInfo> {
  const partSize = choosePartSize(entry.size, ctx.backend, ctx.partSize);
  const partCount = Math.ceil(entry.size / partSize);
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(source, 'r');
  } catch (err) {
    throw fsError(err, 'read', entry.path);
  }
  let writer: MultipartWriter | null = null;
  const hash = createHash('sha256');
  try {
    const before = await handle.stat();
    if (before.size !== entry.size) throw changedError(entry.path);
    writer = await ctx.backend.openMultipart!(key, { size: entry.size, sha256: entry.sha256, partSize }, op(ctx, signal));
    const w = writer;
    const kind = ctx.backend.features.transportDigest;
    const perPart = digestScope(ctx.backend) === 'part';
    const whole = perPart ? null : transportHasher(kind);
    const fh = handle;
    // The generator is the only reader of the file, so parts are read (and hashed) in order.
    async function* parts(poolSignal: AbortSignal): AsyncGenerator<Part> {
      for (let n = 1; n <= partCount; n++) {
        const offset = (n - 1) * partSize;
        const length = Math.min(partSize, entry.size - offset);
        const { data, release } = await ctx.budget.buffer(length, poolSignal);
        try {
          let got = 0;
          while (got < length) {
            const { bytesRead } = await fh.read(data, got, length - got, offset + got);
            if (bytesRead === 0) throw changedError(entry.path);
            got += bytesRead;
          }
          hash.update(data);
          whole?.update(data);
          // Computed here, in read order, so a part's digest is the bytes it sends.
          const digest = perPart ? transportHasher(kind)?.update(data).digest() : undefined;
          yield { n, data, release, ...(digest ? { digest } : {}) };
        } catch (err) {
          release();
          throw err;
        }
      }
    }
    const concurrency = ctx.backend.limits.multipart?.sequential ? 1 : ctx.partConcurrency;
    await runPool(
      parts,
      concurrency,
      async (part, partSignal) => {
        try {
          await w.writePart(part.n, part.data, part.digest ? { digest: part.digest } : {}, op(ctx, partSignal));
          ctx.progress.advance(part.data.length);
        } finally {
          part.release();
        }
      },
      signal,
    );
    const after = await handle.stat();
    if (!sameIdentity(identityOf(before), identityOf(after)) || hash.digest('hex') !== entry.sha256) throw changedError(entry.path);
    const info = await w.complete({ size: entry.size, ...(whole ? { digest: whole.digest() } : {}) }, op(ctx, signal)).catch(async (err: unknown) => {
      // A lost reply: the first complete() was done, so its retries find no upload (S3 answers
      // NoSuchUpload, s3rver 500). When the object is there with this content's sha256, that is
      // the success whose answer was lost (or the same bytes were already there): keep it.
      if (!isFlowsyncError(err, 'NOT_FOUND') && !isFlowsyncError(err, 'TRANSIENT')) throw err;
      const stored = await ctx.backend.stat(key, { signal }).catch(() => null);
      if (!stored || stored.size !== entry.size || stored.sha256 !== entry.sha256) throw err;
      await w.abort().catch(() => {});
      return stored;
    });
    writer = null;
    ctx.progress.advance(0, 1);
    return info;
  } catch (err) {
    if (writer) await writer.abort().catch(() => {});
    throw err;
  } finally {
    await handle.close().catch(() => {});
  }
}
