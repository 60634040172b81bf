/**
 * Big walks stat their files on a second thread (walk/stat-thread.ts): the visitor must see the
 * same files in the same order with the same numbers as a walk that stats them itself.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ignoreRulesFromText } from '../../src/walk/ignore-rules.js';
import { STAT_FIELDS, STAT_GONE, STAT_OK, StatThread, type FileStat } from '../../src/walk/stat-thread.js';
import { walkTree } from '../../src/walk/walk.js';
import { tempDir } from '../e2e/support.js';

let work = '';
let root = '';
beforeAll(() => {
  work = tempDir('stat-thread');
  root = path.join(work, 'tree');
  // 6,000 files in 300 folders (the walk yields between folders, so the thread comes up
  // early), exec bits, empty files, an ignored folder, and a link followed to a file.
  for (let d = 0; d < 300; d++) {
    const dir = path.join(root, `pkg${d % 7}`, `mod-${d}`);
    fs.mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 20; f++) fs.writeFileSync(path.join(dir, `f${f}.py`), f === 0 ? '' : `x = ${d * 100 + f}\n`);
    if (d % 50 === 0) fs.chmodSync(path.join(dir, 'f1.py'), 0o755);
  }
  fs.mkdirSync(path.join(root, 'node_modules', 'dep'), { recursive: true });
  fs.writeFileSync(path.join(root, 'node_modules', 'dep', 'index.js'), '');
  fs.symlinkSync('mod-3/f2.py', path.join(root, 'pkg3', 'linked.py'));
});
afterAll(() => {
  execFileSync('rm', ['-rf', work]);
});

type Seen = { rel: string; full: string; st: FileStat; threaded: boolean };

/** `slowUntilThreaded`: the visitor dawdles over files stat'ed here, so a loaded machine still gets the thread up before the walk ends. */
async function walkWith(statThreadAfter: number, slowUntilThreaded = false): Promise<Seen[]> {
  const seen: Seen[] = [];
  const ignore = ignoreRulesFromText('node_modules/\n');
  await walkTree(root, { ignore, followLinks: true, statThreadAfter }, (rel, full, st) => {
    if (slowUntilThreaded && st instanceof fs.Stats && !seen.some((s) => s.threaded)) {
      const until = performance.now() + 0.3;
      while (performance.now() < until);
    }
    seen.push({ rel, full, st: { size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino, mode: st.mode }, threaded: !(st instanceof fs.Stats) });
  });
  return seen;
}

describe('the stat thread', () => {
  it('gives a walk the same files, order and numbers as stats on its own thread', async () => {
    const here = await walkWith(Number.POSITIVE_INFINITY);
    const threaded = await walkWith(0, true);
    expect(here.every((s) => !s.threaded)).toBe(true);
    // The first files are stat'ed here while the thread starts; then all come from it.
    const first = threaded.findIndex((s) => s.threaded);
    expect(first).toBeGreaterThanOrEqual(0);
    expect(threaded.slice(first).every((s) => s.threaded || s.rel === 'pkg3/linked.py')).toBe(true);
    expect(threaded.map(({ rel, full, st }) => ({ rel, full, st }))).toEqual(here.map(({ rel, full, st }) => ({ rel, full, st })));
    expect(here.length).toBe(6001);
    expect(here.map((s) => s.rel)).toContain('pkg3/linked.py');
    expect(here.map((s) => s.rel)).not.toContain('node_modules/dep/index.js');
  });

  it('answers each path with lstat\'s numbers or "gone", and null once closed', async () => {
    const file = path.join(root, 'pkg1', 'mod-1', 'f3.py');
    const link = path.join(root, 'pkg3', 'linked.py');
    const thread = StatThread.start();
    expect(thread).not.toBeNull();
    const nums = (await thread!.stat([file, path.join(root, 'missing.py'), link]))!;
    expect(nums).toHaveLength(3 * STAT_FIELDS);
    for (const [i, p] of [[0, file], [2, link]] as const) {
      const st = fs.lstatSync(p); // a link is described itself, not its target
      expect([...nums.subarray(i * STAT_FIELDS, (i + 1) * STAT_FIELDS)]).toEqual([st.size, st.mtimeMs, st.ctimeMs, st.ino, st.mode, STAT_OK]);
    }
    expect(nums[1 * STAT_FIELDS + 5]).toBe(STAT_GONE);
    thread!.close();
    expect(await thread!.stat([file])).toBeNull();
  });
});
