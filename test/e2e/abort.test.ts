/**
 * Acceptance: a pull or push stopped through its AbortSignal mid-transfer leaves no temp file and
 * no half-written file; a push that did not finish writes no manifest; re-running converges.
 * The store is the real local backend, wrapped so that some reads/writes stall half-way until the
 * abort (as a slow network would), which makes "mid-transfer" deterministic.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalBackend } from '../../src/backends/local.js';
import type { Backend } from '../../src/backends/types.js';
import { abortError, isFlowsyncError } from '../../src/errors.js';
import { pull, push } from '../../src/index.js';
import { collect } from '../../src/util/streams.js';
import { compareTrees, excludeFlowsyncState, generateTree, readTree, tempFiles } from '../helpers/tree.js';
import { removeDir, tempDir } from './support.js';
import { rejection } from '../helpers/rejection.js';

let work = '';
beforeAll(() => {
  work = tempDir('abort');
});
afterAll(() => removeDir(work));

/** A stream that gives the first half of `data`, then stalls until the signal aborts. */
function stallingStream(data: Buffer, signal: AbortSignal | undefined): Readable {
  const s = new Readable({ read() {} });
  // Destroyed before its consumer attached (abort during the write's setup): not an uncaught error.
  s.on('error', () => {});
  s.push(data.subarray(0, Math.floor(data.length / 2)));
  const stop = () => s.destroy(abortError(signal));
  if (signal?.aborted) stop();
  else signal?.addEventListener('abort', stop, { once: true });
  return s;
}

/** A body that trickles (each chunk 4 ms late): far under the rate at which one stream is kept. */
function trickle(body: Readable): Readable {
  async function* slow() {
    for await (const chunk of body) {
      await new Promise((r) => setTimeout(r, 4));
      yield chunk as Buffer;
    }
  }
  return Readable.from(slow());
}

interface Staller {
  backend: Backend;
  /** Resolves when the first stalled transfer has started and `after` others have completed. */
  stalled: Promise<void>;
  completed: () => number;
}

/**
 * Wrap a backend so that reads (or writes) of keys chosen by `slow` stall half-way, once `after`
 * transfers have completed normally.
 */
function stall(inner: Backend, op: 'read' | 'write', slow: (key: string) => boolean, after: number): Staller {
  let done = 0;
  let signalStalled!: () => void;
  const stalled = new Promise<void>((r) => (signalStalled = r));
  const backend: Backend = {
    ...inner,
    async read(key, o) {
      if (op === 'read' && slow(key) && done >= after) {
        const data = await collect(await inner.read(key, { ...(o?.range ? { range: o.range } : {}) }));
        signalStalled();
        return stallingStream(data, o?.signal);
      }
      const r = await inner.read(key, o);
      if (op === 'read') r.once('end', () => done++);
      return r;
    },
    async write(key, body, info, o) {
      if (op === 'write' && slow(key) && done >= after) {
        signalStalled();
        // write() takes bytes: stall until the abort, then the real local write must refuse and leave no temp file.
        await new Promise<void>((resolve) => (o?.signal?.aborted ? resolve() : o?.signal?.addEventListener('abort', () => resolve(), { once: true })));
        return inner.write(key, body, info, o);
      }
      const r = await inner.write(key, body, info, o);
      if (op === 'write') done++;
      return r;
    },
  };
  return { backend, stalled, completed: () => done };
}


describe('pull stopped mid-transfer', () => {
  it('leaves no temp file, keeps what it placed on record, and a re-run converges', async () => {
    const src = path.join(work, 'pull-src');
    const storeDir = path.join(work, 'pull-store');
    const dest = path.join(work, 'pull-dest');
    await generateTree(src, { files: 400, seed: 11, ignored: false });
    await push({ dir: src, remote: storeDir, cacheDir: false });

    const s = stall(createLocalBackend({ root: storeDir }), 'read', (k) => /f\d*[05]\b/.test(k), 60);
    const controller = new AbortController();
    const pulling = pull({ remote: storeDir, dir: dest, signal: controller.signal, concurrency: 4, remoteOptions: { backend: s.backend } });
    await s.stalled;
    controller.abort();
    const err = await rejection(pulling);
    expect(isFlowsyncError(err, 'ABORTED')).toBe(true);

    expect(tempFiles(dest, storeDir)).toEqual([]);
    const partial = readTree(dest, { exclude: excludeFlowsyncState });
    expect(partial.size).toBeGreaterThanOrEqual(60); // it was really mid-way...
    expect(partial.size).toBeLessThan(400); // ...not done
    // Every file that is there is complete (no half-written file under its real name).
    const full = readTree(src);
    for (const [p, node] of partial) expect(node).toEqual(full.get(p));
    // The record of placed files survived the abort.
    const state = JSON.parse(fs.readFileSync(path.join(dest, '.flowsync', 'state.json'), 'utf8')) as { files: Record<string, unknown> };
    expect(Object.keys(state.files).length).toBe(partial.size);

    const again = await pull({ remote: storeDir, dir: dest });
    expect(again.conflicts).toEqual([]);
    expect(again.unchanged).toBe(partial.size); // what the first run placed is not fetched again
    expect(compareTrees(src, dest, { excludeActual: excludeFlowsyncState })).toEqual([]);
    expect(tempFiles(dest, storeDir)).toEqual([]);

    // The files placed before the abort are flowsync's: a later change to them is no conflict.
    const placedEarly = [...partial.keys()].find((p) => full.get(p)?.kind === 'file')!;
    fs.writeFileSync(path.join(src, placedEarly), 'changed at the source');
    await push({ dir: src, remote: storeDir, cacheDir: false });
    const third = await pull({ remote: storeDir, dir: dest });
    expect(third).toMatchObject({ downloaded: 1, conflicts: [] });
    expect(fs.readFileSync(path.join(dest, placedEarly), 'utf8')).toBe('changed at the source');
  });

  it('a big file stopped during parallel ranged reads leaves no temp file either', async () => {
    const src = path.join(work, 'big-src');
    const storeDir = path.join(work, 'big-store');
    const dest = path.join(work, 'big-dest');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'big.bin'), Buffer.alloc(6 * 1024 * 1024, 7));
    fs.writeFileSync(path.join(src, 'small.txt'), 'small');
    await push({ dir: src, remote: storeDir, cacheDir: false });
    const inner = createLocalBackend({ root: storeDir });
    // Ranged download above 1 MiB, in 1 MiB parts; the third part stalls. A large file starts as
    // one stream and goes on in ranges when that stream is slow: its whole-object body trickles.
    let parts = 0;
    let stalledResolve!: () => void;
    const stalled = new Promise<void>((r) => (stalledResolve = r));
    const backend: Backend = {
      ...inner,
      tuning: { ...inner.tuning, multipartThreshold: 1024 * 1024, partSize: 1024 * 1024 },
      async read(key, o) {
        if (o?.range && ++parts === 3) {
          stalledResolve();
          return stallingStream(await collect(await inner.read(key, { range: o.range })), o.signal);
        }
        const body = await inner.read(key, o);
        return key.endsWith('big.bin') && !o?.range ? trickle(body) : body;
      },
    };
    const controller = new AbortController();
    const pulling = pull({ remote: storeDir, dir: dest, signal: controller.signal, remoteOptions: { backend } });
    await stalled;
    controller.abort();
    expect(isFlowsyncError(await rejection(pulling), 'ABORTED')).toBe(true);
    expect(fs.existsSync(path.join(dest, 'big.bin'))).toBe(false);
    expect(tempFiles(dest, storeDir)).toEqual([]);
    await pull({ remote: storeDir, dir: dest });
    expect(compareTrees(src, dest, { excludeActual: excludeFlowsyncState })).toEqual([]);
  });
});

describe('push stopped mid-transfer', () => {
  it('writes no manifest (the old one stays in force), leaves no temp object, and a re-run completes', async () => {
    const src = path.join(work, 'push-src');
    const storeDir = path.join(work, 'push-store');
    const dest = path.join(work, 'push-dest');
    const tree = await generateTree(src, { files: 300, seed: 12, ignored: false });
    await push({ dir: src, remote: storeDir, cacheDir: false });
    const manifestPath = path.join(storeDir, '.flowsync', 'manifest.json');
    const oldManifest = fs.readFileSync(manifestPath);
    await pull({ remote: storeDir, dir: dest });

    // Change 120 files, then push with writes that stall after 30 uploads.
    const changed = tree.kept.filter((p) => !(p in tree.links) && p.includes('/f')).slice(0, 120);
    for (const p of changed) fs.appendFileSync(path.join(src, p), ' v2');
    const s = stall(createLocalBackend({ root: storeDir }), 'write', (k) => !k.startsWith('.flowsync/'), 30);
    const controller = new AbortController();
    const pushing = push({ dir: src, remote: storeDir, signal: controller.signal, concurrency: 4, cacheDir: false, remoteOptions: { backend: s.backend } });
    await s.stalled;
    controller.abort();
    expect(isFlowsyncError(await rejection(pushing), 'ABORTED')).toBe(true);
    expect(s.completed()).toBeGreaterThanOrEqual(30);
    expect(s.completed()).toBeLessThan(120);
    expect(fs.readFileSync(manifestPath).equals(oldManifest)).toBe(true);
    expect(tempFiles(storeDir)).toEqual([]);

    // Between the aborted push and its re-run, the old manifest is in force but the objects it
    // names were partly overwritten in place (mirror layout). A pull must refuse those bytes,
    // never write them under the old manifest's name.
    // (A folder already up to date with the old manifest downloads nothing and is fine.)
    expect((await pull({ remote: storeDir, dir: dest })).downloaded).toBe(0);
    const fresh = path.join(work, 'push-fresh');
    // Without the content cache: with it, the old manifest's verified bytes come from this machine's cache and the pull succeeds.
    const between = await rejection(pull({ remote: storeDir, dir: fresh, cacheDir: false }));
    expect(isFlowsyncError(between, 'CHECKSUM_MISMATCH')).toBe(true);
    expect(tempFiles(fresh)).toEqual([]);
    for (const p of changed) {
      const f = path.join(fresh, p);
      if (fs.existsSync(f)) expect(fs.readFileSync(f, 'utf8').endsWith(' v2')).toBe(false);
    }

    const done = await push({ dir: src, remote: storeDir, cacheDir: false });
    expect(done.uploaded).toBe(120); // the manifest never named the first 30: they go again
    expect(fs.readFileSync(manifestPath).equals(oldManifest)).toBe(false);
    await pull({ remote: storeDir, dir: dest });
    expect(compareTrees(src, dest, { excludeActual: excludeFlowsyncState })).toEqual([]);
  });
});
