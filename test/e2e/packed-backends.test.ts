/**
 * The packed layout's guarantees on real servers (s3rver, Azurite, the in-repo GCS emulator, the
 * local store):
 * - round trip of the large generated tree (5,000 files, links, exec bits, a 50 MB file, unicode
 *   names) on every backend;
 * - two pushes racing for the pointer: exactly one wins, the loser fails with CONFLICT, the
 *   winner's version pulls exactly — on Azurite, the GCS emulator and the local store, the
 *   stores that enforce conditional writes (s3rver ignores them: not covered there);
 * - pulls looping while 10 pushes of alternating trees land always get one whole version;
 * - a tree pushed again after another uploads nothing (what the version between retains);
 * - gc with a push in flight deletes what is old and unused, never what that push then uses.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAzureBackend } from '../../src/backends/azure/backend.js';
import { createGcsBackend } from '../../src/backends/gcs/backend.js';
import { createLocalBackend } from '../../src/backends/local.js';
import { createS3Backend } from '../../src/backends/s3/backend.js';
import type { Backend } from '../../src/backends/types.js';
import { isFlowsyncError } from '../../src/errors.js';
import { pull, push } from '../../src/index.js';
import { gc } from '../../src/sync/gc.js';
import { log, rollback } from '../../src/sync/versions.js';
import { counting } from '../helpers/counting-backend.js';
import { compareTrees, diffTrees, excludeFlowsyncState, generateTree, readTree, type TreeNode } from '../helpers/tree.js';
import { startAzurite, type AzuriteServer } from '../servers/azurite.js';
import { startGcs, type GcsEmulator } from '../servers/gcs.js';
import { startS3rver, type S3rverServer } from '../servers/s3rver.js';
import { removeDir, tempDir } from './support.js';

const BUCKET = 'flows';
let work = '';
let s3: S3rverServer;
let azurite: AzuriteServer;
let gcs: GcsEmulator;
const trees: Record<string, string> = {};
let largeTree: Map<string, TreeNode> | undefined;

interface Target {
  name: string;
  url: (folder: string) => string;
  backend: (folder: string) => Backend;
  enforcesConditions: boolean;
}
const targets: Target[] = [];

const ignored = (rel: string) => rel === 'node_modules' || rel.endsWith('.pyc');
const same = (expected: string, actual: string) => compareTrees(expected, actual, { excludeExpected: ignored, excludeActual: excludeFlowsyncState });
const opts = (t: Target, folder: string, backend = t.backend(folder)) => ({ remote: t.url(folder), remoteOptions: { backend } });

beforeAll(async () => {
  work = tempDir('packed-backends');
  const gen = async (name: string, o: Parameters<typeof generateTree>[1]) => {
    trees[name] = path.join(work, name);
    await generateTree(trees[name]!, o);
  };
  [s3, azurite, gcs] = await Promise.all([
    startS3rver({ buckets: [BUCKET] }),
    startAzurite({ containers: [BUCKET] }),
    startGcs({ buckets: [BUCKET] }),
    gen('large', { files: 5000, bigFileBytes: 50 * 1024 * 1024, seed: 5000 }),
    gen('a', { files: 120, seed: 1 }),
    gen('b', { files: 120, seed: 2 }),
    gen('c', { files: 120, seed: 3 }),
  ]);
  targets.push(
    { name: 'local', url: (f) => path.join(work, 'store', f), backend: (f) => createLocalBackend({ root: path.join(work, 'store', f) }), enforcesConditions: true },
    { name: 's3', url: (f) => `s3://${BUCKET}/${f}`, backend: () => createS3Backend({ bucket: BUCKET, endpoint: s3.endpoint, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } }), enforcesConditions: false },
    { name: 'azure', url: (f) => `az://${BUCKET}/${f}`, backend: () => createAzureBackend({ container: BUCKET, connectionString: azurite.connectionString }), enforcesConditions: true },
    { name: 'gcs', url: (f) => `gs://${BUCKET}/${f}`, backend: () => createGcsBackend({ bucket: BUCKET, endpoint: gcs.endpoint }), enforcesConditions: true },
  );
}, 180_000);

afterAll(async () => {
  await Promise.all([s3?.stop(), azurite?.stop(), gcs?.stop()]);
  removeDir(work);
});

describe.each(['local', 's3', 'azure', 'gcs'])('packed on %s', (name) => {
  const t = () => targets.find((x) => x.name === name)!;

  it('round trip of 5,000 files, links, exec bits, unicode names and a 50 MB file', async () => {
    // One stat cache for all backends: the tree is hashed once, each push still uploads everything.
    const cacheDir = path.join(work, 'cache');
    const t0 = Date.now();
    const pushed = await push({ dir: trees['large']!, ...opts(t(), 'large'), cacheDir, layout: 'packed' });
    const t1 = Date.now();
    expect(pushed.uploaded).toBeGreaterThan(4500);
    const dest = path.join(work, `large-${name}`);
    const pulled = await pull({ dir: dest, ...opts(t(), 'large') });
    const t2 = Date.now();
    expect(pulled.manifest).toBe(pushed.manifest);
    largeTree ??= readTree(trees['large']!, { exclude: ignored });
    expect(diffTrees(largeTree, readTree(dest, { exclude: excludeFlowsyncState }))).toEqual([]);
    process.stderr.write(`packed ${name}: push ${t1 - t0} ms, pull ${t2 - t1} ms, compare ${Date.now() - t2} ms\n`);
    expect(fs.statSync(path.join(dest, 'data/big.bin')).size).toBe(50 * 1024 * 1024);
    // Sticky: a push without --layout keeps packed and, with nothing changed, writes nothing.
    const again = await push({ dir: trees['large']!, ...opts(t(), 'large'), cacheDir: false });
    expect(again).toMatchObject({ uploaded: 0, manifest: pushed.manifest });
  }, 120_000);

  it('a tree pushed again after another one uploads nothing: the version between retains its contents', async () => {
    const folder = 'restore';
    await push({ dir: trees['a']!, ...opts(t(), folder), cacheDir: false, layout: 'packed' });
    expect((await push({ dir: trees['b']!, ...opts(t(), folder), cacheDir: false })).uploaded).toBeGreaterThan(100);
    const counted = counting(t().backend(folder));
    const back = await push({ dir: trees['a']!, ...opts(t(), folder, counted), cacheDir: false });
    expect(back).toMatchObject({ uploaded: 0, bytes: 0 });
    expect(counted.calls.filter((c) => c.method === 'write').map((c) => c.key.replace(/^.*?\.flowsync\//, '').replace(/[0-9a-f]{64}/, 'ID'))).toEqual(['versions/ID.json', 'manifest.json']);
    const dest = path.join(work, `restore-${name}`);
    expect((await pull({ dir: dest, ...opts(t(), folder) })).manifest).toBe(back.manifest);
    expect(same(trees['a']!, dest)).toEqual([]);
  });

  it('two pushes racing: exactly one wins, the other fails with CONFLICT, the winner pulls exactly', async (ctx) => {
    if (!t().enforcesConditions) ctx.skip(); // s3rver ignores If-Match / If-None-Match
    const folder = 'race';
    await push({ dir: trees['a']!, ...opts(t(), folder), cacheDir: false, layout: 'packed' });
    // Both pushes planned against the same pointer; hold each at its pointer write until both are there.
    let arrived = 0;
    let release: () => void = () => {};
    const bothThere = new Promise<void>((r) => (release = r));
    const hold = async (key: string) => {
      if (!key.endsWith('.flowsync/manifest.json')) return;
      if (++arrived === 2) release();
      await bothThere;
    };
    const racers = ['b', 'c'].map((tree) => push({ dir: trees[tree]!, ...opts(t(), folder, counting(t().backend(folder), { beforeWrite: hold })), cacheDir: false }));
    const results = await Promise.allSettled(racers);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(isFlowsyncError(lost[0]!.reason, 'CONFLICT')).toBe(true);
    expect((lost[0]!.reason as Error).message).toMatch(/Run the push again/);
    const winner = results[0]!.status === 'fulfilled' ? 'b' : 'c';
    const dest = path.join(work, `race-${name}`);
    const p = await pull({ dir: dest, ...opts(t(), folder) });
    expect(p.manifest).toBe((won[0] as PromiseFulfilledResult<{ manifest: string }>).value.manifest);
    expect(same(trees[winner]!, dest)).toEqual([]);
  });
});

describe('packed: readers and gc while pushes run', () => {
  it('pulls looping during 10 pushes of alternating trees always get one whole version', async () => {
    // The local store: its pointer write is a rename, the tightest race with readers there is.
    for (const name of ['local']) {
      const t = targets.find((x) => x.name === name)!;
      const folder = 'concurrent';
      await push({ dir: trees['a']!, ...opts(t, folder), cacheDir: false, layout: 'packed' });
      let pushing = true;
      const pushes = (async () => {
        try {
          for (let i = 0; i < 10; i++) await push({ dir: trees[i % 2 ? 'a' : 'b']!, ...opts(t, folder), cacheDir: false });
        } finally {
          pushing = false;
        }
      })();
      const dest = path.join(work, `concurrent-${name}`);
      let pulls = 0;
      const seen = new Set<string>();
      while (pushing || pulls < 3) {
        const r = await pull({ dir: dest, ...opts(t, folder), force: true });
        const a = same(trees['a']!, dest);
        const b = same(trees['b']!, dest);
        expect(a.length === 0 || b.length === 0, `pull ${pulls} on ${name} matched neither tree: ${a.slice(0, 3).join('; ')}`).toBe(true);
        seen.add(a.length === 0 ? 'a' : 'b');
        expect(r.manifest).toMatch(/^[0-9a-f]{64}$/);
        pulls++;
      }
      await pushes;
      expect(pulls).toBeGreaterThanOrEqual(3);
      const versions = (await log(opts(t, folder))).versions;
      expect(versions.length, `${name}: ${versions.map((v) => v.createdAt).join(', ')}`).toBe(11);
    }
  }, 90_000);

  it('gc with a push in flight deletes old unused objects, never what that push then uses', async () => {
    const t = targets.find((x) => x.name === 'gcs')!;
    const folder = 'gc-in-flight';
    // A version whose contents the current one neither has nor retains (it was pushed on top of
    // b's, then rolled back): gc can free its pack.
    const solo = path.join(work, 'solo');
    fs.mkdirSync(solo, { recursive: true });
    for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(solo, `only-${i}.txt`), `solo ${i} ${Math.random()}`);
    const first = await push({ dir: trees['b']!, ...opts(t, folder), cacheDir: false, layout: 'packed' });
    await push({ dir: solo, ...opts(t, folder), cacheDir: false });
    await rollback({ ...opts(t, folder), version: first.manifest! });
    const graceMs = 1500;
    await new Promise((r) => setTimeout(r, graceMs + 200)); // both versions and their packs are now "old"
    let held: () => void = () => {};
    let atPointer: () => void = () => {};
    const reached = new Promise<void>((r) => (atPointer = r));
    const gate = new Promise<void>((r) => (held = r));
    const backend = counting(t.backend(folder), {
      beforeWrite: async (key) => {
        if (!key.includes('.flowsync/versions/')) return;
        atPointer();
        await gate;
      },
    });
    const inFlight = push({ dir: trees['c']!, ...opts(t, folder, backend), cacheDir: false });
    await reached; // its packs are uploaded; no version lists them yet
    const r = await gc({ ...opts(t, folder), keep: 0, graceMs });
    expect(r.deletedVersions).toHaveLength(1); // solo's version: neither current nor young
    expect(r.deletedObjects).toBe(1); // solo's pack, which no kept version uses
    expect(r.keptVersions).toHaveLength(1); // b's, the current one
    expect(r.youngObjects).toBeGreaterThan(0); // c's packs: unreferenced yet, but young
    held();
    const c = await inFlight;
    const dest = path.join(work, 'gc-in-flight');
    const p = await pull({ dir: dest, ...opts(t, folder) });
    expect(p.manifest).toBe(c.manifest);
    expect(same(trees['c']!, dest)).toEqual([]);
  });
});
