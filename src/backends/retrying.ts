/**
 * The one retry decorator (restic's RetryBackend): `withRetries(backend)` wraps a backend once,
 * where the remote is opened (open.ts), and every call through it gets up to `attempts` tries
 * with full-jitter exponential backoff, on retryable errors only (FlowsyncError.retryable:
 * TRANSIENT, THROTTLED, CHECKSUM_MISMATCH, as each backend's error mapping and the network
 * table in util/net-errors.ts classify them). SDK retries are off underneath, and no call site
 * retries by hand, so attempts never multiply.
 *
 * A read that fails in the middle of its body is resumed from the byte it stopped at (a ranged
 * read of the rest), counting against the same attempts: the consumer sees one stream and never
 * gets a byte twice, so progress needs no rewind for it. Multipart writers are wrapped too
 * (writePart / complete each retried; abort is best-effort and not).
 */
import { PassThrough, type Readable } from 'node:stream';
import { abortError, isFlowsyncError } from '../errors.js';
import { classifyNetworkError } from '../util/net-errors.js';
import type { Backend, MultipartWriter, Op, ReadOptions, RetryListener } from './types.js';

export interface RetryOptions {
  signal?: AbortSignal | undefined;
  /** Total attempts, the first included (default 5). */
  attempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  onRetry?: RetryListener | undefined;
  /** Narrows what is retried for one call (default: isRetryable). */
  retryable?: ((err: unknown) => boolean) | undefined;
}

export const DEFAULT_ATTEMPTS = 5;

export function isRetryable(err: unknown): boolean {
  if (isFlowsyncError(err)) return err.retryable;
  return classifyNetworkError(err)?.retryable ?? false;
}

/** The wait before attempt `attempt + 1`: full jitter, throttling waits four times longer. */
export function backoffDelay(err: unknown, attempt: number, o: Pick<RetryOptions, 'baseDelayMs' | 'maxDelayMs'> = {}): number {
  const scale = isFlowsyncError(err, 'THROTTLED') ? 4 : 1;
  return Math.random() * Math.min(o.maxDelayMs ?? 10_000, (o.baseDelayMs ?? 200) * scale * 2 ** (attempt - 1));
}

export async function withRetry<T>(fn: (attempt: number) => Promise<T>, o: RetryOptions = {}): Promise<T> {
  const attempts = o.attempts ?? DEFAULT_ATTEMPTS;
  for (let attempt = 1; ; attempt++) {
    if (o.signal?.aborted) throw abortError(o.signal);
    try {
      return await fn(attempt);
    } catch (err) {
      if (o.signal?.aborted) throw abortError(o.signal);
      if (attempt >= attempts || !(o.retryable ?? isRetryable)(err)) throw err;
      const delay = backoffDelay(err, attempt, o);
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

const RETRYING = Symbol('flowsync.retrying');

/** Wrap `backend` so each call is retried; wrapping an already wrapped backend returns it as is. */
export function withRetries(backend: Backend, defaults: Omit<RetryOptions, 'signal'> = {}): Backend {
  if ((backend as { [RETRYING]?: true })[RETRYING]) return backend;
  const policy = (o?: Op): RetryOptions => ({ ...defaults, signal: o?.signal, onRetry: o?.onRetry ?? defaults.onRetry });
  const retry = <T>(o: Op | undefined, fn: () => Promise<T>) => withRetry(fn, policy(o));

  const objectDigest = backend.limits.multipart?.digestScope === 'object';
  const wrapWriter = (w: MultipartWriter): MultipartWriter => ({
    writePart: (n, data, info, o) => retry(o, () => w.writePart(n, data, info, o)),
    // A whole-object digest refused at complete() (GCS) condemns the parts already sent: the
    // service drops the session, so repeating complete() cannot help; the mismatch is final here.
    complete: (info, o) =>
      withRetry(() => w.complete(info, o), {
        ...policy(o),
        retryable: (err) => isRetryable(err) && !(objectDigest && isFlowsyncError(err, 'CHECKSUM_MISMATCH')),
      }),
    abort: () => w.abort(),
  });

  const wrapped: Backend & { [RETRYING]: true } = {
    [RETRYING]: true,
    name: backend.name,
    features: backend.features,
    get limits() {
      return backend.limits; // read through: a backend may lower deleteBatch once it knows more
    },
    tuning: backend.tuning,
    stat: (key, o) => retry(o, () => backend.stat(key, o)),
    list: (prefix, o) => listWithRetry(backend, prefix, o, policy(o)),
    read: (key, o) => resumableRead(backend, key, o, policy(o)),
    write: (key, body, info, o) => retry(o, () => backend.write(key, body, info, o)),
    delete: (keys, o) => retry(o, () => backend.delete(keys, o)),
    ...(backend.openMultipart ? { openMultipart: async (key, info, o) => wrapWriter(await retry(o, () => backend.openMultipart!(key, info, o))) } : {}),
    ...(backend.close ? { close: () => backend.close!() } : {}),
  };
  return wrapped;
}

/**
 * A listing that fails between pages starts over and skips the keys it already yielded (list
 * order is the store's, stable between two listings of the same prefix).
 */
async function* listWithRetry(backend: Backend, prefix: string, o: Op | undefined, p: RetryOptions) {
  const seen = new Set<string>();
  const attempts = p.attempts ?? DEFAULT_ATTEMPTS;
  for (let attempt = 1; ; attempt++) {
    try {
      for await (const info of backend.list(prefix, o)) {
        if (seen.has(info.key)) continue;
        seen.add(info.key);
        yield info;
      }
      return;
    } catch (err) {
      if (p.signal?.aborted) throw abortError(p.signal);
      if (attempt >= attempts || !isRetryable(err)) throw err;
      const delay = backoffDelay(err, attempt, p);
      p.onRetry?.(err, attempt, delay);
      await sleep(delay, p.signal);
    }
  }
}

/**
 * read() with resume: the first response is retried like any call; if its body then fails with a
 * retryable error, the rest is asked for as a range from the first byte not yet delivered. One
 * attempt budget covers the opening and every resume; a resume that delivered bytes earns the
 * budget back (the connection works, it just broke once), so a long flaky read still finishes.
 */
async function resumableRead(backend: Backend, key: string, o: ReadOptions | undefined, p: RetryOptions): Promise<Readable> {
  const start = o?.range?.[0] ?? 0;
  const end = o?.range?.[1];
  let failures = 0;
  const attempts = p.attempts ?? DEFAULT_ATTEMPTS;
  const open = (from: number) => {
    // A whole-object read resumes with an open-ended range (clamped to the object's end).
    const range: [number, number] | undefined = from === 0 && o?.range === undefined ? undefined : [from, end ?? Number.MAX_SAFE_INTEGER];
    return backend.read(key, { ...o, ...(range ? { range } : {}) });
  };
  const first = await withRetry(() => open(start), p);
  if (!backend.features.rangeRead) return first;

  // The body is piped (no per-chunk await or promise): the only extra cost over handing the
  // SDK stream out is one buffer hand-off, and a 'data' counter tells where to resume from.
  // Object mode hands each chunk on as it came: a byte stream would give a reader several
  // buffered chunks copied into one (a copy of every byte, and garbage at 1 GiB).
  const out = new PassThrough({ objectMode: true, highWaterMark: 16 });
  let delivered = 0;
  let current: Readable = first;
  out.once('close', () => current.destroy());

  const resume = async (err: unknown, progressed: boolean): Promise<void> => {
    if (p.signal?.aborted) throw abortError(p.signal);
    if (progressed) failures = 0;
    if (++failures >= attempts || !isRetryable(err)) throw err;
    const delay = backoffDelay(err, failures, p);
    p.onRetry?.(err, failures, delay);
    await sleep(delay, p.signal);
    const next = await withRetry(() => open(start + delivered), { ...p, attempts: Math.max(1, attempts - failures) });
    if (out.destroyed) return void next.destroy();
    attach(next);
  };

  const attach = (body: Readable): void => {
    current = body;
    const before = delivered;
    const onData = (chunk: Buffer) => void (delivered += chunk.length);
    const detach = () => {
      body.off('data', onData);
      body.unpipe(out);
    };
    body.pipe(out, { end: false });
    body.on('data', onData);
    body.once('end', () => {
      detach();
      out.end();
    });
    body.once('error', (err) => {
      detach();
      body.destroy();
      if (out.destroyed) return;
      resume(err, delivered > before).catch((e: unknown) => out.destroy(e as Error));
    });
  };
  attach(first);
  return out;
}
