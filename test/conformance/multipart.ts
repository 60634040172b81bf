/** Driving a backend's multipart upload from the conformance suite. */
import pLimit from 'p-limit';
import { expect } from 'vitest';
import type { Backend, MultipartWriter, ObjectInfo, WriteInfo } from '../../src/backends/types.js';
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
  const min = backend.multipartLimits?.minPartSize ?? 1;
  return choosePartSize(6_000_000, backend, min <= 2 * MiB ? 2 * MiB : 5 * MiB);
}

export function openWriter(backend: Backend, key: string, info: WriteInfo & { partSize: number }): Promise<MultipartWriter> {
  if (!backend.openMultipart) expect.fail(`backend ${backend.name} says features.multipart but has no openMultipart()`);
  return backend.openMultipart(key, info);
}

export function partCount(size: number, partSize: number): number {
  return Math.max(1, Math.ceil(size / partSize));
}

export function partOf(data: Uint8Array, partSize: number, partNumber: number): Uint8Array {
  return data.subarray((partNumber - 1) * partSize, partNumber * partSize);
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
  info: WriteInfo,
  plan: PartsPlan,
): Promise<{ object: ObjectInfo; parts: number }> {
  const writer = await openWriter(backend, key, { ...info, partSize: plan.partSize });
  try {
    // The writer may round the part size; slice by what it says, as the engine does.
    const parts = partCount(data.length, writer.partSize);
    const order = plan.order?.(parts) ?? Array.from({ length: parts }, (_, i) => i + 1);
    expect([...order].sort((a, b) => a - b), 'part order names every part once').toEqual(Array.from({ length: parts }, (_, i) => i + 1));
    const sequential = backend.multipartLimits?.sequential === true;
    const limit = pLimit(sequential ? 1 : (plan.concurrency ?? 1));
    await Promise.all(order.map((n) => limit(() => writer.writePart(n, partOf(data, writer.partSize, n)))));
    return { object: await writer.complete(), parts };
  } catch (err) {
    await writer.abort().catch(() => {});
    throw err;
  }
}
