/**
 * Pull's rules for local files, through the CLI: a file flowsync did not place is never
 * overwritten or deleted silently (exit 1, listed, nothing written; --force overrides), a file
 * changed after a pull and then dropped from the manifest is kept with a warning.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshot } from '../helpers/tree.js';
import { cliEnv, removeDir, requireBuiltCli, runCli, tempDir } from './support.js';

let work = '';
let env: NodeJS.ProcessEnv = {};
let n = 0;
beforeAll(() => {
  requireBuiltCli();
  work = tempDir('pull-rules');
  env = cliEnv(path.join(work, 'cache'));
});
afterAll(() => removeDir(work));

/** A source folder with the given files, pushed to a fresh store. */
async function pushed(files: Record<string, string>): Promise<{ src: string; store: string; dest: string }> {
  const base = path.join(work, `case-${n++}`);
  const src = path.join(base, 'src');
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(src, rel)), { recursive: true });
    fs.writeFileSync(path.join(src, rel), content);
  }
  const store = path.join(base, 'store');
  const r = await runCli(['push', src, store, '--json'], { env });
  expect(r.code, r.stderr).toBe(0);
  return { src, store, dest: path.join(base, 'dest') };
}

const pull = (store: string, dest: string, ...flags: string[]) => runCli(['pull', store, dest, ...flags], { env });

describe('pull conflicts', () => {
  it('a local file flowsync did not place, with other content: exit 1, listed, nothing written; --force overwrites', async () => {
    const { store, dest } = await pushed({ 'a.txt': 'remote a', 'b/c.txt': 'remote c', 'd.txt': 'remote d' });
    fs.mkdirSync(path.join(dest, 'b'), { recursive: true });
    fs.writeFileSync(path.join(dest, 'a.txt'), 'my own a');
    fs.writeFileSync(path.join(dest, 'b', 'c.txt'), 'my own c');
    fs.writeFileSync(path.join(dest, 'd.txt'), 'remote d'); // same content: not a conflict
    const before = snapshot(dest);

    const r = await pull(store, dest);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Pull stopped before changing anything .*2 local path\(s\)/);
    expect(r.stderr).toMatch(/^ {2}a\.txt: a file that flowsync did not place is in the way$/m);
    expect(r.stderr).toMatch(/^ {2}b\/c\.txt: a file that flowsync did not place is in the way$/m);
    expect(r.stderr).not.toMatch(/d\.txt/);
    expect(r.stderr).toMatch(/--force/);
    expect(snapshot(dest)).toEqual(before); // not even .flowsync/ was created

    const forced = await pull(store, dest, '--force', '--json');
    expect(forced.code, forced.stderr).toBe(0);
    expect(JSON.parse(forced.stdout)).toMatchObject({ command: 'pull', downloaded: 2, unchanged: 1, conflicts: ['a.txt', 'b/c.txt'] });
    expect(forced.stderr).toMatch(/warning: Overwrote a\.txt/);
    expect(fs.readFileSync(path.join(dest, 'a.txt'), 'utf8')).toBe('remote a');
    expect(fs.readFileSync(path.join(dest, 'b', 'c.txt'), 'utf8')).toBe('remote c');
  });

  it('a folder in the way is a conflict even with --force', async () => {
    const { store, dest } = await pushed({ 'x': 'file x' });
    fs.mkdirSync(path.join(dest, 'x'), { recursive: true });
    fs.writeFileSync(path.join(dest, 'x', 'inside.txt'), 'mine');
    const r = await pull(store, dest, '--force');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/x: a folder is in the way/);
    expect(r.stderr).toMatch(/Move them away and re-run/);
    expect(fs.readFileSync(path.join(dest, 'x', 'inside.txt'), 'utf8')).toBe('mine');
  });

  it('a file flowsync placed, changed locally, and changed at the source too: conflict', async () => {
    const { src, store, dest } = await pushed({ 'a.txt': 'v1' });
    expect((await pull(store, dest)).code).toBe(0);
    fs.writeFileSync(path.join(dest, 'a.txt'), 'local edit');
    fs.writeFileSync(path.join(src, 'a.txt'), 'v2');
    expect((await runCli(['push', src, store], { env })).code).toBe(0);
    const r = await pull(store, dest);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/a\.txt: changed locally since flowsync placed it/);
    expect(fs.readFileSync(path.join(dest, 'a.txt'), 'utf8')).toBe('local edit');
  });
});

describe('pull deletes only what it placed', () => {
  it('removes a placed, unchanged file the manifest dropped; keeps a changed one with a warning', async () => {
    const { src, store, dest } = await pushed({ 'keep.txt': 'k', 'drop.txt': 'd', 'edited.txt': 'e', 'sub/drop2.txt': 'd2' });
    expect((await pull(store, dest)).code).toBe(0);
    fs.writeFileSync(path.join(dest, 'stranger.txt'), 'not from flowsync');
    fs.writeFileSync(path.join(dest, 'edited.txt'), 'edited after the pull');
    for (const f of ['drop.txt', 'edited.txt', 'sub/drop2.txt']) fs.rmSync(path.join(src, f));
    expect((await runCli(['push', src, store], { env })).code).toBe(0);

    const r = await pull(store, dest, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ deleted: 2, unchanged: 1 });
    expect(r.stderr).toMatch(/warning: Kept edited\.txt: it changed locally since flowsync placed it/);
    expect(fs.existsSync(path.join(dest, 'drop.txt'))).toBe(false);
    expect(fs.existsSync(path.join(dest, 'sub'))).toBe(false); // emptied folder removed too
    expect(fs.readFileSync(path.join(dest, 'edited.txt'), 'utf8')).toBe('edited after the pull');
    expect(fs.readFileSync(path.join(dest, 'stranger.txt'), 'utf8')).toBe('not from flowsync');

    // The kept file is no longer flowsync's: later pulls leave it alone, without repeating the warning.
    const again = await pull(store, dest, '--json');
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ deleted: 0, warnings: [] });
    expect(fs.existsSync(path.join(dest, 'edited.txt'))).toBe(true);
  });
});

describe('--force and deletes', () => {
  it('deletes a placed file changed locally that the source dropped, and says so', async () => {
    const { src, store, dest } = await pushed({ 'keep.txt': 'k', 'edited.txt': 'e' });
    expect((await pull(store, dest)).code).toBe(0);
    fs.writeFileSync(path.join(dest, 'edited.txt'), 'edited after the pull');
    fs.rmSync(path.join(src, 'edited.txt'));
    expect((await runCli(['push', src, store], { env })).code).toBe(0);
    const r = await pull(store, dest, '--force', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ deleted: 1, conflicts: ['edited.txt'] });
    expect(r.stderr).toMatch(/warning: Deleted edited\.txt: changed locally since flowsync placed it, and the source no longer lists it/);
    expect(fs.existsSync(path.join(dest, 'edited.txt'))).toBe(false);
  });
});

describe('a link the user put in the destination', () => {
  it('never lets pull delete or chmod a file outside the destination through it', async () => {
    const { src, store, dest } = await pushed({ 'd/x.txt': 'same', 'd/run.sh': '#!/bin/sh\n', 'keep.txt': 'k' });
    expect((await pull(store, dest)).code).toBe(0);
    // The user moves d/ elsewhere and links it back in.
    const outside = path.join(path.dirname(dest), 'outside-d');
    fs.renameSync(path.join(dest, 'd'), outside);
    fs.symlinkSync(outside, path.join(dest, 'd'));
    // The source drops d/x.txt and makes d/run.sh executable.
    fs.rmSync(path.join(src, 'd', 'x.txt'));
    fs.chmodSync(path.join(src, 'd', 'run.sh'), 0o755);
    expect((await runCli(['push', src, store], { env })).code).toBe(0);

    const r = await pull(store, dest);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Refusing to (delete|change the mode of) d\/(x\.txt|run\.sh): its folder resolves to .*outside-d, outside .*a link in the way/);
    expect(fs.readFileSync(path.join(outside, 'x.txt'), 'utf8')).toBe('same');
    expect(fs.statSync(path.join(outside, 'run.sh')).mode & 0o111).toBe(0);
  });
});

describe('an object that cannot be read', () => {
  it('does not stop the other files: they land, and the pull exits 1 naming the missing one', async () => {
    const { src, store, dest } = await pushed({ 'a.txt': 'a', 'broken.txt': 'will be unreadable', 'd/c.txt': 'c', 'e.txt': 'e' });
    // The object becomes a folder in the store: every read of it fails (NOT_FOUND), retried or not.
    fs.rmSync(path.join(store, 'broken.txt'));
    fs.mkdirSync(path.join(store, 'broken.txt'));
    // One at a time, in path order: the files after the broken one are fetched after it fails.
    const r = await pull(store, dest, '--concurrency', '1');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/incomplete: 1 file\(s\) could not be downloaded; everything else was placed\.\n\s+broken\.txt: /);
    const read = (rel: string) => fs.readFileSync(path.join(dest, rel), 'utf8');
    expect([read('a.txt'), read('d/c.txt'), read('e.txt')]).toEqual(['a', 'c', 'e']);
    expect(fs.existsSync(path.join(dest, 'broken.txt'))).toBe(false);
    expect(fs.readdirSync(dest).filter((f) => f.includes('.flowsync-tmp-'))).toEqual([]);
    // Once the object is back, the next pull fetches just that one.
    fs.rmdirSync(path.join(store, 'broken.txt'));
    fs.writeFileSync(path.join(store, 'broken.txt'), fs.readFileSync(path.join(src, 'broken.txt')));
    const again = await pull(store, dest, '--json');
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ downloaded: 1, conflicts: [] });
  });
});
