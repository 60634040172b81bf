import type { Backend } from '../backends/types.js';
import type { ByteBudget } from './budget.js';
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
