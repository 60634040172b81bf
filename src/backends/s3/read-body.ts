/** What the S3 backend does with the body of a GET answer, whichever path (SDK or lean) fetched it. */
import { Readable } from 'node:stream';
import { abortError, type FlowsyncError } from '../../errors.js';

/**
 * The body of a GET as the caller's stream: errors become FlowsyncErrors, the signal aborts it,
 * and exactly `length` bytes come out (when known). Some S3-compatible servers answer a range
 * with more than was asked (s3rver: "bytes=0-0" returns the whole object); the rest is cut off.
 */
export function guardStream(body: Readable, length: number | undefined, map: (err: unknown) => FlowsyncError, signal?: AbortSignal): Readable {
  const out = Readable.from(
    (async function* () {
      let left = length ?? Infinity;
      try {
        for await (const chunk of body) {
          const buf = chunk as Buffer;
          if (buf.length >= left) {
            if (left > 0) yield buf.subarray(0, left);
            left = 0;
            break;
          }
          left -= buf.length;
          yield buf;
        }
      } catch (err) {
        throw map(err);
      }
      if (left > 0 && left !== Infinity) throw map(Object.assign(new Error(`the body ended ${left} bytes short of ${length}`), { code: 'ECONNRESET' }));
    })(),
    { objectMode: false },
  );
  const cleanup = () => body.destroy();
  if (signal) {
    const onAbort = () => out.destroy(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    out.once('close', () => {
      signal.removeEventListener('abort', onAbort);
      cleanup();
    });
  } else {
    out.once('close', cleanup);
  }
  return out;
}

/** First byte offset of a GET answer: from Content-Range, or 0 for a whole-object answer. */
export function answerStart(contentRange: string | undefined): number {
  const m = contentRange ? /^bytes (\d+)-/.exec(contentRange) : null;
  return m ? Number(m[1]) : 0;
}
