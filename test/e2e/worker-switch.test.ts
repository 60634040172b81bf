/**
 * `pull --switch` (DESIGN §12) on a local store: a reader process looping over the tree while 10
 * versions are switched in never sees files of two versions or a missing file; old versions go
 * only when nothing holds them; the first switch into a plain folder loses nothing; a plain pull
 * into a switched folder is refused; two switch pulls into one folder take turns.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { holdVersion } from '../../src/cache/version-holds.js';
import { pull, push } from '../../src/index.js';
import { compareTrees, excludeFlowsyncState } from '../helpers/tree.js';
import { removeDir, tempDir } from './support.js';

let work = '';
beforeAll(() => {
  work = tempDir('worker-switch');
});
afterAll(() => removeDir(work));

/** Version i: an index naming its files (a different set each time), each file tagged with i. */
function writeVersion(src: string, i: number): void {
  fs.rmSync(src, { recursive: true, force: true });
  const files = Array.from({ length: 10 + i }, (_, k) => `m${k % 3}/f${k}.txt`);
  for (const f of files) {
    fs.mkdirSync(path.join(src, path.dirname(f)), { recursive: true });
    fs.writeFileSync(path.join(src, f), `v${i}:${f}\n`.repeat(50));
  }
  fs.writeFileSync(path.join(src, 'index.txt'), [`v${i}`, ...files].join('\n'));
}

// Resolves the link once per round, works from inside the version (its working directory holds
// it), reads every file the index names, and reports what it saw when told to stop.
const READER = `
const fs = require('fs');
const path = require('path');
const dir = process.argv[1];
let rounds = 0;
const errors = [];
const seen = new Set();
function round() {
  try {
    process.chdir(fs.realpathSync(dir));
    const [tag, ...files] = fs.readFileSync('index.txt', 'utf8').split('\\n');
    seen.add(tag);
    for (const f of files) {
      const c = fs.readFileSync(f, 'utf8');
      if (!c.startsWith(tag + ':')) errors.push('mix: ' + f + ' of ' + c.slice(0, 4) + ' in ' + tag);
    }
    const listed = fs.readdirSync('.', { recursive: true }).filter((p) => p.endsWith('.txt') && !p.startsWith('.flowsync'));
    if (listed.length !== files.length + 1) errors.push('extra files in ' + tag + ': ' + listed.length);
  } catch (err) {
    errors.push(String(err.message));
  } finally {
    process.chdir('/');
  }
  rounds++;
  setImmediate(round);
}
round();
process.stdin.on('data', () => {
  process.stdout.write(JSON.stringify({ rounds, errors: errors.slice(0, 10), seen: [...seen] }));
  process.exit(0);
});
`;

describe('pull --switch', () => {
  it('a reader never sees a mix of versions or a missing file; old versions go when nothing holds them', async () => {
    const src = path.join(work, 'src');
    const store = path.join(work, 'store');
    const dir = path.join(work, 'live');
    const cacheDir = path.join(work, 'cache');
    writeVersion(src, 0);
    await push({ dir: src, remote: store, cacheDir: false });
    const first = await pull({ remote: store, dir, switch: true, cacheDir, keep: 3 });
    expect(fs.lstatSync(dir).isSymbolicLink()).toBe(true);
    const hold = await holdVersion(dir); // this process holds version 0 throughout
    expect(hold.path).toBe(first.directory);

    const reader = spawn(process.execPath, ['-e', READER, dir], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    reader.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise((r) => reader.once('exit', r));
    const directories: string[] = [];
    try {
      for (let i = 1; i <= 10; i++) {
        writeVersion(src, i);
        await push({ dir: src, remote: store, cacheDir: false });
        const r = await pull({ remote: store, dir, switch: true, cacheDir, keep: 3 });
        directories.push(r.directory!);
        expect(fs.realpathSync(dir)).toBe(r.directory);
      }
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      reader.stdin!.write('stop\n');
      await exited;
    }
    const seen = JSON.parse(out) as { rounds: number; errors: string[]; seen: string[] };
    expect(seen.errors).toEqual([]);
    expect(seen.seen.length).toBeGreaterThan(1); // it did read across switches
    expect(seen.seen).toContain('v10');
    expect(compareTrees(src, dir, { excludeActual: excludeFlowsyncState })).toEqual([]);

    const versions = () => fs.readdirSync(`${dir}.versions`).filter((n) => !n.startsWith('.')).sort();
    // The held version 0 survived ten switches with --keep 3.
    expect(versions()).toContain(path.basename(first.directory!));
    await hold.release();
    // The same version again: nothing to pull, but the prune runs and may now take version 0.
    const again = await pull({ remote: store, dir, switch: true, cacheDir, keep: 3 });
    expect(again).toMatchObject({ downloaded: 0, fromCache: 0, directory: directories.at(-1) });
    expect(versions()).toEqual(directories.slice(-3).map((d) => path.basename(d)));
  });

  it('the first switch into a plain folder moves it aside untouched; a plain pull into a switched folder is refused', async () => {
    const src = path.join(work, 'src2');
    const store = path.join(work, 'store2');
    const dir = path.join(work, 'plain');
    writeVersion(src, 1);
    await push({ dir: src, remote: store, cacheDir: false });
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine');
    const warnings: string[] = [];
    const r = await pull({ remote: store, dir, switch: true, cacheDir: false, log: { info: () => {}, warn: (m) => warnings.push(m) } });
    const moved = fs.readdirSync(`${dir}.versions`).find((n) => n.startsWith('original-'))!;
    expect(warnings.join('\n')).toContain(`${dir} was a plain folder: moved it, unchanged, to ${path.join(`${dir}.versions`, moved)}`);
    expect(r.warnings.join('\n')).toContain('was a plain folder');
    expect(fs.readFileSync(path.join(`${dir}.versions`, moved, 'notes.txt'), 'utf8')).toBe('mine');
    expect(compareTrees(src, dir, { excludeActual: excludeFlowsyncState })).toEqual([]);
    const err = await pull({ remote: store, dir, cacheDir: false }).catch((e) => e);
    expect(err.code).toBe('CONFLICT');
    expect(err.message).toMatch(/made by pull --switch .*Pull with --switch/);
  });

  it('two switch pulls into one folder take turns; the link ends on a complete version', async () => {
    const src = path.join(work, 'src3');
    const store = path.join(work, 'store3');
    const dir = path.join(work, 'twice');
    writeVersion(src, 2);
    await push({ dir: src, remote: store, cacheDir: false });
    const [a, b] = await Promise.all([
      pull({ remote: store, dir, switch: true, cacheDir: false }),
      pull({ remote: store, dir, switch: true, cacheDir: false }),
    ]);
    // One materialised the version; the other found it current (it waited for the lock).
    expect([a.downloaded, b.downloaded].sort((x, y) => x - y)).toEqual([0, 13]);
    expect([a.unchanged, b.unchanged].sort((x, y) => x - y)).toEqual([0, 13]);
    expect(a.directory).toBe(b.directory);
    expect(compareTrees(src, dir, { excludeActual: excludeFlowsyncState })).toEqual([]);
    expect(fs.readdirSync(`${dir}.versions`).filter((n) => n.startsWith('.partial-'))).toEqual([]);
  });
});
