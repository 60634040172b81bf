/** Driving a backend's multipart upload from the conformance suite, the way the engine does. */
import pLimit from 'p-limit';
import { expect } from 'vitest';
import type { Backend, MultipartInfo, MultipartWriter, ObjectInfo, Op, PartInfo, WriteInfo } from '../../src/backends/types.js';
import { digestScope, transportHasher } from '../../src/transfer/digest.js';
import { choosePartSize, usesMultipart } from '../../src/transfer/part-size.js';
import { MiB } from './data.js';

/** The part size the engine picks for an object of `size` bytes (from the backend's tuning and limits). */
export function enginePartSize(backend: Backend, size: number): number {
  return choosePartSize(size, backend);
}

/** Whether the engine itself would upload an object of `size` bytes in parts. */
export function engineUsesMultipart(backend: Backend, size: number): boolean {
  return usesMultipart(size, backend);
}

/**
 * A small part size for forcing multipart on a few-MB object: 2 MiB (three parts of a 6 MB
 * object) when the service allows parts that small, else max(minimum, 5 MiB), the S3 floor;
 * rounded as the engine rounds (e.g. to GCS's 256 KiB granule).
 */
export function smallPartSize(backend: Backend): number {
  const min = backend.limits.multipart?.minPartSize ?? 1;
  return choosePartSize(6_000_000, backend, min <= 2 * MiB ? 2 * MiB : 5 * MiB);
}

export function openWriter(backend: Backend, key: string, info: MultipartInfo, o?: Op): Promise<MultipartWriter> {
  if (!backend.openMultipart) expect.fail(`backend ${backend.name} says features.multipart but has no openMultipart()`);
  return backend.openMultipart(key, info, o);
}

export function partCount(size: number, partSize: number): number {
  return Math.max(1, Math.ceil(size / partSize));
}

export function partOf(data: Uint8Array, partSize: number, partNumber: number): Uint8Array {
  return data.subarray((partNumber - 1) * partSize, partNumber * partSize);
}

/** The PartInfo the engine hands writePart: the part's transport digest when the backend wants it per part. */
export function partInfo(backend: Backend, part: Uint8Array): PartInfo {
  if (digestScope(backend) !== 'part') return {};
  const digest = transportHasher(backend.features.transportDigest)?.update(part).digest();
  return digest ? { digest } : {};
}

/** The CompleteInfo the engine hands complete(): the size, and the object's digest when the backend wants it whole. */
export function completeInfo(backend: Backend, data: Uint8Array): { size: number; digest?: Uint8Array } {
  if (digestScope(backend) !== 'object') return { size: data.length };
  const digest = transportHasher(backend.features.transportDigest)?.update(data).digest();
  return { size: data.length, ...(digest ? { digest } : {}) };
}

export interface PartsPlan {
  partSize: number;
  /** Order to write part numbers in, given the part count; default ascending. */
  order?: (parts: number) => number[];
  /** Parts in flight at once (ignored for sequential backends). Default 1. */
  concurrency?: number;
}

/** Uploads `data` in parts as the engine would, and returns the completed object and part count. */
export async function uploadInParts(
  backend: Backend,
  key: string,
  data: Uint8Array,
  info: Omit<WriteInfo, 'digest'>,
  plan: PartsPlan,
): Promise<{ object: ObjectInfo; parts: number }> {
  const { partSize } = plan;
  const writer = await openWriter(backend, key, { ...info, partSize });
  try {
    const parts = partCount(data.length, partSize);
    const order = plan.order?.(parts) ?? Array.from({ length: parts }, (_, i) => i + 1);
    expect([...order].sort((a, b) => a - b), 'part order names every part once').toEqual(Array.from({ length: parts }, (_, i) => i + 1));
    const sequential = backend.limits.multipart?.sequential === true;
    const limit = pLimit(sequential ? 1 : (plan.concurrency ?? 1));
    await Promise.all(
      order.map((n) =>
        limit(() => {
          const part = partOf(data, partSize, n);
          return writer.writePart(n, part, partInfo(backend, part));
        }),
      ),
    );
    return { object: await writer.complete(completeInfo(backend, data)), parts };
  } catch (err) {
    await writer.abort().catch(() => {});
    throw err;
  }
}
