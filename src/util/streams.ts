/** Small stream helpers shared by the engine and backends. */
import type { Readable } from 'node:stream';
import { abortError } from '../errors.js';

/** Read a whole stream into one Buffer. */
export async function collect(stream: Readable | AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const onAbort = () => (stream as Readable).destroy?.(abortError(signal));
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  if (signal?.aborted) throw abortError(signal);
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}
