/**
 * Deletes, batched and parallel: keys cut into batches of the backend's `limits.deleteBatch`,
 * the batches run `concurrency` at a time on the engine's pool. Backends do no pooling.
 */
import type { Backend, Op } from '../backends/types.js';
import { runPool } from '../util/pool.js';

export interface DeleteOptions extends Op {
  /** Batches in flight at once (default 8). */
  concurrency?: number;
  /** Told after each finished batch. */
  onBatch?: (keys: string[]) => void;
}

export async function deleteKeys(backend: Backend, keys: string[], o: DeleteOptions = {}): Promise<void> {
  const unique = [...new Set(keys)];
  if (unique.length === 0) return;
  function* batches(): Generator<string[]> {
    // Read at each batch: a backend may lower its batch size once it learns more (Azure without blob batch).
    for (let i = 0; i < unique.length; ) {
      const size = Math.max(1, backend.limits.deleteBatch);
      yield unique.slice(i, i + size);
      i += size;
    }
  }
  await runPool(
    batches(),
    o.concurrency ?? 8,
    async (batch, signal) => {
      await backend.delete(batch, { signal, ...(o.onRetry ? { onRetry: o.onRetry } : {}) });
      o.onBatch?.(batch);
    },
    o.signal,
  );
}
