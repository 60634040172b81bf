/**
 * Download one object into a file (the caller's temporary file). Small objects stream straight
 * to disk; big ones, where the backend can read ranges, come down as parallel ranged reads
 * written at their offsets. Either way the bytes are hashed in order and must match the expected
 * sha256 (and size) or the download fails with CHECKSUM_MISMATCH, which callers retry.
 */
import { createHash, type Hash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { Readable } from 'node:stream';
import { FlowsyncError, fsError } from '../errors.js';
import type { TransferContext } from './context.js';
import { choosePartSize } from './part-size.js';
import { runPool } from './pool.js';
import { withRetry } from './retry.js';
import { collect } from './streams.js';

export interface DownloadTarget {
  path: string;
  size: number;
  /** Expected sha256; absent for objects without a manifest entry (pulled from a Prefect push). */
  sha256?: string;
}

/** Objects above this size are fetched as parallel ranges (when the backend supports ranges). */
export function usesRangedDownload(size: number, ctx: TransferContext): boolean {
  return ctx.backend.features.rangeRead && size > ctx.backend.tuning.multipartThreshold;
}

/** Returns the sha256 (hex) of the bytes written. */
export async function downloadFile(ctx: TransferContext, key: string, file: string, target: DownloadTarget, signal: AbortSignal): Promise<string> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(file, 'w');
  } catch (err) {
    throw fsError(err, 'write', file);
  }
  const hash = createHash('sha256');
  let received = 0;
  try {
    if (usesRangedDownload(target.size, ctx)) {
      received = await downloadRanges(ctx, key, handle, target, hash, signal);
    } else {
      const stream = await ctx.backend.read(key, { signal });
      received = await streamToFile(stream, handle, hash, (n) => ctx.progress.advance(n), signal);
    }
  } catch (err) {
    ctx.progress.rewind(received);
    throw err;
  } finally {
    await handle.close().catch(() => {});
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

async function streamToFile(stream: Readable, handle: fsp.FileHandle, hash: Hash, onBytes: (n: number) => void, signal: AbortSignal): Promise<number> {
  let position = 0;
  const onAbort = () => stream.destroy();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      hash.update(chunk);
      await handle.write(chunk, 0, chunk.length, position);
      position += chunk.length;
      onBytes(chunk.length);
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  return position;
}

async function downloadRanges(ctx: TransferContext, key: string, handle: fsp.FileHandle, target: DownloadTarget, hash: Hash, signal: AbortSignal): Promise<number> {
  const partSize = choosePartSize(target.size, ctx.backend, ctx.partSize);
  const count = Math.ceil(target.size / partSize);
  // Parts finish out of order; they are hashed in order, holding early arrivals until their turn.
  const held = new Map<number, { data: Buffer; release: () => void }>();
  let nextToHash = 0;
  let received = 0;
  async function* ranges(poolSignal: AbortSignal) {
    for (let i = 0; i < count; i++) {
      const start = i * partSize;
      const end = Math.min(target.size, start + partSize);
      yield { i, start, end, release: await ctx.budget.acquire(end - start, poolSignal) };
    }
  }
  try {
    await runPool(
      ranges,
      ctx.partConcurrency,
      async ({ i, start, end, release }, partSignal) => {
        let data: Buffer;
        try {
          data = await withRetry(async () => collect(await ctx.backend.read(key, { signal: partSignal, range: [start, end] }), partSignal), {
            signal: partSignal,
            onRetry: ctx.onRetry,
          });
          if (data.length !== end - start) {
            throw new FlowsyncError('CHECKSUM_MISMATCH', `${target.path}: range ${start}-${end} returned ${data.length} bytes. The object changed during the pull; re-run it.`);
          }
          await handle.write(data, 0, data.length, start);
        } catch (err) {
          release();
          throw err;
        }
        received += data.length;
        ctx.progress.advance(data.length);
        held.set(i, { data, release });
        for (let h = held.get(nextToHash); h; h = held.get(nextToHash)) {
          hash.update(h.data);
          h.release();
          held.delete(nextToHash++);
        }
      },
      signal,
    );
  } catch (err) {
    for (const h of held.values()) h.release();
    ctx.progress.rewind(received);
    received = 0;
    throw err;
  }
  return received;
}
