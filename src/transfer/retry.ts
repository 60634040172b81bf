/**
 * Retry with jittered exponential backoff ("full jitter"), only for errors worth retrying:
 * FlowsyncError codes marked retryable (5xx, throttling, corrupt transfer) and raw network
 * resets/timeouts. Auth, not-found and precondition errors fail at once.
 */
import { abortError, isFlowsyncError } from '../errors.js';

export interface RetryOptions {
  signal?: AbortSignal;
  /** Total attempts, the first included. */
  attempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

const NETWORK_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'ERR_STREAM_PREMATURE_CLOSE']);

export function isRetryable(err: unknown): boolean {
  if (isFlowsyncError(err)) return err.retryable;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && NETWORK_CODES.has(code);
}

export async function withRetry<T>(fn: (attempt: number) => Promise<T>, o: RetryOptions = {}): Promise<T> {
  const attempts = o.attempts ?? 5;
  const base = o.baseDelayMs ?? 200;
  const max = o.maxDelayMs ?? 10_000;
  for (let attempt = 1; ; attempt++) {
    if (o.signal?.aborted) throw abortError(o.signal);
    try {
      return await fn(attempt);
    } catch (err) {
      if (o.signal?.aborted) throw abortError(o.signal);
      if (attempt >= attempts || !isRetryable(err)) throw err;
      // Throttling asks for more patience than a dropped connection.
      const scale = isFlowsyncError(err, 'THROTTLED') ? 4 : 1;
      const delay = Math.random() * Math.min(max, base * scale * 2 ** (attempt - 1));
      o.onRetry?.(err, attempt, delay);
      await sleep(delay, o.signal);
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
