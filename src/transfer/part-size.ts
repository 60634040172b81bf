import type { Backend } from '../backends/types.js';

/**
 * part size = max(minimum, preferred, ceil(size / maxParts)), rounded up to the service's
 * granularity, so even a 100 GB file fits in the part count the service allows.
 */
export function choosePartSize(size: number, backend: Backend, preferred?: number): number {
  const limits = backend.limits.multipart ?? { minPartSize: 1, maxPartSize: Number.MAX_SAFE_INTEGER, maxParts: 10_000 };
  const granule = limits.partMultiple ?? 1;
  let part = Math.max(limits.minPartSize, preferred ?? backend.tuning.partSize, Math.ceil(size / limits.maxParts));
  part = Math.ceil(part / granule) * granule;
  return Math.min(part, limits.maxPartSize);
}

/** Whether a file of this size goes up in parts. */
export function usesMultipart(size: number, backend: Backend, partSize?: number): boolean {
  if (!backend.features.multipart || !backend.openMultipart) return false;
  const threshold = Math.max(backend.tuning.multipartThreshold, partSize ?? 0);
  return size > threshold;
}
