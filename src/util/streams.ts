/** Small stream helpers shared by the engine and backends. */
import type { Readable } from 'node:stream';
import { abortError } from '../errors.js';

/**
 * Read a whole stream into one Buffer. A Readable is read through its events: `for await`
 * builds an async iterator, an end-of-stream watcher and a promise per chunk for every object,
 * which a pull of 100,000 small files turned into most of the garbage its full collections
 * then had to sweep.
 */
export async function collect(stream: Readable | AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<Buffer> {
  if (signal?.aborted) {
    // Without an error: no one listens for one once this returns.
    (stream as Readable).destroy?.();
    throw abortError(signal);
  }
  const chunks = isReadable(stream) ? await readableChunks(stream, signal) : await iterableChunks(stream, signal);
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

const asBuffer = (chunk: Uint8Array): Buffer => (Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));

function isReadable(s: Readable | AsyncIterable<Uint8Array>): s is Readable {
  return typeof (s as Readable).on === 'function' && typeof (s as Readable).destroy === 'function';
}

function readableChunks(stream: Readable, signal?: AbortSignal): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    if (stream.destroyed) return reject(stream.errored ?? new Error('The stream was closed before it was read.'));
    const chunks: Buffer[] = [];
    const onData = (chunk: Uint8Array) => void chunks.push(asBuffer(chunk));
    const settle = (err: unknown) => {
      stream.off('data', onData).off('end', onEnd).off('error', settle).off('close', onClose);
      signal?.removeEventListener('abort', onAbort);
      if (err === undefined) resolve(chunks);
      else reject(err);
    };
    const onEnd = () => settle(undefined);
    // Closed before its end without an error of its own: destroyed by someone else.
    const onClose = () => settle(stream.errored ?? new Error('The stream closed before its end.'));
    const onAbort = () => {
      settle(abortError(signal));
      stream.destroy();
    };
    stream.on('data', onData).once('end', onEnd).once('error', settle).once('close', onClose);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

async function iterableChunks(stream: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    if (signal?.aborted) throw abortError(signal);
    chunks.push(asBuffer(chunk));
  }
  return chunks;
}
