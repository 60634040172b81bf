/**
 * `--part-size` is checked against the store before anything moves: below the store's minimum
 * (S3: 5 MiB) a multipart upload fails half-way; below flowsync's floor a store that takes tiny
 * parts (Azure, a local folder) turns a 21 MB file into 21,000 requests (138 s measured on Azure).
 */
import type { Backend } from '../backends/types.js';
import { FlowsyncError } from '../errors.js';

/** No part smaller than this, whatever the store allows: below it, requests cost more than bytes. */
export const MIN_PART_SIZE = 1024 * 1024;

const STORE: Record<string, string> = { s3: 'S3', azure: 'Azure Blob Storage', gcs: 'Google Cloud Storage', local: 'a local folder', memory: 'the memory store' };

const mib = (n: number): string => (n % (1024 * 1024) === 0 ? `${n / (1024 * 1024)}MiB` : n % 1024 === 0 ? `${n / 1024}KiB` : `${n}`);

export function checkPartSize(size: number, text: string, backend: Backend): void {
  const limits = backend.limits.multipart;
  const storeMin = limits?.minPartSize ?? 1;
  const min = Math.max(storeMin, MIN_PART_SIZE);
  const store = STORE[backend.name] ?? backend.name;
  if (size < min) {
    const why = storeMin >= MIN_PART_SIZE ? `the smallest part ${store} accepts is ${mib(storeMin)}` : `flowsync's smallest part is ${mib(MIN_PART_SIZE)} (${store} would take smaller ones, one request each)`;
    throw new FlowsyncError('USAGE', `--part-size ${text} is too small: ${why}. Give --part-size ${mib(min)} or more, or leave it out (default ${mib(backend.tuning.partSize)}).`);
  }
  if (limits && size > limits.maxPartSize) {
    throw new FlowsyncError('USAGE', `--part-size ${text} is too big: the largest part ${store} accepts is ${mib(limits.maxPartSize)}. Give a smaller size, or leave it out (default ${mib(backend.tuning.partSize)}).`);
  }
}
