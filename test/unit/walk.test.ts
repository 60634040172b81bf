/**
 * The walker on real trees: special names, refused names, pruning of ignored folders, links
 * (in-tree, outside, dangling, through another link, --follow-links), non-regular files.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowsyncError, isFlowsyncError } from '../../src/errors.js';
import { scanTree } from '../../src/sync/scan.js';
import { ignoreRulesFromText, loadIgnoreRules, type IgnoreMatcher } from '../../src/walk/ignore-rules.js';
import { walk, type WalkedEntry } from '../../src/walk/walk.js';
import { SPECIAL_NAMES } from '../helpers/tree.js';
import { isRoot, removeDir, tempDir } from '../e2e/support.js';

let work = '';
let n = 0;
beforeAll(() => {
  work = tempDir('walk');
});
afterAll(() => {
  // A folder tree deeper than PATH_MAX defeats fs.rm; rm -rf walks it relative to each folder.
  execFileSync('rm', ['-rf', work]);
});

/** A fresh tree from a spec: 'path' → content, or { link } / { dir }. */
function tree(spec: Record<string, string | { link: string } | { dir: true } | { exec: string }>): string {
  const root = path.join(work, `t${n++}`);
  fs.mkdirSync(root);
  for (const [rel, v] of Object.entries(spec)) {
    const full = path.join(root, rel);
    fs.mkdirSync(path.dirname(full), { recursive: true });
    if (typeof v === 'string') fs.writeFileSync(full, v);
    else if ('link' in v) fs.symlinkSync(v.link, full);
    else if ('exec' in v) {
      fs.writeFileSync(full, v.exec);
      fs.chmodSync(full, 0o755);
    } else fs.mkdirSync(full, { recursive: true });
  }
  return root;
}

const noIgnore = ignoreRulesFromText('');
const paths = (entries: WalkedEntry[]) => entries.map((e) => e.path).sort();

async function walkError(root: string, ignore: IgnoreMatcher = noIgnore): Promise<FlowsyncError> {
  try {
    await walk(root, { ignore });
  } catch (err) {
    if (isFlowsyncError(err)) return err;
    throw err;
  }
  throw new Error('walk accepted the tree');
}

describe('names', () => {
  it('takes names with spaces, #, [, !, a leading -, unicode (NFC and NFD), astral characters, as they are', async () => {
    const spec: Record<string, string> = {};
    for (const name of SPECIAL_NAMES) {
      spec[name] = name;
      spec[`dir with space/[x]#/${name}`] = name;
    }
    const root = tree(spec);
    const { entries, warnings } = await walk(root, { ignore: noIgnore });
    expect(warnings).toEqual([]);
    expect(paths(entries)).toEqual(Object.keys(spec).sort());
    expect(paths(entries)).toContain('caf\u00e9-nfc.txt');
    expect(paths(entries)).toContain('cafe\u0301-nfd.txt'); // not normalised into the NFC one
  });

  it.each([
    ['a file name with a newline', 'bad\nname.txt', 'control character'],
    ['a file name with a carriage return', 'bad\rname.txt', 'control character'],
    ['a file name with a tab', 'tab\tname', 'control character'],
    ['a file name with a backslash', 'back\\slash.txt', 'backslash'],
    ['a folder name with a newline', 'dir\nx/file.txt', 'control character'],
    ['a folder name with a backslash', 'dir\\x/file.txt', 'backslash'],
  ])('refuses %s with a clear message naming it and the fix', async (_what, rel, why) => {
    const root = tree({ 'ok.txt': 'ok', [rel]: 'x' });
    const err = await walkError(root);
    expect(err.code).toBe('INVALID_INPUT');
    const shown = JSON.stringify(rel.split('/')[0] === rel ? rel : rel.split('/')[0]);
    expect(err.message).toContain(shown);
    expect(err.message).toContain(why);
    expect(err.message).toMatch(/Rename it, or add it to the ignore file/);
  });

  it('does not refuse such a name when it is ignored', async () => {
    const root = tree({ 'ok.txt': 'ok', 'bad\nname.log': 'x', 'back\\slash.log': 'y', '.prefectignore': '*.log\n' });
    const { entries } = await walk(root, { ignore: await loadIgnoreRules(root) });
    expect(paths(entries)).toEqual(['.prefectignore', 'ok.txt']);
  });

  it('skips flowsync\'s own .flowsync/ folder at the root only', async () => {
    const root = tree({ '.flowsync/state.json': '{}', 'sub/.flowsync/kept.txt': 'k', 'a.txt': 'a' });
    expect(paths((await walk(root, { ignore: noIgnore })).entries)).toEqual(['a.txt', 'sub/.flowsync/kept.txt']);
  });

  it('takes the ignore file itself unless it ignores itself', async () => {
    const root = tree({ '.prefectignore': '*.pyc\n', 'a.py': '', 'a.pyc': '' });
    expect(paths((await walk(root, { ignore: await loadIgnoreRules(root) })).entries)).toEqual(['.prefectignore', 'a.py']);
    const self = tree({ '.prefectignore': '*.pyc\n.prefectignore\n', 'a.py': '', 'a.pyc': '' });
    expect(paths((await walk(self, { ignore: await loadIgnoreRules(self) })).entries)).toEqual(['a.py']);
  });
});

describe('pruning ignored folders', () => {
  it('never asks about anything inside an ignored folder', async () => {
    const root = tree({ '.prefectignore': 'node_modules/\nbuild/\n', 'a.js': '', 'node_modules/x/y/z.js': '', 'src/build/out.o': '', 'src/b.js': '' });
    const inner = await loadIgnoreRules(root);
    const asked: string[] = [];
    const recording: IgnoreMatcher = {
      source: inner.source,
      ignores: (rel, isDir) => {
        asked.push(rel);
        return inner.ignores(rel, isDir);
      },
    };
    const { entries } = await walk(root, { ignore: recording });
    expect(paths(entries)).toEqual(['.prefectignore', 'a.js', 'src/b.js']);
    expect(asked).toContain('node_modules');
    expect(asked).toContain('src/build');
    expect(asked.filter((p) => p.startsWith('node_modules/') || p.startsWith('src/build/'))).toEqual([]);
  });

  it('does not open an ignored folder at all: one nested deeper than PATH_MAX does not fail the push', async () => {
    // Any readdir inside this folder fails with ENAMETOOLONG (even for root, who can read
    // anything), so the walk succeeding proves it never went in.
    const root = tree({ '.prefectignore': 'vendor/\n', 'keep.txt': 'k' });
    const segment = 'd'.repeat(200);
    execFileSync('sh', ['-c', `cd vendor 2>/dev/null || { mkdir vendor && cd vendor; }; i=0; while [ $i -lt 25 ]; do mkdir ${segment} && cd ${segment}; i=$((i+1)); done; echo x > deep.txt`], { cwd: root });
    // The same tree not ignored: the walk must fail, or this test proves nothing.
    const err = await walkError(root);
    expect(err.message).toMatch(/vendor/);
    const { entries } = await walk(root, { ignore: await loadIgnoreRules(root) });
    expect(paths(entries)).toEqual(['.prefectignore', 'keep.txt']);
  });

  it('does not read an ignored folder it has no permission to read', async (ctx) => {
    if (isRoot) {
      ctx.skip(true, 'running as root: chmod 000 does not stop root from reading (the PATH_MAX test above proves pruning instead)');
    }
    const root = tree({ '.prefectignore': 'secret/\n', 'keep.txt': 'k', 'secret/x.txt': 'x' });
    fs.chmodSync(path.join(root, 'secret'), 0o000);
    try {
      expect(paths((await walk(root, { ignore: await loadIgnoreRules(root) })).entries)).toEqual(['.prefectignore', 'keep.txt']);
      expect((await walkError(root)).message).toMatch(/permission denied/);
    } finally {
      fs.chmodSync(path.join(root, 'secret'), 0o755);
    }
  });
});

describe('links', () => {
  it('records in-tree links (to a file, to a folder, with ..) and does not descend linked folders', async () => {
    const root = tree({ 'lib/v2/mod.py': 'v2', 'lib/current': { link: 'v2' }, 'bin/tool': { link: '../lib/v2/mod.py' }, 'top': { link: 'lib' } });
    const { entries, warnings } = await walk(root, { ignore: noIgnore });
    expect(warnings).toEqual([]);
    expect(entries.filter((e) => e.kind === 'link').map((e) => [e.path, e.kind === 'link' && e.target]).sort()).toEqual([
      ['bin/tool', '../lib/v2/mod.py'],
      ['lib/current', 'v2'],
      ['top', 'lib'],
    ]);
    expect(paths(entries)).toEqual(['bin/tool', 'lib/current', 'lib/v2/mod.py', 'top']);
  });

  it('matches a link to a folder as git does: as a file, unless links are followed', async () => {
    const root = tree({ 'real/x.py': 'x', 'build': { link: 'real' }, 'other/y.py': 'y' });
    const ignore = ignoreRulesFromText('build/\nother/\n');
    // `build/` names folders; git does not apply it to a link, so the link is kept.
    expect(paths((await walk(root, { ignore })).entries)).toEqual(['build', 'real/x.py']);
    // Followed, the link is walked as the folder it points to, and `build/` prunes it.
    expect(paths((await walk(root, { ignore, followLinks: true })).entries)).toEqual(['real/x.py']);
  });

  it('skips links leaving the tree, absolute links and dangling links, each with a warning', async () => {
    const outside = path.join(work, `outside-${n}`);
    fs.writeFileSync(outside, 'outside content');
    const root = tree({
      'a.txt': 'a',
      'out-rel': { link: `../${path.basename(outside)}` },
      'out-abs': { link: outside },
      'abs-inside': { link: '/etc/hostname' },
      'dangling': { link: 'nope.txt' },
    });
    const { entries, warnings } = await walk(root, { ignore: noIgnore });
    expect(paths(entries)).toEqual(['a.txt']);
    expect(warnings.join('\n')).toMatch(/Skipped link out-rel .*points outside the folder.*--follow-links/);
    expect(warnings.join('\n')).toMatch(/Skipped link out-abs .*absolute/);
    expect(warnings.join('\n')).toMatch(/Skipped link dangling -> nope.txt: its target does not exist/);
    expect(warnings).toHaveLength(4);
  });

  it('skips a link whose target passes through another link (pull would refuse it)', async () => {
    const root = tree({ 'd/f': 'f', 'd/up': { link: '..' }, 'x': { link: 'd/up/d/f' } });
    const { entries, warnings } = await walk(root, { ignore: noIgnore });
    expect(paths(entries)).toEqual(['d/f', 'd/up']);
    expect(warnings.join('\n')).toMatch(/Skipped link x -> d\/up\/d\/f: its target passes through the link "d\/up"/);
  });

  it('--follow-links takes the content of what links point to, descends linked folders, stops loops', async () => {
    const outside = path.join(work, `outside-dir-${n}`);
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'o.txt'), 'from outside');
    const root = tree({ 'lib/v2/mod.py': 'v2', 'cur': { link: 'lib/v2' }, 'ext': { link: outside }, 'lib/v2/loop': { link: '..' } });
    const { entries, warnings } = await walk(root, { ignore: noIgnore, followLinks: true });
    expect(entries.every((e) => e.kind === 'file')).toBe(true);
    expect(paths(entries)).toEqual(['cur/mod.py', 'ext/o.txt', 'lib/v2/mod.py']);
    expect(warnings.join('\n')).toMatch(/loop back/);
    const s = await scanTree({ dir: root, followLinks: true, cacheDir: false });
    expect(s.manifest.files.find((e) => e.path === 'ext/o.txt')).toMatchObject({ size: 12 });
  });
});

describe('other input', () => {
  it('warns about (and skips) what is neither a file, a folder nor a link', async () => {
    const root = tree({ 'a.txt': 'a' });
    execFileSync('mkfifo', [path.join(root, 'pipe')]);
    const { entries, warnings } = await walk(root, { ignore: noIgnore });
    expect(paths(entries)).toEqual(['a.txt']);
    expect(warnings).toEqual(['Skipped pipe: not a regular file, folder or link.']);
  });

  it('carries the exec bit', async () => {
    const root = tree({ 'run.sh': { exec: '#!/bin/sh\n' }, 'data.txt': 'd' });
    const modes = Object.fromEntries((await walk(root, { ignore: noIgnore })).entries.map((e) => [e.path, e.kind === 'file' ? e.mode : 0]));
    expect(modes).toEqual({ 'run.sh': 0o755, 'data.txt': 0o644 });
  });

  it('refuses a missing folder (NOT_FOUND) and a file given as the folder (INVALID_INPUT)', async () => {
    const missing = await walkError(path.join(work, 'does-not-exist'));
    expect(missing.code).toBe('NOT_FOUND');
    expect(missing.message).toMatch(/does not exist/);
    const file = path.join(work, 'plain-file');
    fs.writeFileSync(file, '');
    const notDir = await walkError(file);
    expect(notDir.code).toBe('INVALID_INPUT');
    expect(notDir.message).toMatch(/is not a folder/);
  });
});
