/**
 * Download one object into a file (the caller's temporary file), hashing what was received.
 * The bytes must match the expected size and sha256, or the download fails with
 * CHECKSUM_MISMATCH (which callers retry). Three ways, by size:
 * - small objects are gathered in memory and written with one synchronous call (for many small
 *   files the promise API's per-call cost dominates);
 * - medium objects stream to disk;
 * - big objects, where the backend reads ranges, start as one stream of the whole object, hashed
 *   as it comes. If that stream is fast over its first part (ONE_STREAM_RATE: a near server) it
 *   carries on to the end; if not (S3's per-connection cap, a WAN), it stops there and the rest
 *   comes down as parallel ranges streamed straight to their offsets (no part buffers, so memory
 *   stays flat); each finished run of ranges is read back in order from the page cache and
 *   hashed while later ranges still download. Issue 15 measured 1 GiB from s3rver on loopback:
 *   s3cmd's one stream 4.9 s, flowsync's 16 MiB ranges 9.2 s.
 * A `copy` (the content cache's entry) gets every byte of a stream as it is written; small
 * objects are not copied (the cache copies those itself, in one call), and ranges arrive out of
 * order, so a download that goes on in ranges leaves its copy incomplete.
 */
import { createHash, type Hash } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';
import type { Readable } from 'node:stream';
import { FlowsyncError, fsError } from '../errors.js';
import { ONE_STREAM_RATE, type TransferContext } from './context.js';
import { choosePartSize } from './part-size.js';
import { runPool } from '../util/pool.js';
import { writeAt } from '../util/atomic-write.js';
import { collect } from '../util/streams.js';

/** A second destination for a download's bytes, in order from the first: write() returns a promise when the download should wait for it. */
export interface ByteCopy {
  write(chunk: Uint8Array): Promise<void> | undefined;
}

export interface DownloadTarget {
  path: string;
  size: number;
  /** Expected sha256; absent for objects without a manifest entry (pulled from a Prefect push). */
  sha256?: string;
}

/** Objects up to this size are gathered in memory and written in one call. */
const SMALL_OBJECT = 1024 * 1024;
const HASH_READ_CHUNK = 4 * 1024 * 1024;

/** Objects above this size are fetched as parallel ranges (when the backend supports ranges). */
function usesRangedDownload(size: number, ctx: TransferContext): boolean {
  return ctx.backend.features.rangeRead && size > ctx.backend.tuning.multipartThreshold;
}

/** Returns the sha256 (hex) of the bytes written. */
export async function downloadFile(ctx: TransferContext, key: string, file: string, target: DownloadTarget, signal: AbortSignal, copy?: ByteCopy): Promise<string> {
  const hash = createHash('sha256');
  let received = 0;
  try {
    if (target.size <= SMALL_OBJECT) received = await downloadSmall(ctx, key, file, hash, signal, copy);
    else if (usesRangedDownload(target.size, ctx)) received = await downloadLarge(ctx, key, file, target, hash, signal, (n) => (received = n), copy);
    else received = await downloadStream(ctx, key, file, hash, signal, copy);
  } catch (err) {
    ctx.progress.rewind(received);
    throw err;
  }
  const sha256 = hash.digest('hex');
  if (received !== target.size || (target.sha256 !== undefined && sha256 !== target.sha256)) {
    ctx.progress.rewind(received);
    throw new FlowsyncError(
      'CHECKSUM_MISMATCH',
      `${target.path}: the downloaded bytes (${received} B) do not match the manifest (${target.size} B, sha256 ${target.sha256 ?? 'unknown'}). The object changed after the manifest was written; push again, or re-run the pull.`,
    );
  }
  ctx.progress.advance(0, 1);
  return sha256;
}

async function downloadSmall(ctx: TransferContext, key: string, file: string, hash: Hash, signal: AbortSignal, copy: ByteCopy | undefined): Promise<number> {
  const data = await collect(await ctx.backend.read(key, { signal }), signal);
  hash.update(data);
  try {
    fs.writeFileSync(file, data);
  } catch (err) {
    throw fsError(err, 'write', file);
  }
  await copy?.write(data);
  ctx.progress.advance(data.length);
  return data.length;
}

async function downloadStream(ctx: TransferContext, key: string, file: string, hash: Hash, signal: AbortSignal, copy: ByteCopy | undefined): Promise<number> {
  const handle = await open(file);
  try {
    return await streamTo(await ctx.backend.read(key, { signal }), handle, 0, signal, (chunk) => {
      hash.update(chunk);
      ctx.progress.advance(chunk.length);
    }, copy);
  } finally {
    await handle.close().catch(() => {});
  }
}

/** `w+`: ranged downloads read their finished ranges back to hash them. */
async function open(file: string, flags: 'w' | 'w+' = 'w'): Promise<fsp.FileHandle> {
  try {
    return await fsp.open(file, flags);
  } catch (err) {
    throw fsError(err, 'write', file);
  }
}

/** Write a stream at `position` onwards (and to `copy`); returns the bytes written. */
async function streamTo(stream: Readable, handle: fsp.FileHandle, position: number, signal: AbortSignal, onChunk: (chunk: Buffer) => void, copy?: ByteCopy): Promise<number> {
  let written = 0;
  const onAbort = () => stream.destroy();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      onChunk(chunk);
      writeAt(handle.fd, chunk, position + written);
      written += chunk.length;
      const behind = copy?.write(chunk);
      if (behind) await behind;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  return written;
}

/** One stream while it is fast enough, then parallel ranges for the rest (see the header). */
async function downloadLarge(
  ctx: TransferContext,
  key: string,
  file: string,
  target: DownloadTarget,
  hash: Hash,
  signal: AbortSignal,
  report: (received: number) => void,
  copy: ByteCopy | undefined,
): Promise<number> {
  const partSize = choosePartSize(target.size, ctx.backend, ctx.partSize);
  const handle = await open(file, 'w+');
  try {
    const streamed = await streamWhileFast(ctx, key, handle, target, partSize, hash, signal, copy);
    report(streamed);
    if (streamed === target.size) return streamed;
    return streamed + (await downloadRanges(ctx, key, handle, target, partSize, streamed, hash, signal));
  } finally {
    await handle.close().catch(() => {});
  }
}

/**
 * Stream the whole object from byte 0, hashing in order; after the first part, stop if the rate
 * since the headers is below the one-stream rate and more than a part is left. Returns the bytes
 * written (all of them, or where it stopped).
 */
async function streamWhileFast(
  ctx: TransferContext,
  key: string,
  handle: fsp.FileHandle,
  target: DownloadTarget,
  partSize: number,
  hash: Hash,
  signal: AbortSignal,
  copy: ByteCopy | undefined,
): Promise<number> {
  const stream = await ctx.backend.read(key, { signal, ...(ctx.onRetry ? { onRetry: ctx.onRetry } : {}) });
  const started = performance.now();
  const minRate = ctx.oneStreamRate ?? ONE_STREAM_RATE;
  let written = 0;
  let decided = false;
  const onAbort = () => stream.destroy();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    // Leaving the loop early (break or throw) destroys the stream.
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (written + chunk.length > target.size) throw new FlowsyncError('CHECKSUM_MISMATCH', `${target.path}: the object is longer than the manifest says (${target.size} B). It changed during the pull; re-run it.`);
      hash.update(chunk);
      writeAt(handle.fd, chunk, written);
      written += chunk.length;
      ctx.progress.advance(chunk.length);
      const behind = copy?.write(chunk);
      if (behind) await behind;
      if (!decided && written >= partSize) {
        decided = true;
        const rate = written / Math.max(1e-3, (performance.now() - started) / 1000);
        if (rate < minRate && target.size - written > partSize) break;
      }
    }
  } catch (err) {
    ctx.progress.rewind(written);
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  return written;
}

/** Bytes [from, size) as parallel ranges of partSize, hashed in order after what came before. */
async function downloadRanges(
  ctx: TransferContext,
  key: string,
  handle: fsp.FileHandle,
  target: DownloadTarget,
  partSize: number,
  from: number,
  hash: Hash,
  signal: AbortSignal,
): Promise<number> {
  const count = Math.ceil((target.size - from) / partSize);
  const done = new Set<number>();
  let nextToHash = 0;
  let hashing = Promise.resolve();
  const readBack = Buffer.allocUnsafe(Math.min(HASH_READ_CHUNK, partSize));
  // Hash finished ranges in order, reading them back from the file (the page cache).
  const hashReady = async () => {
    while (done.has(nextToHash)) {
      const start = from + nextToHash * partSize;
      const end = Math.min(target.size, start + partSize);
      for (let pos = start; pos < end; ) {
        const { bytesRead } = await handle.read(readBack, 0, Math.min(readBack.length, end - pos), pos);
        if (bytesRead === 0) throw new FlowsyncError('CHECKSUM_MISMATCH', `${target.path}: range ${start}-${end} is short on disk; re-run the pull.`);
        hash.update(readBack.subarray(0, bytesRead));
        pos += bytesRead;
      }
      nextToHash++;
    }
  };
  let received = 0;
  try {
    await runPool(
      Array.from({ length: count }, (_, i) => i),
      ctx.partConcurrency,
      async (i, partSignal) => {
        const start = from + i * partSize;
        const end = Math.min(target.size, start + partSize);
        let got = 0;
        // No retry loop here: the retry decorator retries the read and resumes a cut body from
        // the byte it stopped at, so every byte reported below is a byte kept.
        try {
          const stream = await ctx.backend.read(key, { signal: partSignal, range: [start, end], ...(ctx.onRetry ? { onRetry: ctx.onRetry } : {}) });
          await streamTo(stream, handle, start, partSignal, (chunk) => {
            got += chunk.length;
            if (got > end - start) throw new FlowsyncError('CHECKSUM_MISMATCH', `${target.path}: range ${start}-${end} returned too many bytes. The object changed during the pull; re-run it.`);
            ctx.progress.advance(chunk.length);
          });
        } catch (err) {
          ctx.progress.rewind(got); // this range failed for good: take back what it reported
          throw err;
        }
        if (got !== end - start) {
          throw new FlowsyncError('CHECKSUM_MISMATCH', `${target.path}: range ${start}-${end} returned ${got} bytes. The object changed during the pull; re-run it.`);
        }
        received += got;
        done.add(i);
        hashing = hashing.then(hashReady);
        await hashing;
      },
      signal,
    );
    await hashing;
  } catch (err) {
    ctx.progress.rewind(received);
    received = 0;
    throw err;
  }
  return received;
}
