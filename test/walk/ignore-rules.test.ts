/**
 * Ignore rules by hand: a table of patterns and paths with the answers git gives (each was also
 * checked with `git check-ignore`), the walker's view (pruning, re-including), loading the file,
 * and speed. The generated comparison with real git is in ignore-oracle.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFlowsyncError } from '../../src/errors.js';
import { DEFAULT_IGNORE_FILE, ignoreRulesFromText, loadIgnoreRules, type IgnoreMatcher } from '../../src/walk/ignore-rules.js';

type Case = [text: string, relPath: string, isDir: boolean, ignored: boolean, why: string];

const CASES: Case[] = [
  ['', 'a', false, false, 'an empty file ignores nothing'],
  ['foo', 'foo', false, true, 'a name matches a file'],
  ['foo', 'foo', true, true, 'a name matches a folder'],
  ['foo', 'a/b/foo', false, true, 'a name without a slash matches at any depth'],
  ['foo', 'foobar', false, false, 'a name matches whole names only'],
  ['foo', 'xfoo', false, false, 'a name matches whole names only'],
  ['foo', 'foo', false, true, 'no final newline'],
  ['foo/', 'foo', true, true, 'a trailing slash matches a folder'],
  ['foo/', 'foo', false, false, 'a trailing slash does not match a file'],
  ['foo/', 'a/foo', true, true, 'a trailing slash alone does not anchor'],
  ['/foo', 'foo', false, true, 'a leading slash anchors to the root'],
  ['/foo', 'a/foo', false, false, 'a leading slash anchors to the root'],
  ['a/b', 'a/b', false, true, 'a middle slash anchors'],
  ['a/b', 'x/a/b', false, false, 'a middle slash anchors'],
  ['a/b/', 'a/b', false, false, 'anchored and folder-only'],
  ['a/b/', 'a/b', true, true, 'anchored and folder-only'],
  ['*.py', 'x.py', false, true, '* in a name'],
  ['*.py', 'a/x.py', false, true, '* in a name, any depth'],
  ['*.py', '.py', false, true, '* matches nothing too'],
  ['*.py', 'x.pyc', false, false, 'the rest must match to the end'],
  ['*', '.hidden', false, true, 'dotfiles are not special'],
  ['x/*', 'x/a', false, true, '* inside a folder'],
  ['x/*', 'x', true, false, 'x/* is not x itself'],
  ['*.py[cod]', 'x.pyc', false, true, 'a class'],
  ['*.py[cod]', 'x.pyx', false, false, 'a class'],
  ['?.txt', 'a.txt', false, true, '? is one character'],
  ['?.txt', 'ab.txt', false, false, '? is one character'],
  ['?.txt', 'é.txt', false, false, '? is one byte in git: é is two'],
  ['??.txt', 'é.txt', false, true, '? is one byte in git: é is two'],
  ['m[À-È]n', 'mÁn', false, false, 'a range compares bytes in git'],
  ['日本*', '日本.md', false, true, 'unicode literal'],
  ['[a-c]x', 'bx', false, true, 'a range'],
  ['[a-c]x', 'dx', false, false, 'a range'],
  ['[!a]x', 'bx', false, true, '[! negates'],
  ['[!a]x', 'ax', false, false, '[! negates'],
  ['[^a]x', 'ax', false, false, '[^ negates too'],
  ['[]a]', ']', false, true, 'a ] right after [ is a member'],
  ['[[:digit:]]*', '1a', false, true, 'a POSIX class'],
  ['[[:digit:]]*', 'a1', false, false, 'a POSIX class'],
  ['[abc', '[abc', false, false, 'an unterminated [ never matches'],
  ['\\[abc]', '[abc]', false, true, 'an escaped [ is literal'],
  ['**/foo', 'foo', false, true, 'leading **/ : any depth, including none'],
  ['**/foo', 'a/b/foo', false, true, 'leading **/ : any depth'],
  ['a/**/b', 'a/b', false, true, 'middle /**/ : zero folders'],
  ['a/**/b', 'a/x/y/b', false, true, 'middle /**/ : several folders'],
  ['a/**/b', 'x/a/b', false, false, 'middle /**/ : still anchored'],
  ['a/**', 'a', true, false, 'trailing /** : not the folder itself'],
  ['a/**', 'a/x', false, true, 'trailing /** : what is inside'],
  ['**', 'any/thing', false, true, '** alone matches everything'],
  ['a**/b', 'ab', false, true, 'git: ** glued to a literal prefix is a globstar (zero folders)'],
  ['a**/b', 'ax/y/b', false, true, 'git: ** glued to a literal prefix is a globstar'],
  ['a**/b', 'axb', false, false, 'git: ** glued to a literal prefix is a globstar'],
  ['a\\/b', 'a/b', false, true, 'git: an escaped slash is a separator'],
  ['a\\/**/b', 'a/b', false, true, 'git: a ** after an escaped slash is a globstar'],
  ['#foo', '#foo', false, false, 'a comment'],
  ['\\#foo', '#foo', false, true, 'an escaped # is literal'],
  [' #foo', ' #foo', false, true, 'a # after a space is not a comment'],
  ['\\!foo', '!foo', false, true, 'an escaped ! is literal'],
  ['!foo', 'foo', false, false, 'a negation alone ignores nothing'],
  ['foo   ', 'foo', false, true, 'trailing spaces are stripped'],
  ['foo   ', 'foo ', false, false, 'trailing spaces are stripped'],
  ['foo\\ ', 'foo ', false, true, 'an escaped trailing space is kept'],
  ['foo\\ ', 'foo', false, false, 'an escaped trailing space is kept'],
  ['foo\\   ', 'foo ', false, true, 'spaces after an escaped space are stripped'],
  ['foo\t', 'foo\t', false, true, 'a trailing tab is kept'],
  ['foo\t', 'foo', false, false, 'a trailing tab is kept'],
  ['\\*', '*', false, true, 'an escaped * is literal'],
  ['\\*', 'a', false, false, 'an escaped * is literal'],
  ['x\\?', 'x?', false, true, 'an escaped ? is literal'],
  ['x\\?', 'xa', false, false, 'an escaped ? is literal'],
  ['a\\', 'a\\', false, false, 'a trailing lone backslash never matches'],
  ['foo\r\nbar\r\n', 'foo', false, true, 'CRLF line endings'],
  ['foo\r\nbar\r\n', 'bar', false, true, 'CRLF line endings'],
  ['a\r\r\n', 'a\r', false, true, 'only one CR belongs to the line ending'],
  ['\uFEFFfoo', 'foo', false, true, 'a BOM at the start is skipped'],
  ['\uFEFF#foo\n', '#foo', false, false, 'a BOM, then a comment'],
  ['x\n\uFEFFfoo', 'foo', false, false, 'a BOM after the start is part of the pattern'],
  ['FOO', 'foo', false, false, 'case-sensitive, as git on Linux'],
  ['*.log\n!keep.log', 'a.log', false, true, 'negation'],
  ['*.log\n!keep.log', 'keep.log', false, false, 'negation'],
  ['!a\na', 'a', false, true, 'the last matching line wins'],
  ['a\n!a', 'a', false, false, 'the last matching line wins'],
  ['!', '!', false, false, 'a lone ! is an empty pattern'],
  ['/', 'a', true, false, 'a lone / is an empty pattern'],
  ['node_modules/', 'node_modules', true, true, 'node_modules/ at the root'],
  ['node_modules/', 'pkg/node_modules', true, true, 'node_modules/ at any depth'],
  ['node_modules/', 'node_modules', false, false, 'node_modules/ is folder-only'],
  ['*.py', '.prefectignore', false, false, 'the ignore file is a file like any other'],
  ['.prefectignore', '.prefectignore', false, true, 'the ignore file is ignored when a pattern says so'],
];

describe('ignore rules: patterns and paths', () => {
  it.each(CASES)('%j on %j (dir: %s) → ignored: %s (%s)', (text, relPath, isDir, ignored) => {
    expect(ignoreRulesFromText(text).ignores(relPath, isDir)).toBe(ignored);
  });

  it('never ignores the walked root itself', () => {
    expect(ignoreRulesFromText('*').ignores('', true)).toBe(false);
  });
});

/** What a pruning walker keeps from `tree` (parents listed before children; folders end in `/`). */
function walk(matcher: IgnoreMatcher, tree: string[]): { kept: string[]; asked: string[] } {
  const asked: string[] = [];
  const pruned: string[] = [];
  const kept: string[] = [];
  for (const entry of tree) {
    const isDir = entry.endsWith('/');
    const rel = isDir ? entry.slice(0, -1) : entry;
    if (pruned.some((dir) => rel.startsWith(`${dir}/`))) continue;
    asked.push(rel);
    if (matcher.ignores(rel, isDir)) {
      if (isDir) pruned.push(rel);
    } else if (!isDir) {
      kept.push(rel);
    }
  }
  return { kept, asked };
}

describe('ignore rules: what a walker keeps', () => {
  const build = ['build/', 'build/keep', 'build/x', 'build/sub/', 'build/sub/keep'];

  it('re-includes a file inside a folder that is itself kept (build/* then !build/keep)', () => {
    expect(walk(ignoreRulesFromText('build/*\n!build/keep\n'), build).kept).toEqual(['build/keep']);
  });

  it('cannot re-include a file inside an excluded folder, as git (build/ then !build/keep)', () => {
    expect(walk(ignoreRulesFromText('build/\n!build/keep\n'), build).kept).toEqual([]);
    expect(walk(ignoreRulesFromText('build\n!build/keep\n'), build).kept).toEqual([]);
  });

  it('keeps only Python files with "*", "!*/", "!*.py"', () => {
    const tree = ['a.py', 'b.txt', 'd/', 'd/c.py', 'd/e.txt', 'd/f/', 'd/f/g.py'];
    expect(walk(ignoreRulesFromText('*\n!*/\n!*.py\n'), tree).kept).toEqual(['a.py', 'd/c.py', 'd/f/g.py']);
  });

  it('prunes node_modules/: nothing inside it is asked about', () => {
    const tree = ['node_modules/', 'node_modules/x.js', 'node_modules/p/', 'node_modules/p/y.js', 'src/', 'src/node_modules/', 'src/node_modules/z.js', 'src/a.js'];
    const { kept, asked } = walk(ignoreRulesFromText('node_modules/\n'), tree);
    expect(kept).toEqual(['src/a.js']);
    expect(asked).toEqual(['node_modules', 'src', 'src/node_modules', 'src/a.js']);
  });

  it('applies the default Prefect file to a Python project', () => {
    const text = fs.readFileSync(new URL('../../fixtures/ignore/prefect-default.prefectignore', import.meta.url), 'utf8');
    const tree = [
      '.prefectignore', 'prefect.yaml', 'flows/', 'flows/etl.py', 'flows/etl.pyc', 'flows/__pycache__/', 'flows/__pycache__/etl.cpython-312.pyc',
      'pkg.egg-info/', 'pkg.egg-info/PKG-INFO', '.venv/', '.venv/bin/', '.venv/bin/python', 'env/', 'env/x', 'src/', 'src/env', '.env',
      '.ipynb_checkpoints/', '.ipynb_checkpoints/b-checkpoint.ipynb', 'nb/', 'nb/.ipynb_checkpoints/', 'nb/.ipynb_checkpoints/a-checkpoint.ipynb',
      'nb/a.ipynb', '.git/', '.git/HEAD', '.DS_Store',
    ];
    // `*.ipynb_checkpoints/*` has a slash, so it is anchored: only the root's checkpoints go (as in git).
    expect(walk(ignoreRulesFromText(text), tree).kept).toEqual([
      'prefect.yaml', 'flows/etl.py', 'src/env', 'nb/.ipynb_checkpoints/a-checkpoint.ipynb', 'nb/a.ipynb',
    ]);
  });
});

describe('loadIgnoreRules', () => {
  let dir = '';

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowsync-ignore-rules-'));
  });

  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const project = (name: string, files: Record<string, string | Buffer>): string => {
    const root = path.join(dir, name);
    fs.mkdirSync(root);
    for (const [rel, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      fs.writeFileSync(path.join(root, rel), content);
    }
    return root;
  };

  it('ignores nothing when the default file is missing (as Prefect)', async () => {
    const root = project('no-file', { 'a.pyc': 'x' });
    const matcher = await loadIgnoreRules(root);
    expect(matcher.source).toBeNull();
    expect(matcher.ignores('a.pyc', false)).toBe(false);
    expect(matcher.ignores('node_modules', true)).toBe(false);
  });

  it(`reads ${DEFAULT_IGNORE_FILE} from the folder and names it as the source`, async () => {
    const root = project('default-file', { [DEFAULT_IGNORE_FILE]: '*.pyc\n' });
    const matcher = await loadIgnoreRules(root);
    expect(matcher.source).toBe(path.join(root, DEFAULT_IGNORE_FILE));
    expect(matcher.ignores('a.pyc', false)).toBe(true);
    expect(matcher.ignores(DEFAULT_IGNORE_FILE, false)).toBe(false);
  });

  it('resolves a relative ignore file against the folder, and takes an absolute one as is', async () => {
    const root = project('explicit', { 'conf/rules.txt': 'secret/\n', [DEFAULT_IGNORE_FILE]: '*\n' });
    const relative = await loadIgnoreRules(root, 'conf/rules.txt');
    expect(relative.source).toBe(path.join(root, 'conf', 'rules.txt'));
    expect(relative.ignores('secret', true)).toBe(true);
    expect(relative.ignores('a.py', false)).toBe(false); // the default file is not read as well
    const absolute = await loadIgnoreRules(os.tmpdir(), path.join(root, 'conf', 'rules.txt'));
    expect(absolute.source).toBe(path.join(root, 'conf', 'rules.txt'));
    expect(absolute.ignores('secret', true)).toBe(true);
  });

  it('fails with NOT_FOUND naming an explicit ignore file that is missing', async () => {
    const root = project('missing-explicit', {});
    const err = await loadIgnoreRules(root, 'nope.ignore').catch((e: unknown) => e);
    expect(isFlowsyncError(err, 'NOT_FOUND')).toBe(true);
    expect((err as Error).message).toContain(path.join(root, 'nope.ignore'));
  });

  it('takes an empty ignore file name as "no ignore file"', async () => {
    const root = project('empty-name', { [DEFAULT_IGNORE_FILE]: '*\n' });
    const matcher = await loadIgnoreRules(root, '');
    expect(matcher.source).toBeNull();
    expect(matcher.ignores('a', false)).toBe(false);
  });

  it('fails with IO when the ignore file is a folder', async () => {
    const root = project('is-dir', { [`${DEFAULT_IGNORE_FILE}/x`]: '' });
    const err = await loadIgnoreRules(root).catch((e: unknown) => e);
    expect(isFlowsyncError(err, 'IO')).toBe(true);
    expect((err as Error).message).toContain(path.join(root, DEFAULT_IGNORE_FILE));
  });

  it.skipIf(process.getuid?.() === 0)('fails with IO when the ignore file cannot be read (skipped as root: root reads anything)', async () => {
    const root = project('unreadable', { [DEFAULT_IGNORE_FILE]: '*\n' });
    fs.chmodSync(path.join(root, DEFAULT_IGNORE_FILE), 0o000);
    const err = await loadIgnoreRules(root).catch((e: unknown) => e);
    fs.chmodSync(path.join(root, DEFAULT_IGNORE_FILE), 0o644);
    expect(isFlowsyncError(err, 'IO')).toBe(true);
    expect((err as Error).message).toContain('permission denied');
  });

  it('matches the bytes of the file: a BOM, CRLF, and bytes that are not UTF-8', async () => {
    const root = project('bytes', {
      // BOM, CRLF, then "caf" + 0xE9 (é in Latin-1, not UTF-8), then "x??y" for a two-byte é
      [DEFAULT_IGNORE_FILE]: Buffer.concat([Buffer.from('\uFEFFbuild/\r\n'), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]), Buffer.from('x??y\n')]),
    });
    const matcher = await loadIgnoreRules(root);
    expect(matcher.ignores('build', true)).toBe(true);
    expect(matcher.ignores('café', false)).toBe(false); // UTF-8 é is C3 A9, not E9
    expect(matcher.ignores('xéy', false)).toBe(true);
  });
});

describe('ignore rules: speed and long walks', () => {
  /** 100k paths shaped like a project: folders of Python modules, a few caches and builds. */
  function projectPaths(): [string, boolean][] {
    const paths: [string, boolean][] = [];
    const names = ['src', 'flows', 'lib', 'utils', 'models', 'data', 'tests', 'core'];
    for (let a = 0; paths.length < 100_000; a++) {
      const top = `${names[a % names.length]}${a}`;
      paths.push([top, true]);
      for (let b = 0; b < 10 && paths.length < 100_000; b++) {
        const sub = `${top}/${names[b % names.length]}_${b}`;
        paths.push([sub, true]);
        if (b === 3) paths.push([`${sub}/__pycache__`, true]);
        for (let c = 0; c < 20 && paths.length < 100_000; c++) {
          paths.push([`${sub}/module_${c}_${a}.${c === 7 ? 'pyc' : 'py'}`, false]);
        }
      }
    }
    return paths;
  }

  it('answers 100k questions with the default Prefect file quickly (target < 150 ms)', () => {
    const text = fs.readFileSync(new URL('../../fixtures/ignore/prefect-default.prefectignore', import.meta.url), 'utf8');
    const paths = projectPaths();
    let best = Infinity;
    let ignored = 0;
    for (let round = 0; round < 5; round++) {
      const matcher = ignoreRulesFromText(text);
      const before = process.cpuUsage();
      ignored = 0;
      for (const [p, isDir] of paths) if (matcher.ignores(p, isDir)) ignored++;
      const used = process.cpuUsage(before);
      best = Math.min(best, (used.user + used.system) / 1000);
    }
    console.log(`ignore rules: 100k ignores() calls, default Prefect file: ${best.toFixed(1)} ms CPU (best of 5), ${ignored} ignored`);
    expect(ignored).toBeGreaterThan(4000); // the __pycache__ folders and .pyc files
    // CPU time, best of 5: about 50 ms in plain node on this machine, 100-180 ms inside vitest
    // next to other test files. The bound is loose for a shared machine and still catches a
    // pathological regression (recompiling rules, an unbounded cache: seconds).
    expect(best).toBeLessThan(600);
  });

  it('gives the same answers over a long walk as a fresh matcher does for each path', () => {
    // Every path here is a candidate for several rules: a matcher that kept state between calls would drift.
    const text = '*\n!*/\n!*.py\n*_test.py\n!keep_test.py\n';
    const long = ignoreRulesFromText(text);
    for (let i = 0; i < 5000; i++) {
      const rel = `d${i % 7}/s${i % 13}/${['a.py', 'b_test.py', 'keep_test.py', 'c.txt'][i % 4]}`;
      const isDir = i % 11 === 0;
      const path = isDir ? rel.replace(/\.\w+$/, '') : rel;
      expect(long.ignores(path, isDir), path).toBe(ignoreRulesFromText(text).ignores(path, isDir));
    }
  });
});
