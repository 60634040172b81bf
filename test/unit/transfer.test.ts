/** The transfer engine's parts on their own: pool, retry, byte budget, part size, FILE_CHANGED, delete batching. */
import { describe, expect, it } from 'vitest';
import { createMemoryBackend } from '../../src/backends/memory.js';
import type { Backend } from '../../src/backends/types.js';
import { FlowsyncError, isFlowsyncError } from '../../src/errors.js';
import { ByteBudget, sizeClass } from '../../src/transfer/budget.js';
import { choosePartSize, usesMultipart } from '../../src/transfer/part-size.js';
import { runPool } from '../../src/util/pool.js';
import { isRetryable, sleep, withRetries, withRetry } from '../../src/backends/retrying.js';
import { deleteKeys } from '../../src/transfer/delete.js';
import { azureError } from '../../src/backends/azure/errors.js';
import { gcsError } from '../../src/backends/gcs/errors.js';
import { s3Error } from '../../src/backends/s3/errors.js';
import { uploadFile } from '../../src/transfer/upload.js';
import type { TransferContext } from '../../src/transfer/context.js';
import { Progress } from '../../src/util/progress.js';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('runPool', () => {
  it('keeps at most `concurrency` tasks in flight and runs every item once', async () => {
    let inFlight = 0;
    let peak = 0;
    const done: number[] = [];
    await runPool(
      Array.from({ length: 50 }, (_, i) => i),
      4,
      async (i) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await tick(i % 3);
        inFlight--;
        done.push(i);
      },
    );
    expect(peak).toBe(4);
    expect(done.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('on the first failure: stops new work, aborts tasks in flight, waits for them, throws that failure', async () => {
    const started: number[] = [];
    const settled: number[] = [];
    const boom = new FlowsyncError('IO', 'boom');
    const err = await caught(
      runPool(
        Array.from({ length: 100 }, (_, i) => i),
        3,
        async (i, signal) => {
          started.push(i);
          if (i === 1) {
            await tick(5);
            throw boom;
          }
          // Well-behaved tasks end when their signal aborts.
          await sleep(10_000, signal).catch(() => {});
          await tick(20); // cleanup after the abort: the pool must wait for it
          settled.push(i);
        },
      ),
    );
    expect(err).toBe(boom);
    expect(started.length).toBeLessThan(10);
    expect([...settled].sort()).toEqual(started.filter((i) => i !== 1).sort()); // all settled before the throw
    expect(started).toEqual([0, 1, 2]); // nothing new started after the failure
  });

  it('an outer abort rejects with ABORTED and aborts every task', async () => {
    const controller = new AbortController();
    const aborted: number[] = [];
    const p = runPool(
      [1, 2, 3, 4, 5],
      2,
      async (i, signal) => {
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
        aborted.push(i);
      },
      controller.signal,
    );
    await tick(10);
    controller.abort();
    const err = await caught(p);
    expect(isFlowsyncError(err, 'ABORTED')).toBe(true);
    expect(aborted.sort()).toEqual([1, 2]);
    // Already aborted: fails at once without starting anything.
    let ran = false;
    expect(isFlowsyncError(await caught(runPool([1], 1, async () => void (ran = true), controller.signal)), 'ABORTED')).toBe(true);
    expect(ran).toBe(false);
  });

  it('hands every item taken from a waiting source to a task, and wakes the source on failure', async () => {
    const budget = new ByteBudget(10);
    const released: number[] = [];
    const taken: number[] = [];
    async function* source(signal: AbortSignal) {
      for (let i = 0; i < 10; i++) {
        const release = await budget.acquire(6, signal); // one at a time fits: the others wait here
        taken.push(i);
        yield { i, release };
      }
    }
    const err = await caught(
      runPool(source, 4, async ({ i, release }) => {
        try {
          if (i === 2) throw new Error('task 2 failed');
          await tick(1);
        } finally {
          release();
          released.push(i);
        }
      }),
    );
    expect((err as Error).message).toBe('task 2 failed');
    // Whatever was taken from the source reached a task and was released: no memory leaked,
    // no generator left waiting for memory.
    expect(released.sort()).toEqual(taken.sort());
    expect(taken.length).toBeLessThan(10);
    const all = await budget.acquire(10);
    all();
  });

  it('does not trip the MaxListeners warning with many tasks on one signal', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      await runPool(Array.from({ length: 64 }, (_, i) => i), 32, async (_i, signal) => {
        signal.addEventListener('abort', () => {});
        await tick(5);
      });
      await tick(10);
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).not.toContain('MaxListenersExceededWarning');
  });
});

describe('withRetry', () => {
  it('retries retryable errors with backoff and returns the first success', async () => {
    const delays: number[] = [];
    let calls = 0;
    const result = await withRetry(
      async (attempt) => {
        calls++;
        if (attempt < 3) throw new FlowsyncError('TRANSIENT', 'flaky');
        return 'ok';
      },
      { baseDelayMs: 1, onRetry: (_e, _a, d) => delays.push(d) },
    );
    expect(result).toBe('ok');
    expect(calls).toBe(3);
    expect(delays).toHaveLength(2);
    for (const [i, d] of delays.entries()) expect(d).toBeLessThanOrEqual(2 ** i); // full jitter under the cap
  });

  it('fails at once on errors that are not retryable', async () => {
    for (const code of ['AUTH', 'NOT_FOUND', 'PRECONDITION_FAILED', 'BAD_MANIFEST', 'USAGE'] as const) {
      let calls = 0;
      const err = await caught(withRetry(async () => {
        calls++;
        throw new FlowsyncError(code, 'no');
      }, { baseDelayMs: 1 }));
      expect(isFlowsyncError(err, code)).toBe(true);
      expect(calls).toBe(1);
    }
    let calls = 0;
    await caught(withRetry(async () => {
      calls++;
      throw new TypeError('bug');
    }, { baseDelayMs: 1 }));
    expect(calls).toBe(1);
  });

  it('gives up after `attempts`, with the last error', async () => {
    let calls = 0;
    const err = await caught(withRetry(async () => {
      calls++;
      throw new FlowsyncError('THROTTLED', `slow down ${calls}`);
    }, { attempts: 4, baseDelayMs: 1 }));
    expect(calls).toBe(4);
    expect((err as Error).message).toBe('slow down 4');
  });

  it('classifies raw network errors as retryable', () => {
    expect(isRetryable(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isRetryable(Object.assign(new Error('nope'), { code: 'ENOENT' }))).toBe(false);
    expect(isRetryable(new FlowsyncError('CHECKSUM_MISMATCH', 'x'))).toBe(true);
  });

  it('an abort during the backoff wait stops at once with ABORTED', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const p = withRetry(async () => {
      throw new FlowsyncError('TRANSIENT', 'down');
    }, { signal: controller.signal, baseDelayMs: 60_000, attempts: 5 });
    setTimeout(() => controller.abort(), 20);
    const err = await caught(p);
    expect(isFlowsyncError(err, 'ABORTED')).toBe(true);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe('ByteBudget', () => {
  it('holds the sum under the limit, first come first served', async () => {
    const b = new ByteBudget(10);
    const order: string[] = [];
    const r1 = await b.acquire(6);
    const p2 = b.acquire(6).then((r) => (order.push('second'), r));
    const p3 = b.acquire(1).then((r) => (order.push('third'), r)); // fits, but must not overtake
    await tick(5);
    expect(order).toEqual([]);
    r1();
    const r2 = await p2;
    const r3 = await p3;
    expect(order).toEqual(['second', 'third']);
    r2();
    r2(); // releasing twice gives back once
    r3();
    const all = await b.acquire(10);
    all();
  });

  it('lets a request bigger than the whole budget run alone', async () => {
    const b = new ByteBudget(10);
    const big = await b.acquire(100);
    let small = false;
    const p = b.acquire(1).then((r) => ((small = true), r));
    await tick(5);
    expect(small).toBe(false);
    big();
    (await p)();
    expect(small).toBe(true);
  });

  it('an aborted waiter leaves the queue and lets the next one in', async () => {
    const b = new ByteBudget(10);
    const r1 = await b.acquire(8);
    const controller = new AbortController();
    const waiting = b.acquire(8, controller.signal);
    const after = b.acquire(2);
    controller.abort();
    expect(isFlowsyncError(await caught(waiting), 'ABORTED')).toBe(true);
    (await after)(); // 8 + 2 fit once the aborted waiter is gone
    r1();
  });
});

describe('ByteBudget buffers', () => {
  const MiB = 1024 * 1024;
  /** Two views of the same memory (a small-class buffer comes back as a view of its class). */
  const sameMemory = (a: Buffer, b: Buffer) => a.buffer === b.buffer && a.byteOffset === b.byteOffset;

  it('hands a given-back buffer to the next holder of that size, and waits like acquire', async () => {
    const b = new ByteBudget(16 * MiB);
    const one = await b.buffer(8 * MiB);
    const two = await b.buffer(8 * MiB);
    let third: Buffer | null = null;
    const p = b.buffer(8 * MiB).then((h) => ((third = h.data), h));
    await tick(5);
    expect(third).toBeNull(); // 16 MiB held: the third waits
    one.release();
    const h3 = await p;
    expect(sameMemory(h3.data, one.data)).toBe(true); // the same memory, not a new allocation
    expect(h3.data.length).toBe(8 * MiB);
    two.release();
    h3.release();
    const a = await b.buffer(8 * MiB);
    const c = await b.buffer(8 * MiB);
    // Both spares reused, each once.
    expect([sameMemory(a.data, one.data), sameMemory(c.data, one.data)].filter(Boolean)).toHaveLength(1);
    expect([sameMemory(a.data, two.data), sameMemory(c.data, two.data)].filter(Boolean)).toHaveLength(1);
    a.release();
    c.release();
  });

  it('keeps held plus spare memory within the limit', async () => {
    const b = new ByteBudget(16 * MiB);
    const small = await b.buffer(8 * MiB);
    small.release(); // 8 MiB spare
    const big = await b.buffer(12 * MiB); // 12 held: the 8 MiB spare goes, or memory would be 20
    const again = await b.buffer(4 * MiB);
    again.release(); // 16 held, no spare: kept
    const reused = await b.buffer(4 * MiB);
    expect(sameMemory(reused.data, again.data)).toBe(true);
    reused.release();
    big.release();
    expect(sameMemory((await b.buffer(8 * MiB)).data, small.data)).toBe(false); // it was dropped for the 12 MiB
  });

  it('small buffers come in power-of-two classes: files of different sizes share spares, each sees its own length', async () => {
    expect([0, 1, 4096, 4097, 5000, 65536, 65537, MiB, MiB + 1].map(sizeClass)).toEqual([4096, 4096, 4096, 8192, 8192, 65536, 131072, MiB, MiB + 1]);
    const b = new ByteBudget(64 * MiB);
    const first = await b.buffer(5000);
    expect(first.data.length).toBe(5000);
    first.release();
    const second = await b.buffer(7000); // same 8 KiB class
    expect(second.data.length).toBe(7000);
    expect(sameMemory(second.data, first.data)).toBe(true);
    second.release();
    const other = await b.buffer(3000); // 4 KiB class: not the 8 KiB spare
    expect(sameMemory(other.data, first.data)).toBe(false);
    other.release();
  });

  it('keeps at most 8 MiB of small spares, however many were held at once', async () => {
    const b = new ByteBudget(64 * MiB);
    const held = await Promise.all(Array.from({ length: 40 }, () => b.buffer(MiB))); // 40 MiB at once
    for (const h of held) h.release();
    const again = await Promise.all(Array.from({ length: 40 }, () => b.buffer(MiB)));
    const reused = again.filter((h) => held.some((o) => sameMemory(o.data, h.data)));
    expect(reused).toHaveLength(8);
    for (const h of again) h.release();
  });
});

describe('part size', () => {
  const backend = (multipart: NonNullable<Backend['limits']['multipart']>, tuning: Partial<Backend['tuning']> = {}): Backend => {
    const b = createMemoryBackend();
    return { ...b, limits: { ...b.limits, multipart }, tuning: { ...b.tuning, ...tuning } };
  };
  const MiB = 1024 * 1024;

  it('is max(minimum, preferred, ceil(size / maxParts)), within the maximum', () => {
    const b = backend({ minPartSize: 5 * MiB, maxPartSize: 5 * 1024 * MiB, maxParts: 10_000 }, { partSize: 8 * MiB });
    expect(choosePartSize(100 * MiB, b)).toBe(8 * MiB);
    expect(choosePartSize(100 * MiB, b, 1 * MiB)).toBe(5 * MiB); // the minimum wins over a smaller request
    expect(choosePartSize(100 * 1024 * MiB, b)).toBe(Math.ceil((100 * 1024 * MiB) / 10_000)); // fits in 10,000 parts
    expect(Math.ceil((100 * 1024 * MiB) / choosePartSize(100 * 1024 * MiB, b))).toBeLessThanOrEqual(10_000);
    expect(choosePartSize(Number.MAX_SAFE_INTEGER, b)).toBe(5 * 1024 * MiB);
  });

  it('rounds up to the service granularity', () => {
    const b = backend({ minPartSize: 256 * 1024, maxPartSize: 5 * 1024 * MiB, maxParts: 10_000, partMultiple: 256 * 1024 }, { partSize: 1_000_000 });
    const part = choosePartSize(50 * MiB, b);
    expect(part % (256 * 1024)).toBe(0);
    expect(part).toBe(4 * 256 * 1024);
  });

  it('goes multipart only above the threshold (and above a larger user part size)', () => {
    const b = backend({ minPartSize: 1, maxPartSize: 2 ** 40, maxParts: 10_000 }, { multipartThreshold: 8 * MiB });
    expect(usesMultipart(8 * MiB, b)).toBe(false);
    expect(usesMultipart(8 * MiB + 1, b)).toBe(true);
    expect(usesMultipart(10 * MiB, b, 16 * MiB)).toBe(false); // one part would hold it all: a single PUT
    const noMultipart = { ...b, features: { ...b.features, multipart: false } };
    expect(usesMultipart(100 * MiB, noMultipart)).toBe(false);
  });
});

describe('uploadFile catches a file that changed after its scan (FILE_CHANGED, the engine\'s check)', () => {
  const MiB = 1024 * 1024;
  const sha = (d: Uint8Array) => createHash('sha256').update(d).digest('hex');
  const context = (backend: Backend, partSize?: number): TransferContext => ({
    backend,
    budget: new ByteBudget(64 * MiB),
    progress: new Progress(),
    partConcurrency: 2,
    ...(partSize ? { partSize } : {}),
  });

  async function tempFile(data: Uint8Array): Promise<{ file: string; cleanup: () => Promise<void> }> {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'flowsync-upload-'));
    const file = path.join(dir, 'f.bin');
    await fsp.writeFile(file, data);
    return { file, cleanup: () => fsp.rm(dir, { recursive: true, force: true }) };
  }

  it('small file (one write): bytes that do not hash to the scanned sha256 are not sent', async () => {
    const backend = createMemoryBackend();
    const scanned = Buffer.from('as scanned');
    const { file, cleanup } = await tempFile(Buffer.from('changed!!!')); // same size, other bytes
    try {
      const err = await caught(uploadFile(context(backend), 'k/small', file, { path: 'small.txt', size: scanned.length, mode: 0o644, sha256: sha(scanned) }, new AbortController().signal));
      expect(isFlowsyncError(err, 'FILE_CHANGED'), String(err)).toBe(true);
      expect((err as Error).message).toContain('small.txt');
      expect(await backend.stat('k/small')).toBeNull();
      // Grown since the scan: it does not fit the (recycled) buffer of the scanned size.
      const grown = Buffer.from('as scanned, and more');
      await fsp.writeFile(file, grown);
      const err2 = await caught(uploadFile(context(backend), 'k/small', file, { path: 'small.txt', size: scanned.length, mode: 0o644, sha256: sha(scanned) }, new AbortController().signal));
      expect(isFlowsyncError(err2, 'FILE_CHANGED'), String(err2)).toBe(true);
      expect(await backend.stat('k/small')).toBeNull();
      await fsp.writeFile(file, 'changed!!!');
      // The same file with its own hash goes up, with the sha256 stored.
      await uploadFile(context(backend), 'k/small', file, { path: 'small.txt', size: 10, mode: 0o644, sha256: sha(Buffer.from('changed!!!')) }, new AbortController().signal);
      expect((await backend.stat('k/small'))?.sha256).toBe(sha(Buffer.from('changed!!!')));
    } finally {
      await cleanup();
    }
  });

  it('big file (parts): a hash mismatch aborts the upload, nothing stored, no upload left pending', async () => {
    const backend = createMemoryBackend();
    const data = Buffer.alloc(3 * MiB + 5, 1);
    const { file, cleanup } = await tempFile(data);
    try {
      const entry = { path: 'big.bin', size: data.length, mode: 0o644 as const, sha256: sha(Buffer.alloc(data.length, 2)) };
      const err = await caught(uploadFile(context(backend, MiB), 'k/big', file, entry, new AbortController().signal));
      expect(isFlowsyncError(err, 'FILE_CHANGED'), String(err)).toBe(true);
      expect(await backend.stat('k/big')).toBeNull();
      expect(backend.pendingUploads.size).toBe(0);
      // A file that is shorter than scanned is caught before any part is sent.
      const short = await caught(uploadFile(context(backend, MiB), 'k/big', file, { ...entry, size: data.length + 1 }, new AbortController().signal));
      expect(isFlowsyncError(short, 'FILE_CHANGED')).toBe(true);
      await uploadFile(context(backend, MiB), 'k/big', file, { ...entry, sha256: sha(data) }, new AbortController().signal);
      expect((await backend.stat('k/big'))?.size).toBe(data.length);
    } finally {
      await cleanup();
    }
  });
});

describe('deleteKeys', () => {
  it('hands the backend batches of at most limits.deleteBatch keys, each key once, and deletes them all', async () => {
    const memory = createMemoryBackend();
    const keys = Array.from({ length: 23 }, (_, i) => `d/k${i}`);
    for (const k of keys) await memory.write(k, Buffer.from(k), { size: k.length });
    const batches: string[][] = [];
    const backend: Backend = { ...memory, limits: { ...memory.limits, deleteBatch: 5 }, delete: (ks, o) => (batches.push(ks), memory.delete(ks, o)) };
    await deleteKeys(backend, [...keys, 'd/k0', 'd/missing'], { concurrency: 3 });
    expect(batches.map((b) => b.length)).toEqual([5, 5, 5, 5, 4]);
    expect(batches.flat().sort()).toEqual([...keys, 'd/missing'].sort());
    for (const k of keys) expect(await memory.stat(k)).toBeNull();
    batches.length = 0;
    await deleteKeys(backend, []);
    expect(batches).toEqual([]);
  });
});

describe('the one network-error table, as every backend maps it (util/net-errors.ts)', () => {
  const raw = (code: string, message = `${code} happened`) => Object.assign(new Error(message), { code });
  // The SDKs nest socket errors: the S3 SDK passes them through, Azure wraps them in a RestError.
  const mappers: [string, (e: unknown) => FlowsyncError][] = [
    ['s3', (e) => s3Error(e, { action: 'read', bucket: 'b', key: 'k', endpoint: 'http://s3.test' })],
    ['azure', (e) => azureError(Object.assign(new Error('request failed'), { name: 'RestError', code: 'REQUEST_SEND_ERROR', cause: e }), { action: 'read', container: 'c', key: 'k' })],
    ['gcs', (e) => gcsError(e, { action: 'read gs://b/k', bucket: 'b', object: true })],
  ];

  for (const [name, map] of mappers) {
    it(`${name}: a reset is a retryable "connection reset" (not a timeout), EAI_AGAIN is retryable, a refused connection is final`, () => {
      for (const code of ['ECONNRESET', 'EPIPE']) {
        const e = map(raw(code));
        expect({ code: e.code, retryable: e.retryable }, code).toEqual({ code: 'TRANSIENT', retryable: true });
        expect(e.message).toMatch(/connection reset/i);
        expect(e.message).not.toMatch(/timeout|timed out/i);
      }
      const hangUp = map(new Error('socket hang up'));
      expect(hangUp.code).toBe('TRANSIENT');
      expect(hangUp.message).toMatch(/connection reset/i);
      const dns = map(raw('EAI_AGAIN', 'getaddrinfo EAI_AGAIN s3.test'));
      expect({ code: dns.code, retryable: dns.retryable }).toEqual({ code: 'TRANSIENT', retryable: true });
      expect(dns.message).toMatch(/DNS lookup failed for now/i);
      for (const code of ['ECONNREFUSED', 'ENOTFOUND', 'SELF_SIGNED_CERT_IN_CHAIN']) {
        const e = map(raw(code));
        expect({ code: e.code, retryable: e.retryable }, code).toEqual({ code: 'UNREACHABLE', retryable: false });
      }
    });
  }
});

describe('retry decorator on multipart complete()', () => {
  it("does not repeat complete() after a whole-object digest mismatch (digestScope 'object': the session is gone), but does for a per-part backend", async () => {
    for (const digestScope of ['object', 'part'] as const) {
      const memory = createMemoryBackend();
      let completes = 0;
      const backend: Backend = {
        ...memory,
        limits: { ...memory.limits, multipart: { ...memory.limits.multipart!, digestScope } },
        async openMultipart(key, info, o) {
          const w = await memory.openMultipart!(key, info, o);
          return {
            ...w,
            complete: async () => {
              completes++;
              throw new FlowsyncError('CHECKSUM_MISMATCH', 'the object did not match its md5');
            },
          };
        },
      };
      const w = await withRetries(backend, { baseDelayMs: 1 }).openMultipart!('k', { partSize: 4 });
      await w.writePart(1, Buffer.from('abcd'), {});
      const err = await caught(w.complete({ size: 4 }));
      expect(isFlowsyncError(err, 'CHECKSUM_MISMATCH')).toBe(true);
      expect(completes, `complete() attempts with digestScope ${digestScope}`).toBe(digestScope === 'object' ? 1 : 5);
    }
  });
});
