/**
 * The engine's one stream → parts helper (rclone's ChunkWriter, lib-storage's chunk generator):
 * a Readable of unknown length is cut into numbered parts of the part size, each buffer taken
 * from the byte budget, hashed as it is cut (content sha256 + the backend's transport digest),
 * and written with writePart (parts in flight at once up to `partConcurrency`, or one at a time
 * when the backend says `sequential`). A body that fits in one part is one write() instead.
 * For packs and image layers as much as for files: callers hand over a stream and get the
 * object's info and its sha256.
 *
 *   const { info, sha256 } = await uploadStream(ctx, key, readable, { contentType }, signal);
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { MultipartWriter, ObjectInfo, WriteInfo } from '../backends/types.js';
import type { TransferContext } from './context.js';
import { digestOf, digestScope, transportHasher } from './digest.js';
import { choosePartSize } from './part-size.js';
import { runPool } from '../util/pool.js';

export interface StreamUploadResult {
  info: ObjectInfo;
  sha256: string;
  size: number;
}

interface Part {
  n: number;
  data: Buffer;
  digest?: Uint8Array;
  release: () => void;
}

export async function uploadStream(
  ctx: TransferContext,
  key: string,
  body: Readable | AsyncIterable<Uint8Array>,
  extra: Pick<WriteInfo, 'contentType' | 'metadata' | 'ifMatch' | 'ifNoneMatch'> = {},
  signal: AbortSignal = new AbortController().signal,
): Promise<StreamUploadResult> {
  const { backend } = ctx;
  // Unknown length: the preferred part size (at least the service minimum).
  const partSize = choosePartSize(0, backend, ctx.partSize);
  const op = { signal, ...(ctx.onRetry ? { onRetry: ctx.onRetry } : {}) };
  const sha = createHash('sha256');
  const kind = backend.features.transportDigest;
  const perPart = digestScope(backend) === 'part';
  const whole = perPart ? null : transportHasher(kind);
  const source = (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  let carry: Buffer | null = null;
  let ended = false;
  let total = 0;

  /** Fill one part buffer from the stream; null when the stream has nothing more. */
  async function nextPart(n: number, poolSignal: AbortSignal): Promise<Part | null> {
    if (ended && !carry) return null;
    const { data, release } = await ctx.budget.buffer(partSize, poolSignal);
    let filled = 0;
    try {
      while (filled < partSize) {
        if (!carry) {
          const r = ended ? { done: true as const, value: undefined } : await source.next();
          if (r.done) {
            ended = true;
            break;
          }
          carry = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
        }
        const take = Math.min(partSize - filled, carry.length);
        carry.copy(data, filled, 0, take);
        filled += take;
        carry = take === carry.length ? null : carry.subarray(take);
      }
    } catch (err) {
      release();
      throw err;
    }
    if (filled === 0) {
      release();
      return null;
    }
    const bytes = data.subarray(0, filled);
    sha.update(bytes);
    whole?.update(bytes);
    total += filled;
    const digest = perPart ? transportHasher(kind)?.update(bytes).digest() : undefined;
    return { n, data: bytes, release, ...(digest ? { digest } : {}) };
  }

  const first = await nextPart(1, signal);
  // More to come? Peek one chunk so a body of exactly one part still goes as one write.
  if (!carry && !ended) {
    const r = await source.next();
    if (r.done) ended = true;
    else carry = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
  }
  if (!first || ended && !carry || !backend.openMultipart || !backend.features.multipart) {
    if (!ended || carry) {
      first?.release();
      throw new Error(`uploadStream: ${key} needs more than one part, and the ${backend.name} backend has no multipart upload.`);
    }
    const data = first?.data ?? Buffer.alloc(0);
    try {
      const sha256 = sha.digest('hex');
      const digest = digestOf(backend, data, sha256);
      const info = await backend.write(key, data, { ...extra, size: data.length, sha256, ...(digest ? { digest } : {}) }, op);
      return { info, sha256, size: data.length };
    } finally {
      first?.release();
    }
  }

  let writer: MultipartWriter | null = await backend.openMultipart(key, { ...extra, partSize }, op);
  try {
    const w = writer;
    async function* parts(poolSignal: AbortSignal): AsyncGenerator<Part> {
      yield first!;
      for (let n = 2; ; n++) {
        const part = await nextPart(n, poolSignal);
        if (!part) return;
        yield part;
      }
    }
    const sequential = backend.limits.multipart?.sequential ?? false;
    await runPool(
      parts,
      sequential ? 1 : ctx.partConcurrency,
      async (part, partSignal) => {
        try {
          await w.writePart(part.n, part.data, part.digest ? { digest: part.digest } : {}, { ...op, signal: partSignal });
          ctx.progress.advance(part.data.length);
        } finally {
          part.release();
        }
      },
      signal,
    );
    const info = await w.complete({ size: total, ...(whole ? { digest: whole.digest() } : {}) }, op);
    writer = null;
    return { info, sha256: sha.digest('hex'), size: total };
  } finally {
    if (writer) await writer.abort().catch(() => {});
  }
}
