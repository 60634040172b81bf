/** Delete object keys in the store's batches, each batch retried; progress counts keys. */
import type { Backend } from '../backends/types.js';
import { withRetry } from '../transfer/retry.js';
import type { Progress } from '../util/progress.js';

/** DeleteObjects takes 1,000 keys a request; other stores batch less, none more. */
const DELETE_BATCH = 1000;

export async function deleteKeys(backend: Pick<Backend, 'delete'>, keys: readonly string[], progress: Progress, signal?: AbortSignal): Promise<void> {
  progress.begin('delete', 0, keys.length);
  for (let i = 0; i < keys.length; i += DELETE_BATCH) {
    const batch = keys.slice(i, i + DELETE_BATCH);
    await withRetry(() => backend.delete(batch, { signal }), { signal });
    progress.advance(0, batch.length);
  }
  progress.end();
}
