/**
 * The worker pool: at most `concurrency` tasks in flight, pulling items from one shared source.
 * The first failure stops new work, aborts the tasks in flight through their signal, waits for
 * them to settle, then is thrown, so a caller never returns while a transfer is still writing.
 *
 * A source given as a function receives the pool's own signal: a generator that waits (for
 * memory, say) is woken by the abort instead of waiting forever for a task that already failed.
 * An item taken from the source is always handed to `task`, even after a failure, so the task's
 * own cleanup (releasing memory, removing a temp file) runs; with an aborted signal it fails fast.
 */
import { setMaxListeners } from 'node:events';
import { abortError } from '../errors.js';

export type PoolSource<T> = Iterable<T> | AsyncIterable<T> | ((signal: AbortSignal) => AsyncIterable<T>);

export async function runPool<T>(
  source: PoolSource<T>,
  concurrency: number,
  task: (item: T, signal: AbortSignal) => Promise<void>,
  outer?: AbortSignal,
): Promise<void> {
  if (outer?.aborted) throw abortError(outer);
  const controller = new AbortController();
  // Every task in flight listens on this signal (often several times: retry sleep, fs, HTTP).
  setMaxListeners(0, controller.signal);
  const onOuterAbort = () => controller.abort(outer?.reason);
  outer?.addEventListener('abort', onOuterAbort, { once: true });

  const items = typeof source === 'function' ? source(controller.signal) : source;
  const iterator = Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : (items as Iterable<T>)[Symbol.iterator]();
  let failure: { error: unknown } | null = null;
  const fail = (error: unknown) => {
    if (!failure) failure = { error };
    controller.abort(error);
  };
  // Async generators queue concurrent next() calls, and a sync iterator is only touched between
  // awaits, so workers can share the iterator without a lock.
  const worker = async (): Promise<void> => {
    while (!failure && !controller.signal.aborted) {
      let next: IteratorResult<T>;
      try {
        next = await iterator.next();
      } catch (error) {
        return fail(error);
      }
      if (next.done) return;
      try {
        await task(next.value, controller.signal);
      } catch (error) {
        return fail(error);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  } finally {
    outer?.removeEventListener('abort', onOuterAbort);
    await iterator.return?.();
  }
  if (outer?.aborted) throw abortError(outer);
  if (failure) throw (failure as { error: unknown }).error;
}
