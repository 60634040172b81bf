/**
 * Conformance cases for the engine's retry decorator (backends/retrying.ts) over each real
 * backend: a wrapper injects socket failures in front of the backend, the decorator must hide
 * the retryable ones (and only those), and a read cut mid-body must resume with a ranged read.
 */
import { Readable } from 'node:stream';
import { expect } from 'vitest';
import { withRetries } from '../../src/backends/retrying.js';
import type { Backend, ReadOptions } from '../../src/backends/types.js';
import { FlowsyncError } from '../../src/errors.js';
import type { ConformanceCase } from './cases.js';
import { expectCode, expectSameBytes, readAll, sha256Hex } from './data.js';

/** What Node throws when the peer drops the connection. */
function resetError(): Error {
  return Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', errno: -104, syscall: 'read' });
}

interface Faulty {
  backend: Backend;
  /** Calls that reached the wrapper, by method. */
  calls: Record<string, number>;
  /** read() options of each call that reached the real backend. */
  reads: (ReadOptions | undefined)[];
}

/**
 * `backend` with faults: the first `failures[method]` calls of a method throw `error()` instead
 * of reaching it; `cutReadAfter`: the first read's body breaks with a reset after that many bytes.
 */
function faulty(backend: Backend, failures: Partial<Record<'stat' | 'write' | 'delete', number>>, error: () => Error, cutReadAfter?: number): Faulty {
  const calls: Record<string, number> = {};
  const reads: (ReadOptions | undefined)[] = [];
  const count = (m: string) => (calls[m] = (calls[m] ?? 0) + 1);
  const gate = async <T>(m: 'stat' | 'write' | 'delete', fn: () => Promise<T>): Promise<T> => {
    if (count(m) <= (failures[m] ?? 0)) throw error();
    return fn();
  };
  // Built field by field: a spread would copy the retry decorator's own mark from an already
  // wrapped backend, and withRetries() would then take the faulty wrapper as wrapped too.
  const wrapped: Backend = {
    name: backend.name,
    features: backend.features,
    get limits() {
      return backend.limits;
    },
    tuning: backend.tuning,
    ...(backend.openMultipart ? { openMultipart: backend.openMultipart.bind(backend) } : {}),
    stat: (k, o) => gate('stat', () => backend.stat(k, o)),
    write: (k, b, i, o) => gate('write', () => backend.write(k, b, i, o)),
    delete: (ks, o) => gate('delete', () => backend.delete(ks, o)),
    list: (p, o) => backend.list(p, o),
    async read(k, o) {
      count('read');
      reads.push(o);
      const body = await backend.read(k, o);
      if (cutReadAfter === undefined || reads.length > 1) return body;
      return Readable.from(
        (async function* () {
          let sent = 0;
          for await (const chunk of body as AsyncIterable<Buffer>) {
            const room = cutReadAfter - sent;
            if (chunk.length >= room) {
              if (room > 0) yield chunk.subarray(0, room);
              body.destroy();
              throw resetError();
            }
            sent += chunk.length;
            yield chunk;
          }
        })(),
      );
    },
  };
  return { backend: wrapped, calls, reads };
}

export const RETRY_CASES: readonly ConformanceCase[] = [
  {
    id: 'retry-reset',
    title: 'the retry decorator: N connection resets, then success → one logical call succeeds after N+1 attempts',
    async run(c) {
      const key = `${c.dir}/flaky`;
      const data = Buffer.from('written through resets');
      const f = faulty(c.backend, { write: 3, stat: 2, delete: 1 }, resetError);
      const retried: string[] = [];
      const b = withRetries(f.backend, { baseDelayMs: 1 });
      const onRetry = (err: unknown, attempt: number) => retried.push(`${attempt}:${(err as { code?: string }).code}`);
      const written = await b.write(key, data, { size: data.length, sha256: sha256Hex(data) }, { onRetry });
      expect(written.size).toBe(data.length);
      expect(f.calls['write'], 'write attempts').toBe(4);
      expect(retried, 'retries told to onRetry').toEqual(['1:ECONNRESET', '2:ECONNRESET', '3:ECONNRESET']);
      expect((await b.stat(key))?.size, 'stat after two resets').toBe(data.length);
      expect(f.calls['stat'], 'stat attempts').toBe(3);
      expectSameBytes(await readAll(c.backend, key), data, 'object written through resets');
      await b.delete([key]);
      expect(f.calls['delete'], 'delete attempts').toBe(2);
      expect(await c.backend.stat(key)).toBeNull();
    },
  },
  {
    id: 'retry-final',
    title: 'the retry decorator: a non-retryable error (AUTH, refused connection) is tried exactly once; 5 resets give up',
    async run(c) {
      const key = `${c.dir}/never`;
      const auth = faulty(c.backend, { write: 1 }, () => new FlowsyncError('AUTH', 'the key was refused'));
      await expectCode(() => withRetries(auth.backend, { baseDelayMs: 1 }).write(key, Buffer.from('x'), { size: 1 }), 'AUTH', 'write refused with AUTH');
      expect(auth.calls['write'], 'attempts of a call failing with AUTH').toBe(1);
      const refused = faulty(c.backend, { stat: 1 }, () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
      await expect(withRetries(refused.backend, { baseDelayMs: 1 }).stat(key)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      expect(refused.calls['stat'], 'attempts of a refused connection').toBe(1);
      const down = faulty(c.backend, { stat: 100 }, resetError);
      await expect(withRetries(down.backend, { baseDelayMs: 1 }).stat(key)).rejects.toMatchObject({ code: 'ECONNRESET' });
      expect(down.calls['stat'], 'attempts before giving up (the default budget)').toBe(5);
      expect(await c.backend.stat(key), 'nothing written').toBeNull();
    },
  },
  {
    id: 'retry-read-resume',
    title: 'the retry decorator: a read cut mid-body resumes with a ranged read from the next byte, yielding the exact bytes',
    needs: ['rangeRead'],
    async run(c) {
      const key = `${c.dir}/cut`;
      const data = c.shared.slice(45_000_000, 700_000 + 13);
      await c.backend.write(key, data, { size: data.length, sha256: sha256Hex(data) });
      const cutAt = 300_001;
      const whole = faulty(c.backend, {}, resetError, cutAt);
      const retried: unknown[] = [];
      const got = await readAll(withRetries(whole.backend, { baseDelayMs: 1 }), key, { onRetry: (e) => retried.push(e) });
      expectSameBytes(got, data, 'whole read resumed after a reset');
      // At least the injected reset; a server may also drop the next request on a socket the cut
      // poisoned (seen on the GCS emulator under load): every retry must be a reset, and each
      // resume starts at or after the cut, never re-sending what was delivered.
      expect(retried.length, 'retries').toBeGreaterThanOrEqual(1);
      expect(retried.every((e) => /reset/i.test(String((e as Error).message))), 'every retry was a connection reset').toBe(true);
      expect(whole.reads[0]?.range, 'the first read is a whole read').toBeUndefined();
      expect(whole.reads[1]?.range, 'the second read asks for the rest only').toEqual([cutAt, Number.MAX_SAFE_INTEGER]);
      for (const o of whole.reads.slice(2)) expect(o?.range?.[0]).toBeGreaterThanOrEqual(cutAt);

      const range: [number, number] = [100_000, 600_000];
      const ranged = faulty(c.backend, {}, resetError, 1234);
      const part = await readAll(withRetries(ranged.backend, { baseDelayMs: 1 }), key, { range });
      expectSameBytes(part, data.subarray(...range), 'ranged read resumed after a reset');
      expect(ranged.reads[0]?.range).toEqual(range);
      expect(ranged.reads[1]?.range, 'the resumed range').toEqual([range[0] + 1234, range[1]]);
    },
  },
];
