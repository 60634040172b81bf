/**
 * The packed layout end to end on the local store (library API): only .flowsync/ objects, tar
 * packs, dedup, the same tree writing nothing, incremental pulls reading only what changed,
 * versions (log, pull --version, rollback), conversions both ways, damaged packs refused, gc.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalBackend } from '../../src/backends/local.js';
import { isFlowsyncError } from '../../src/errors.js';
import { pull, push, verify } from '../../src/index.js';
import { parseManifest } from '../../src/manifest/codec.js';
import { parsePackedManifest } from '../../src/manifest/packed.js';
import { gc } from '../../src/sync/gc.js';
import { log, rollback } from '../../src/sync/versions.js';
import { counting, type Counted } from '../helpers/counting-backend.js';
import { compareTrees, excludeFlowsyncState, generateTree, readTree, snapshot, tempFiles } from '../helpers/tree.js';
import { removeDir, tempDir } from './support.js';

let work = '';
let src = '';
let storeDir = '';
let cacheDir = '';
let backend: Counted;
const BIG = 3 * 1024 * 1024;

const remote = () => ({ remote: storeDir, remoteOptions: { backend } });
const pointer = () => parsePackedManifest(fs.readFileSync(path.join(storeDir, '.flowsync/manifest.json')));
const ignored = (rel: string) => rel === 'node_modules' || rel.endsWith('.pyc');
const same = (a: string, b: string) => compareTrees(a, b, { excludeExpected: ignored, excludeActual: excludeFlowsyncState });

beforeAll(async () => {
  work = tempDir('packed');
  src = path.join(work, 'src');
  storeDir = path.join(work, 'store');
  cacheDir = path.join(work, 'cache');
  await generateTree(src, { files: 400, bigFileBytes: BIG, seed: 11 });
  backend = counting(createLocalBackend({ root: storeDir }));
});
afterAll(() => removeDir(work));

describe('packed layout on the local store', () => {
  it('first push writes only packs, blobs, a version and the pointer; pull gives the same tree', async () => {
    const r = await push({ dir: src, ...remote(), cacheDir, layout: 'packed', message: 'first' });
    expect(r.uploaded).toBeGreaterThan(350);
    const top = fs.readdirSync(storeDir);
    expect(top).toEqual(['.flowsync']);
    expect(fs.readdirSync(path.join(storeDir, '.flowsync')).sort()).toEqual(['blobs', 'manifest.json', 'packs', 'versions']);
    const m = pointer();
    expect(fs.readFileSync(path.join(storeDir, `.flowsync/versions/${r.manifest}.json`))).toEqual(fs.readFileSync(path.join(storeDir, '.flowsync/manifest.json')));
    expect(m.message).toBe('first');
    expect(m.provenance.flowsync).toMatch(/\d/);
    // The big file is a blob; a pack is a plain tar whose member names are content hashes.
    const big = m.files.find((e) => e.path === 'data/big.bin')!;
    expect(fs.statSync(path.join(storeDir, `.flowsync/blobs/${'sha256' in big ? big.sha256 : ''}`)).size).toBe(BIG);
    const pack = path.join(storeDir, `.flowsync/packs/${m.packs[0]!.sha256}.tar`);
    const names = execFileSync('tar', ['-tf', pack], { encoding: 'utf8' }).trim().split('\n');
    expect(names.every((n) => /^[0-9a-f]{64}$/.test(n))).toBe(true);
    // A version-1 reader refuses it rather than reading it as mirror.
    expect(() => parseManifest(fs.readFileSync(path.join(storeDir, '.flowsync/manifest.json')))).toThrow(/version 2/);

    const dest = path.join(work, 'dest');
    const p = await pull({ dir: dest, ...remote() });
    expect(p.manifest).toBe(r.manifest);
    expect(same(src, dest)).toEqual([]);
    expect(readTree(dest, { exclude: excludeFlowsyncState }).size).toBeGreaterThan(350);
  });

  it('the same tree again uploads nothing and writes nothing; a rename and a copy upload nothing', async () => {
    const before = snapshot(storeDir);
    backend.reset();
    const again = await push({ dir: src, ...remote(), cacheDir });
    expect(again).toMatchObject({ uploaded: 0, bytes: 0 });
    expect(backend.count('write')).toBe(0);
    expect(snapshot(storeDir)).toEqual(before);

    fs.renameSync(path.join(src, 'pkg7'), path.join(src, 'pkg7-renamed'));
    fs.copyFileSync(path.join(src, 'data/big.bin'), path.join(src, 'big-copy.bin'));
    backend.reset();
    const moved = await push({ dir: src, ...remote(), cacheDir });
    expect(moved).toMatchObject({ uploaded: 0, bytes: 0 });
    // Only the new version and the pointer: no pack, no blob.
    expect(backend.calls.filter((c) => c.method === 'write').map((c) => c.key.replace(/[0-9a-f]{64}/, 'ID'))).toEqual(['.flowsync/versions/ID.json', '.flowsync/manifest.json']);
  });

  it('an incremental pull reads only the changed content, by ranged reads', async () => {
    const dest = path.join(work, 'dest');
    await pull({ dir: dest, ...remote() });
    const files = readTree(src).entries();
    const small = [...files].filter(([p, n]) => n.kind === 'file' && n.size > 100 && !p.includes('node_modules') && !p.endsWith('.pyc')).map(([p]) => p).slice(0, 2);
    for (const f of small) fs.appendFileSync(path.join(src, f), 'changed');
    const r = await push({ dir: src, ...remote(), cacheDir, message: 'two changed' });
    expect(r.uploaded).toBe(2);
    backend.reset();
    const p = await pull({ dir: dest, ...remote() });
    expect(p.downloaded).toBe(2);
    const reads = backend.calls.filter((c) => c.method === 'read' && c.key.includes('/packs/'));
    expect(reads.length).toBeGreaterThanOrEqual(1);
    expect(reads.length).toBeLessThanOrEqual(2);
    // Ranged: the pull read about the two files, not the packs.
    const read = reads.reduce((n, c) => n + (c.range ? c.range[1] - c.range[0] : 1e9), 0);
    expect(read).toBeLessThan(300 * 1024);
    expect(same(src, dest)).toEqual([]);
  });

  it('log lists versions newest first; pull --version gives an old one; rollback makes it current', async () => {
    const l = await log(remote());
    expect(l.versions.length).toBe(3);
    expect(l.versions[0]).toMatchObject({ current: true, message: 'two changed' });
    expect(l.versions.filter((v) => v.current)).toHaveLength(1);
    const first = l.versions.at(-1)!;
    expect(first).toMatchObject({ message: 'first', current: false });
    expect(first.files).toBeGreaterThan(350);

    const old = path.join(work, 'old');
    const p = await pull({ dir: old, ...remote(), version: first.id.slice(0, 12) });
    expect(p.manifest).toBe(first.id);
    expect(fs.existsSync(path.join(old, 'pkg7'))).toBe(true);
    expect(fs.existsSync(path.join(old, 'pkg7-renamed'))).toBe(false);

    const rb = await rollback({ ...remote(), version: first.id });
    expect(rb).toMatchObject({ manifest: first.id, previous: l.versions[0]!.id });
    expect((await log(remote())).versions.find((v) => v.current)!.id).toBe(first.id);
    const again = path.join(work, 'old2');
    await pull({ dir: again, ...remote() });
    expect(compareTrees(old, again, { excludeExpected: excludeFlowsyncState, excludeActual: excludeFlowsyncState })).toEqual([]);
    await expect(pull({ dir: again, ...remote(), version: 'ffffffff' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('a pack member whose bytes do not match is refused: its files are not written, the pull says which', async () => {
    const m = pointer();
    const packFile = path.join(storeDir, `.flowsync/packs/${m.packs[0]!.sha256}.tar`);
    const victim = m.files.find((e) => 'pack' in e && e.pack === 0 && e.size >= 100)!;
    if (!('offset' in victim) || victim.offset === undefined) throw new Error('no packed file to damage');
    const sameContent = m.files.filter((e) => 'sha256' in e && e.sha256 === victim.sha256).map((e) => e.path);
    const saved = fs.readFileSync(packFile);
    const damaged = Buffer.from(saved);
    for (let i = victim.offset + 10; i < victim.offset + 20; i++) damaged[i] = damaged[i]! ^ 0x55;
    fs.writeFileSync(packFile, damaged);
    const dest = path.join(work, 'damaged');
    try {
      // verify: the listing alone sees nothing wrong (same size); --deep reads the pack and names the files.
      expect((await verify({ ...remote() })).ok).toBe(true);
      const deep = await verify({ ...remote(), deep: true });
      expect(deep.problems.map((p) => [p.path, p.problem])).toEqual(sameContent.sort().map((p) => [p, 'sha256']));
      // Without the content cache: with it, an earlier pull's verified copy of that content is used and the damaged pack is never read.
      const err = await pull({ dir: dest, ...remote(), cacheDir: false, waitMs: 0 }).catch((e: unknown) => e);
      expect(isFlowsyncError(err, 'CHECKSUM_MISMATCH')).toBe(true);
      expect((err as Error).message).toContain(victim.path);
      const placed = readTree(dest, { exclude: excludeFlowsyncState });
      // Everything else landed; the damaged member's files did not (nor any temp file).
      for (const p of sameContent) expect(placed.has(p)).toBe(false);
      expect(placed.size).toBe(m.files.length - sameContent.length);
      expect(tempFiles(dest)).toEqual([]);
    } finally {
      fs.writeFileSync(packFile, saved);
    }
  });

  it('verify names the files of a missing blob, and a pulled folder that differs', async () => {
    const m = pointer();
    const big = m.files.find((e) => e.path === 'data/big.bin')!;
    const blob = path.join(storeDir, `.flowsync/blobs/${'sha256' in big ? big.sha256 : ''}`);
    const saved = fs.readFileSync(blob);
    fs.rmSync(blob);
    try {
      const r = await verify({ ...remote() });
      expect(r.problems.filter((p) => p.where === 'remote').map((p) => [p.path, p.problem])).toEqual([['data/big.bin', 'missing']]);
    } finally {
      fs.writeFileSync(blob, saved);
    }
    const dest = path.join(work, 'verify-dir');
    await pull({ dir: dest, ...remote() });
    fs.appendFileSync(path.join(dest, 'data/big.bin'), 'x');
    const local = await verify({ ...remote(), dir: dest, cacheDir: false });
    expect(local.problems).toEqual([expect.objectContaining({ path: 'data/big.bin', where: 'local', problem: 'sha256' })]);
  });

  it('gc keeps the current version and the newest N, deletes the rest and what only they used', async () => {
    const current = pointer();
    const dry = await gc({ ...remote(), keep: 0, graceMs: 0, dryRun: true });
    expect(dry.deletedVersions).toHaveLength(2);
    expect(fs.readdirSync(path.join(storeDir, '.flowsync/versions'))).toHaveLength(3);
    const r = await gc({ ...remote(), keep: 0, graceMs: 0 });
    expect(r.keptVersions).toHaveLength(1);
    expect(fs.readdirSync(path.join(storeDir, '.flowsync/versions'))).toHaveLength(1);
    // Every pack and blob left is one the current version uses or retains.
    const packs = fs.readdirSync(path.join(storeDir, '.flowsync/packs'));
    expect(packs.sort()).toEqual(current.packs.map((p) => `${p.sha256}.tar`).sort());
    expect(r.deletedObjects).toBeGreaterThan(0);
    const dest = path.join(work, 'after-gc');
    await pull({ dir: dest, ...remote() });
    expect(readTree(dest, { exclude: excludeFlowsyncState }).size).toBe(current.files.length);
  });

  it('--layout mirror converts back (and says so); --layout packed converts again', async () => {
    const warnings: string[] = [];
    const log_ = { info: () => {}, warn: (m: string) => warnings.push(m) };
    const m = await push({ dir: src, ...remote(), cacheDir, layout: 'mirror', log: log_ });
    expect(warnings.join('\n')).toMatch(/from the packed layout to mirror/);
    expect(m.uploaded).toBeGreaterThan(350);
    expect(fs.existsSync(path.join(storeDir, '.flowsync/packs'))).toBe(false);
    expect(parseManifest(fs.readFileSync(path.join(storeDir, '.flowsync/manifest.json'))).layout).toBe('mirror');
    // Sticky: a push without --layout keeps mirror.
    expect((await push({ dir: src, ...remote(), cacheDir })).uploaded).toBe(0);
    const back = await push({ dir: src, ...remote(), cacheDir, layout: 'packed', log: log_ });
    expect(warnings.join('\n')).toMatch(/from the mirror layout to packed/);
    expect(back.uploaded).toBeGreaterThan(350);
    expect(fs.readdirSync(storeDir)).toEqual(['.flowsync']);
    const dest = path.join(work, 'converted');
    await pull({ dir: dest, ...remote() });
    expect(same(src, dest)).toEqual([]);
  });
});

/** The last push wrote exactly `writes` (sha256 names as ID); the remote pulls to exactly `tree` and verifies deep. */
async function expectWritesThenExactPull(store: Counted, at: { remote: string; remoteOptions: { backend: Counted } }, writes: string[], tree: string, dest: string) {
  expect(store.calls.filter((c) => c.method === 'write').map((c) => c.key.replace(/[0-9a-f]{64}/, 'ID'))).toEqual(writes);
  await pull({ dir: dest, ...at });
  expect(same(tree, dest)).toEqual([]);
  expect((await verify({ ...at, deep: true })).problems).toEqual([]);
}

describe('packed layout: restoring a file', () => {
  it('a file deleted and later restored uploads nothing, even after gc --keep 0: the versions between retain its content', async () => {
    const dir = tempDir('packed-restore');
    try {
      const tree = path.join(dir, 'src');
      const store = counting(createLocalBackend({ root: path.join(dir, 'store') }));
      const at = { remote: path.join(dir, 'store'), remoteOptions: { backend: store }, cacheDir: path.join(dir, 'cache') };
      await generateTree(tree, { files: 60, seed: 5 });
      const small = crypto.randomBytes(3000);
      const big = crypto.randomBytes(BIG);
      const put = () => {
        fs.mkdirSync(path.join(tree, 'restore'), { recursive: true });
        fs.writeFileSync(path.join(tree, 'restore/small.txt'), small);
        fs.writeFileSync(path.join(tree, 'restore/big.bin'), big);
      };
      put();
      expect((await push({ dir: tree, ...at, layout: 'packed' })).uploaded).toBeGreaterThan(40);
      fs.rmSync(path.join(tree, 'restore'), { recursive: true });
      expect(await push({ dir: tree, ...at })).toMatchObject({ uploaded: 0, deleted: 2 });
      // Two more versions of unrelated edits, then gc keeps only the current one.
      for (const n of [1, 2]) {
        fs.writeFileSync(path.join(tree, `edit${n}.txt`), `edit ${n}`);
        expect((await push({ dir: tree, ...at })).uploaded).toBe(1);
      }
      const collected = await gc({ ...at, keep: 0, graceMs: 0 });
      expect(collected.deletedVersions).toHaveLength(3);
      put();
      store.reset();
      const restored = await push({ dir: tree, ...at, message: 'restored' });
      expect(restored).toMatchObject({ uploaded: 0, bytes: 0 });
      await expectWritesThenExactPull(store, at, ['.flowsync/versions/ID.json', '.flowsync/manifest.json'], tree, path.join(dir, 'dest'));
    } finally {
      removeDir(dir);
    }
  });

  it('a restored content whose object is gone (deleted by hand, or by an older gc) is uploaded again, with a warning', async () => {
    const dir = tempDir('packed-restore-lost');
    try {
      const tree = path.join(dir, 'src');
      const storeRoot = path.join(dir, 'store');
      const store = counting(createLocalBackend({ root: storeRoot }));
      const at = { remote: storeRoot, remoteOptions: { backend: store }, cacheDir: path.join(dir, 'cache') };
      await generateTree(tree, { files: 30, seed: 6 });
      const big = crypto.randomBytes(BIG);
      const small = crypto.randomBytes(2000);
      const put = () => {
        fs.writeFileSync(path.join(tree, 'lost.bin'), big);
        fs.writeFileSync(path.join(tree, 'kept.txt'), small);
      };
      put();
      await push({ dir: tree, ...at, layout: 'packed' });
      fs.rmSync(path.join(tree, 'lost.bin'));
      fs.rmSync(path.join(tree, 'kept.txt'));
      await push({ dir: tree, ...at });
      const sha = crypto.createHash('sha256').update(big).digest('hex');
      fs.rmSync(path.join(storeRoot, '.flowsync/blobs', sha));
      put();
      const warnings: string[] = [];
      store.reset();
      const r = await push({ dir: tree, ...at, log: { info: () => {}, warn: (m) => warnings.push(m) } });
      // The blob goes up again; the small file's pack is still there and is reused.
      expect(r).toMatchObject({ uploaded: 1, bytes: BIG });
      expect(warnings.join('\n')).toMatch(/1 object\(s\) holding content this push restores are gone .*uploaded again/);
      await expectWritesThenExactPull(store, at, ['.flowsync/blobs/ID', '.flowsync/versions/ID.json', '.flowsync/manifest.json'], tree, path.join(dir, 'dest'));
    } finally {
      removeDir(dir);
    }
  });
});
