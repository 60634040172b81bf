import type { Backend } from '../backends/types.js';
import { ByteBudget } from './budget.js';
import type { Progress } from '../util/progress.js';

/** What every transfer of one operation shares. */
export interface TransferContext {
  backend: Backend;
  budget: ByteBudget;
  progress: Progress;
  /** Parts of one file in flight at once. */
  partConcurrency: number;
  /** User's part size, if given. */
  partSize?: number;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /**
   * A large download stays one stream when that stream reaches this rate (bytes per second) over
   * its first part; below it the rest comes as parallel ranges. Default ONE_STREAM_RATE.
   */
  oneStreamRate?: number;
}

/**
 * 100 MB/s: a server on loopback or the same host streams one object faster than this (s3rver
 * 130–170 MB/s here, even on a loaded machine), where parallel ranges only add requests and a
 * read-back; S3 caps one connection near 90 MB/s and a WAN's window ÷ round trip caps it lower,
 * where ranges pay off.
 */
export const ONE_STREAM_RATE = 100e6;

/** Memory ceiling for buffers held by transfers: parts, small files read whole. */
export const DEFAULT_MEMORY_BUDGET = 64 * 1024 * 1024;

/** The context of one operation: a fresh byte budget, parts per file bounded by the concurrency, retries told to `log`. */
export function transferContext(
  backend: Backend,
  progress: Progress,
  o: { concurrency: number; partSize?: number; log?: { info(message: string): void } },
): TransferContext {
  return {
    backend,
    budget: new ByteBudget(DEFAULT_MEMORY_BUDGET),
    progress,
    partConcurrency: Math.min(o.concurrency, 8),
    ...(o.partSize ? { partSize: o.partSize } : {}),
    onRetry: (err, attempt) => o.log?.info(`retrying (attempt ${attempt + 1}): ${(err as Error).message}`),
  };
}
