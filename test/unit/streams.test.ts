/**
 * collect(): a whole stream into one Buffer, read through a Readable's events (no async
 * iterator per object). Every way a stream can end is checked: its end, its error, a destroy
 * by someone else, an abort before and during the read, and a plain async iterable.
 */
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { isFlowsyncError } from '../../src/errors.js';
import { collect } from '../../src/util/streams.js';

describe('collect', () => {
  it('joins every chunk in order, from a Readable and from an async iterable', async () => {
    expect((await collect(Readable.from([Buffer.from('ab'), Buffer.from('cd'), Buffer.from('e')]))).toString()).toBe('abcde');
    async function* parts() {
      yield new Uint8Array([1, 2]);
      yield new Uint8Array([3]);
    }
    expect([...(await collect(parts()))]).toEqual([1, 2, 3]);
    expect((await collect(Readable.from([]))).length).toBe(0);
  });

  it('hands back the only chunk itself, without a copy', async () => {
    const only = Buffer.from('one chunk');
    expect(await collect(Readable.from([only]))).toBe(only);
  });

  it("rejects with the stream's own error", async () => {
    const s = new PassThrough();
    const read = collect(s);
    s.write('partial');
    s.destroy(new Error('connection reset'));
    await expect(read).rejects.toThrow('connection reset');
  });

  it('rejects when the stream is destroyed before its end without an error', async () => {
    const s = new PassThrough();
    const read = collect(s);
    s.write('partial');
    s.destroy();
    await expect(read).rejects.toThrow(/closed before its end/);
    await expect(collect(s)).rejects.toThrow(/closed before it was read/);
  });

  it('stops on abort: rejects with ABORTED and destroys the stream', async () => {
    const s = new PassThrough();
    const ac = new AbortController();
    const read = collect(s, ac.signal);
    s.write('partial');
    ac.abort();
    const err = await read.catch((e: unknown) => e);
    expect(isFlowsyncError(err, 'ABORTED')).toBe(true);
    expect(s.destroyed).toBe(true);

    const early = new PassThrough();
    const already = await collect(early, AbortSignal.abort()).catch((e: unknown) => e);
    expect(isFlowsyncError(already, 'ABORTED')).toBe(true);
    expect(early.destroyed).toBe(true);
  });

  it('leaves no listener on the stream or the signal once settled', async () => {
    const s = new PassThrough();
    const ac = new AbortController();
    const read = collect(s, ac.signal);
    s.end('done');
    await read;
    for (const event of ['data', 'end', 'error', 'close']) expect(s.listenerCount(event)).toBe(0);
  });
});
