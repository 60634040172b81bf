/**
 * Acceptance: push → pull round trip of a generated 5,000-file tree on the local store, then the
 * incremental cases (nothing changed; 3 changed + 1 deleted; --no-delete).
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pull, push, scan } from '../../src/index.js';
import { parseManifest } from '../../src/manifest/codec.js';
import { compareTrees, excludeFlowsyncState, generateTree, readTree, snapshot, tempFiles, type GeneratedTree } from '../helpers/tree.js';
import { progressRecorder, removeDir, tempDir } from './support.js';

const FILES = 5000;
const BIG = 50 * 1024 * 1024;

let work = '';
let src = '';
let storeDir = '';
let store = '';
let dest = '';
let cacheDir = '';
let tree: GeneratedTree;

const ignoredInSource = (rel: string) => rel === 'node_modules' || rel.endsWith('.pyc');
const manifestFile = () => path.join(storeDir, '.flowsync', 'manifest.json');
const readManifest = () => parseManifest(fs.readFileSync(manifestFile()));

beforeAll(async () => {
  work = tempDir('roundtrip');
  src = path.join(work, 'src');
  storeDir = path.join(work, 'store');
  store = pathToFileURL(storeDir).href; // file:// form here; the CLI tests use plain paths
  dest = path.join(work, 'dest');
  cacheDir = path.join(work, 'cache');
  tree = await generateTree(src, { files: FILES, bigFileBytes: BIG, seed: 5000 });
});

afterAll(() => removeDir(work));

describe('push → pull round trip of a 5,000-file tree', () => {
  it('gives a byte-identical tree (content, exec bits, links), ignored files excluded', async () => {
    const t0 = Date.now();
    const pushed = await push({ dir: src, remote: store, cacheDir });
    const pushMs = Date.now() - t0;
    const fileCount = tree.kept.length - Object.keys(tree.links).length;
    expect(fileCount).toBeGreaterThanOrEqual(FILES);
    const linkCount = Object.keys(tree.links).length;
    // Files count where their bytes moved, links (set without moving bytes) as updated: the same on both sides.
    expect(pushed).toMatchObject({ command: 'push', uploaded: fileCount, updated: linkCount, deleted: 0, unchanged: 0, warnings: [] });
    expect(pushed.manifest).toMatch(/^[0-9a-f]{64}$/);

    // The manifest lists exactly the kept paths; nothing ignored reached the store.
    const m = readManifest();
    expect(m.files.map((e) => e.path).sort()).toEqual([...tree.kept].sort());
    expect(fs.existsSync(path.join(storeDir, 'node_modules'))).toBe(false);
    expect(fs.existsSync(path.join(storeDir, 'cache.pyc'))).toBe(false);
    expect(fs.statSync(path.join(storeDir, 'data/big.bin')).size).toBe(BIG);
    // Links live only in the manifest: no object was written for them.
    for (const l of Object.keys(tree.links)) expect(fs.existsSync(path.join(storeDir, l))).toBe(false);

    const t1 = Date.now();
    const pulled = await pull({ remote: store, dir: dest });
    const pullMs = Date.now() - t1;
    expect(pulled).toMatchObject({ command: 'pull', downloaded: fileCount, updated: linkCount, deleted: 0, conflicts: [] });
    expect(compareTrees(src, dest, { excludeExpected: ignoredInSource, excludeActual: excludeFlowsyncState })).toEqual([]);

    // The comparison above would pass on two empty trees: check what it compared.
    const got = readTree(dest, { exclude: excludeFlowsyncState });
    expect(got.size).toBe(tree.kept.length);
    expect(got.get('bin/run.sh')).toMatchObject({ kind: 'file', exec: true });
    expect(got.get('empty.txt')).toMatchObject({ kind: 'file', size: 0 });
    expect(got.get('links/to-folder')).toEqual({ kind: 'link', target: '../pkg1' });
    expect(got.has('caf\u00e9-nfc.txt') && got.has('cafe\u0301-nfd.txt')).toBe(true);
    expect(fs.statSync(path.join(dest, 'links/to-folder')).isDirectory()).toBe(true);
    expect(tempFiles(dest, storeDir)).toEqual([]);
    process.stderr.write(`round trip: push ${tree.kept.length} entries + 50 MB in ${pushMs} ms, pull in ${pullMs} ms\n`);
  });

  it('a second push with no change uploads 0 files and reads 0 file contents', async () => {
    const before = snapshot(storeDir);
    const rec = progressRecorder();
    const r = await push({ dir: src, remote: store, cacheDir, onProgress: rec.onProgress });
    expect(r).toMatchObject({ uploaded: 0, deleted: 0, bytes: 0, unchanged: tree.kept.length });
    // The hash phase is told how many files it must read: none (all answered by the stat cache).
    const hash = rec.events.filter((e) => e.phase === 'hash');
    expect(hash.length).toBeGreaterThan(0);
    expect(hash.every((e) => e.filesTotal === 0 && e.total === 0)).toBe(true);
    expect(rec.events.some((e) => e.phase === 'upload' || e.phase === 'manifest')).toBe(false);
    // The same through the scan API: 0 files and 0 bytes read.
    const s = await scan({ dir: src, cacheDir });
    expect({ filesRead: s.filesRead, bytesRead: s.bytesRead }).toEqual({ filesRead: 0, bytesRead: 0 });
    // Not even the manifest was rewritten.
    expect(snapshot(storeDir)).toEqual(before);
  });

  it('changing 3 files and deleting 1 uploads exactly 3 and deletes exactly 1; pull follows', async () => {
    const files = tree.kept.filter((p) => !(p in tree.links) && p !== tree.bigFile && p !== '.prefectignore');
    const changed = [files[10]!, files[500]!, files[4000]!];
    const removed = files[2000]!;
    fs.appendFileSync(path.join(src, changed[0]!), 'more');
    fs.writeFileSync(path.join(src, changed[1]!), 'replaced entirely');
    // Same size, new bytes: only the stat (mtime/ctime) tells, and the hash must then differ.
    const third = path.join(src, changed[2]!);
    const old = fs.readFileSync(third);
    fs.writeFileSync(third, Buffer.from(old.map((b) => b ^ 0xff)));
    fs.rmSync(path.join(src, removed));
    expect(fs.existsSync(path.join(storeDir, removed))).toBe(true);

    const rec = progressRecorder();
    const r = await push({ dir: src, remote: store, cacheDir, onProgress: rec.onProgress });
    expect(r).toMatchObject({ uploaded: 3, deleted: 1 });
    expect(rec.last('hash')?.filesTotal).toBe(3); // only the changed files were read
    expect(fs.existsSync(path.join(storeDir, removed))).toBe(false);
    const m = readManifest();
    expect(m.files.some((e) => e.path === removed)).toBe(false);
    for (const c of changed) expect(fs.readFileSync(path.join(storeDir, c))).toEqual(fs.readFileSync(path.join(src, c)));

    const p = await pull({ remote: store, dir: dest });
    expect(p).toMatchObject({ downloaded: 3, deleted: 1, unchanged: tree.kept.length - 4 });
    expect(fs.existsSync(path.join(dest, removed))).toBe(false);
    expect(compareTrees(src, dest, { excludeExpected: ignoredInSource, excludeActual: excludeFlowsyncState })).toEqual([]);
  });

  it('--no-delete keeps the remote object (push) and the local copy (pull)', async () => {
    const victim = tree.kept.find((p) => p.startsWith('pkg5/') && !(p in tree.links))!;
    fs.rmSync(path.join(src, victim));
    const r = await push({ dir: src, remote: store, cacheDir, delete: false });
    expect(r).toMatchObject({ uploaded: 0, deleted: 0 });
    expect(fs.existsSync(path.join(storeDir, victim))).toBe(true); // kept in the store
    expect(readManifest().files.some((e) => e.path === victim)).toBe(false); // but no longer listed

    const kept = await pull({ remote: store, dir: dest, delete: false });
    expect(kept.deleted).toBe(0);
    expect(fs.existsSync(path.join(dest, victim))).toBe(true);
    // A later pull with deletes on removes it: it was still on record as placed by flowsync.
    const later = await pull({ remote: store, dir: dest });
    expect(later.deleted).toBe(1);
    expect(fs.existsSync(path.join(dest, victim))).toBe(false);
    expect(compareTrees(src, dest, { excludeExpected: ignoredInSource, excludeActual: excludeFlowsyncState })).toEqual([]);
  });
});
