/** What the S3 backend does with the body of a GET answer, whichever path (SDK or lean) fetched it. */
import { Readable } from 'node:stream';
import { abortError, type FlowsyncError } from '../../errors.js';

/**
 * The body of a GET as the caller's stream: errors become FlowsyncErrors, the signal aborts it,
 * and exactly `length` bytes come out (when known). Some S3-compatible servers answer a range
 * with more than was asked (s3rver: "bytes=0-0" returns the whole object); the rest is cut off.
 *
 * Chunks are handed on as they arrive (object mode: a reader gets each chunk, never a
 * concatenation of several), with no async generator in between: that cost a promise per chunk,
 * and as a byte stream it copied buffered chunks together on every read.
 */
export function guardStream(body: Readable, length: number | undefined, map: (err: unknown) => FlowsyncError, signal?: AbortSignal): Readable {
  let left = length ?? Infinity;
  let done = false;
  const out = new Readable({
    objectMode: true,
    highWaterMark: 16,
    read: () => {
      body.resume();
    },
    destroy: (err, callback) => {
      body.destroy();
      callback(err);
    },
  });
  const finish = () => {
    done = true;
    out.push(null);
  };
  body.on('data', (chunk: Buffer) => {
    if (done) {
      body.destroy(); // more than was asked for: cut off
      return;
    }
    if (chunk.length >= left) {
      if (left > 0) out.push(chunk.subarray(0, left));
      const extra = chunk.length > left;
      left = 0;
      finish();
      // Exactly the length: let the body end by itself, so its keep-alive connection is reused.
      if (extra) body.destroy();
      return;
    }
    left -= chunk.length;
    if (!out.push(chunk)) body.pause();
  });
  body.once('end', () => {
    if (done) return;
    if (left > 0 && left !== Infinity) out.destroy(map(Object.assign(new Error(`the body ended ${left} bytes short of ${length}`), { code: 'ECONNRESET' })));
    else finish();
  });
  body.on('error', (err) => {
    if (!done) out.destroy(map(err));
  });
  if (signal) {
    const onAbort = () => out.destroy(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    out.once('close', () => signal.removeEventListener('abort', onAbort));
  }
  return out;
}

/** First byte offset of a GET answer: from Content-Range, or 0 for a whole-object answer. */
export function answerStart(contentRange: string | undefined): number {
  const m = contentRange ? /^bytes (\d+)-/.exec(contentRange) : null;
  return m ? Number(m[1]) : 0;
}
