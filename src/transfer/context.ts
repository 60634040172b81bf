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
}

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
