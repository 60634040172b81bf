/**
 * Oracle test: the ignore rules against real git.
 *
 * Each case is a tree of real files and folders and an ignore file, generated from a fixed
 * seed, in a fresh `git init` repository with the patterns as its root `.gitignore` (each tree
 * is reused for three ignore files, written one after the other). Two comparisons per ignore
 * file, each one git call for the whole tree:
 *
 * 1. Every path (files and folders) against `git check-ignore --no-index --stdin -z -v -n`.
 *    check-ignore answers for a path inside an excluded folder with the folder's pattern, so its
 *    verdict is "excluded by itself or by a parent"; ours is the same thing built from the
 *    matcher: a parent folder ignored, or `ignores(path, isDir)`. For paths whose parents are
 *    kept (the only ones a walker asks about) this is exactly the matcher's answer.
 * 2. The files a pruning walk keeps against `git ls-files --others --exclude-standard -z`, the
 *    exact set of files git does not ignore.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ignoreRulesFromText, type IgnoreMatcher } from '../../src/walk/ignore-rules.js';

const SEED = 20_240_917;
const RANDOM_TREES = 14;

let workDir = '';
let gitEnv: NodeJS.ProcessEnv = {};

beforeAll(() => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowsync-ignore-oracle-'));
  const home = path.join(workDir, 'home');
  fs.mkdirSync(home);
  gitEnv = { ...process.env };
  for (const key of Object.keys(gitEnv)) if (key.startsWith('GIT_')) delete gitEnv[key];
  // No user or system configuration: a global core.excludesFile would change the answers.
  // (check-ignore refuses GIT_LITERAL_PATHSPECS; no generated name starts with ':', so no
  // path reads as pathspec magic, and check-ignore matches the path text as given.)
  Object.assign(gitEnv, {
    HOME: home,
    XDG_CONFIG_HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: os.devNull,
    LC_ALL: 'C',
  });
});

afterAll(() => {
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Running git.

function run(args: string[], cwd: string, input?: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd, env: gitEnv, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.stdin.on('error', () => {}); // git exiting early shows in its exit code
    child.on('close', (code) => {
      // check-ignore exits 1 when no path is ignored: not a failure here.
      if (code === 0 || (code === 1 && args[0] === 'check-ignore')) resolve(Buffer.concat(out));
      else reject(new Error(`git ${args.join(' ')} exited ${code}: ${Buffer.concat(err).toString()}`));
    });
    child.stdin.end(input ?? '');
  });
}

interface Entry {
  path: string;
  isDir: boolean;
}

/** A tree of files and folders, checked against several ignore files in turn. */
interface TreeCase {
  name: string;
  entries: Entry[];
  /** Ignore files' contents, written as UTF-8 (may hold a BOM, CRLF, no final newline). */
  ignoreFiles: string[];
}

interface GitAnswers {
  /** path → the pattern that decides it (null: not ignored) */
  verdicts: Map<string, string | null>;
  /** the files git does not ignore */
  kept: string[];
}

function createTree(entries: Entry[], dir: string): void {
  for (const e of entries) {
    if (e.path === '.gitignore') continue; // written for each ignore file
    const full = path.join(dir, e.path);
    if (e.isDir) fs.mkdirSync(full); // parents come first
    else fs.writeFileSync(full, 'x');
  }
}

async function askGit(entries: Entry[], dir: string): Promise<GitAnswers> {
  const input = entries.map((e) => `${e.path}\0`).join('');
  const checked = await run(['check-ignore', '--no-index', '--stdin', '-z', '-v', '-n'], dir, input);
  const fields = checked.toString('utf8').split('\0');
  const verdicts = new Map<string, string | null>();
  for (let i = 0; i + 3 < fields.length; i += 4) {
    const pattern = fields[i + 2]!;
    // With -v -n every path is listed; a path whose last matching pattern is a negation is kept.
    verdicts.set(fields[i + 3]!, pattern !== '' && !pattern.startsWith('!') ? pattern : null);
  }
  const listed = await run(['ls-files', '--others', '--exclude-standard', '-z'], dir);
  const kept = listed.toString('utf8').split('\0').filter((p) => p !== '');
  return { verdicts, kept };
}

/** The files a walker keeps: ignored folders are pruned, never read. */
function walkKept(root: string, matcher: IgnoreMatcher): string[] {
  const kept: string[] = [];
  const visit = (rel: string) => {
    for (const d of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      if (rel === '' && d.name === '.git') continue; // the repository itself, not part of the corpus
      const child = rel === '' ? d.name : `${rel}/${d.name}`;
      if (d.isDirectory()) {
        if (!matcher.ignores(child, true)) visit(child);
      } else if (!matcher.ignores(child, false)) {
        kept.push(child);
      }
    }
  };
  visit('');
  return kept.sort();
}

interface FileResult {
  label: string;
  text: string;
  pathCases: number;
  askedCases: number;
  gitIgnored: number;
  mismatches: string[];
}

function compare(label: string, text: string, entries: Entry[], dir: string, git: GitAnswers): FileResult {
  const matcher = ignoreRulesFromText(text, path.join(dir, '.gitignore'));
  const mismatches: string[] = [];
  const ignoredDirs = new Set<string>();
  let askedCases = 0;
  let gitIgnored = 0;
  // Parents come before their children in `entries`.
  for (const e of entries) {
    const slash = e.path.lastIndexOf('/');
    const parentIgnored = slash >= 0 && ignoredDirs.has(e.path.slice(0, slash));
    const answer = parentIgnored || matcher.ignores(e.path, e.isDir);
    if (!parentIgnored) askedCases++;
    if (answer && e.isDir) ignoredDirs.add(e.path);
    const gitPattern = git.verdicts.get(e.path);
    if (gitPattern) gitIgnored++;
    if (gitPattern === undefined) {
      mismatches.push(`git gave no answer for ${JSON.stringify(e.path)}`);
    } else if (answer !== (gitPattern !== null)) {
      mismatches.push(
        `${JSON.stringify(e.path)}${e.isDir ? ' (dir)' : ''}: git ${gitPattern === null ? 'keeps it' : `ignores it (${JSON.stringify(gitPattern)})`}, we ${answer ? 'ignore' : 'keep'} it${parentIgnored ? ' (parent ignored)' : ''}`,
      );
    }
  }
  const walked = walkKept(dir, matcher);
  const gitKept = new Set(git.kept);
  const walkedSet = new Set(walked);
  const onlyOurs = walked.filter((p) => !gitKept.has(p));
  const onlyGit = git.kept.filter((p) => !walkedSet.has(p));
  if (onlyOurs.length > 0) mismatches.push(`walk keeps files git ignores: ${JSON.stringify(onlyOurs)}`);
  if (onlyGit.length > 0) mismatches.push(`walk drops files git keeps: ${JSON.stringify(onlyGit)}`);
  return { label, text, pathCases: entries.length, askedCases, gitIgnored, mismatches };
}

async function checkTree(tree: TreeCase, index: number): Promise<FileResult[]> {
  const dir = path.join(workDir, `t${index}`);
  await run(['init', '-q', dir], workDir);
  fs.writeFileSync(path.join(dir, '.git', 'info', 'exclude'), '');
  createTree(tree.entries, dir);
  const results: FileResult[] = [];
  for (const [i, text] of tree.ignoreFiles.entries()) {
    fs.writeFileSync(path.join(dir, '.gitignore'), text);
    const git = await askGit(tree.entries, dir);
    results.push(compare(`${tree.name}, ignore file ${i}`, text, tree.entries, dir, git));
  }
  return results;
}

async function checkAll(trees: TreeCase[]): Promise<FileResult[]> {
  const results: FileResult[][] = new Array(trees.length);
  let next = 0;
  const worker = async () => {
    while (next < trees.length) {
      const i = next++;
      results[i] = await checkTree(trees[i]!, i);
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  return results.flat();
}

function describeFailures(results: FileResult[]): string {
  return results
    .filter((r) => r.mismatches.length > 0)
    .map((r) => `--- ${r.label}\n${JSON.stringify(r.text)}\n${r.mismatches.slice(0, 12).join('\n')}`)
    .join('\n');
}

// ---------------------------------------------------------------------------------------------
// Generating corpora (deterministic: one seeded generator).

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
}

// Names that exercise the pattern syntax: spaces, unicode (multi-byte and astral), `#`, `[`,
// `!`, `*`, `?`, `\`, dotfiles, case, and the names the default .prefectignore is about.
const NAMES = [
  'a', 'b', 'ab', 'abc', 'ba', 'x', 'foo', 'foo.py', 'foo.pyc', 'bar.pyo', 'bar.pyd', 'lib$py.class', 'src', 'docs',
  'test', 'tests', 'build', 'data', 'data.csv', 'README.md', 'Makefile', 'Foo', 'FOO.PY', 'a b', 'trail ', ' lead',
  'two  spaces', 'é', 'é.txt', 'xéy', 'mÁn', '日本', '日本.md', '😀', 'x😀y', '#hash', 'a#b', '[x]', 'x[1]', 'a]b',
  '!bang', 'a!b', '*star', 'a*b', '?q', 'a?b', 'back\\slash', 'c-d', 'a.b.c', '.hidden', '.env', '.venv', 'env', 'venv',
  '.DS_Store', '.idea', '.vscode', '.hg', '.mypy_cache', '__pycache__', 'node_modules', 'dask-worker-space',
  'pkg.egg-info', 'dist.egg', '.ipynb_checkpoints', '.python-version', 'profile_default', 'ipython_config.py',
  'dmypy.json', '.prefectignore', '.pyre',
];

function generateTree(rng: Rng): Entry[] {
  const entries: Entry[] = [];
  const taken = new Set<string>();
  const add = (parent: string, depth: number) => {
    // About a hundred entries a tree: creating files is most of this test's cost.
    const files = rng.int(1, depth === 0 ? 6 : 3);
    const dirs = depth >= 5 ? 0 : rng.int(depth < 2 ? 2 : 0, depth === 0 ? 4 : 2);
    for (let i = 0; i < files + dirs; i++) {
      const name = rng.pick(NAMES);
      const p = parent === '' ? name : `${parent}/${name}`;
      if (taken.has(p) || (parent === '' && name === '.gitignore')) continue;
      taken.add(p);
      const isDir = i >= files;
      entries.push({ path: p, isDir });
      if (isDir) add(p, depth + 1);
    }
  };
  add('', 0);
  // At least one chain of folders 5 deep.
  let deep = '';
  for (let d = 0; d < 5; d++) {
    const next = deep === '' ? rng.pick(NAMES) : `${deep}/${rng.pick(NAMES)}`;
    if (entries.some((e) => e.path === next && !e.isDir)) break;
    deep = next;
    if (!taken.has(deep)) {
      taken.add(deep);
      entries.push({ path: deep, isDir: true });
    }
  }
  const leaf = `${deep}/${rng.pick(NAMES)}`;
  if (deep !== '' && !taken.has(leaf)) entries.push({ path: leaf, isDir: false });
  // The ignore file itself is a file of the tree; git keeps it unless a pattern matches it.
  entries.push({ path: '.gitignore', isDir: false });
  return entries;
}

/** A name written as a literal pattern segment: special characters escaped. */
function escapeSegment(name: string, first: boolean): string {
  let out = '';
  for (let i = 0; i < name.length; i++) {
    const c = name[i]!;
    if ('\\*?['.includes(c) || (first && i === 0 && (c === '!' || c === '#'))) out += `\\${c}`;
    else out += c;
  }
  // A trailing space survives only escaped.
  return out.endsWith(' ') ? `${out.slice(0, -1)}\\ ` : out;
}

/** A segment pattern derived from a real name: wildcards, classes, ranges in place of parts. */
function mutateSegment(rng: Rng, name: string, first: boolean): string {
  const chars = Array.from(name); // code points: a class member must be one character
  const r = rng.int(0, 9);
  if (r === 0) return '*';
  if (r === 1 && chars.length > 1) {
    const at = rng.int(0, chars.length - 1);
    return escapeSegment(chars.slice(0, at).join(''), first) + '*' + escapeSegment(chars.slice(at + 1).join(''), false);
  }
  if (r === 2) {
    // `?` stands for one byte in git: over a multi-byte character it must not match.
    const at = rng.int(0, chars.length - 1);
    return escapeSegment(chars.slice(0, at).join(''), first) + '?' + escapeSegment(chars.slice(at + 1).join(''), false);
  }
  if (r === 3) {
    const at = rng.int(0, chars.length - 1);
    const c = chars[at]!;
    const member = c === ']' || c === '\\' || c === '[' || c === '-' || c === '!' || c === '^' ? `\\${c}` : c;
    const cls = rng.pick([`[${member}z]`, `[!${member}]`, '[a-z]', '[[:alpha:]]', '[[:punct:]]', '[^a]', `[x${member}]`]);
    return escapeSegment(chars.slice(0, at).join(''), first) + cls + escapeSegment(chars.slice(at + 1).join(''), false);
  }
  if (r === 4) return escapeSegment(chars[0]!, first) + '*';
  if (r === 5) return '*' + escapeSegment(chars.slice(-2).join(''), false);
  return escapeSegment(name, first);
}

function patternFromEntry(rng: Rng, entry: Entry): string {
  const segs = entry.path.split('/');
  const mutate = (s: string, i: number) => (rng.chance(0.4) ? mutateSegment(rng, s, i === 0) : escapeSegment(s, i === 0));
  let body: string;
  const shape = rng.int(0, 9);
  if (shape <= 2 || segs.length === 1) {
    body = mutate(segs[segs.length - 1]!, 0); // basename pattern
    if (segs.length === 1 && rng.chance(0.4)) body = `/${body}`;
  } else if (shape === 3) {
    body = segs.map(mutate).join('/');
    if (rng.chance(0.5)) body = `/${body}`;
  } else if (shape === 4) {
    body = `**/${segs.slice(-2).map(mutate).join('/')}`;
  } else if (shape === 5) {
    body = `${mutate(segs[0]!, 0)}/**/${mutate(segs[segs.length - 1]!, 1)}`;
  } else if (shape === 6) {
    body = `${segs.slice(0, -1).map(mutate).join('/')}/**`;
  } else if (shape === 7) {
    // A `**` glued to a literal: a globstar for git, as the literal prefix is stripped first.
    const first = segs[0]!;
    const cut = rng.int(1, Math.max(1, Array.from(first).length));
    body = `${escapeSegment(Array.from(first).slice(0, cut).join(''), true)}**${rng.chance(0.7) ? `/${mutate(segs[segs.length - 1]!, 1)}` : ''}`;
  } else if (shape === 8) {
    // An escaped slash: a separator for git.
    body = segs.map(mutate).join(rng.chance(0.5) ? '\\/' : '/');
    if (rng.chance(0.3)) body = body.replace(/\\?\/(?=[^/]*$)/, '/**\\/');
  } else {
    body = `${segs.slice(0, -1).map(mutate).join('/')}/*`;
  }
  if (entry.isDir ? rng.chance(0.5) : rng.chance(0.1)) body += '/';
  return body;
}

const GRAMMAR_ATOMS = [
  '*', '**', '?', '[abc]', '[a-c]', '[!a]', '[^b]', '[]a]', '[!]]', '[a-]', '[[:digit:]]', '[[:upper:]]', '[[:nope:]]',
  '[z-a]', 'a', 'b', 'ab', 'x', 'foo', '.py', '.', '\\*', '\\?', '\\[', '\\\\', '\\#', '\\!', 'é', '日', '#', '!',
  '$', '(', '{', '+', '^', '|', '-', ']', '[',
];

/** A pattern from the grammar alone, not derived from a path. */
function patternFromGrammar(rng: Rng): string {
  const segment = () => {
    let s = '';
    const n = rng.int(1, 3);
    for (let i = 0; i < n; i++) s += rng.pick(GRAMMAR_ATOMS);
    return s;
  };
  const n = rng.int(1, 3);
  const segs: string[] = [];
  for (let i = 0; i < n; i++) segs.push(rng.chance(0.15) ? '**' : segment());
  let body = segs.join('/');
  if (rng.chance(0.25)) body = `/${body}`;
  if (rng.chance(0.2)) body += '/';
  return body;
}

const PREFECT_DEFAULT = [
  '# prefect artifacts', '.prefectignore', '', '# python artifacts', '__pycache__/', '*.py[cod]', '*$py.class',
  '*.egg-info/', '*.egg', '', '# Type checking artifacts', '.mypy_cache/', '.dmypy.json', 'dmypy.json', '.pyre/', '',
  '# IPython', 'profile_default/', 'ipython_config.py', '*.ipynb_checkpoints/*', '', '# Environments',
  '.python-version', '.env', '.venv', 'env/', 'venv/', '', '# MacOS', '.DS_Store', '', '# Dask', 'dask-worker-space/',
  '', '# Editors', '.idea/', '.vscode/', '', '# VCS', '.git/', '.hg/',
];

/** An ignore file: patterns plus comments, blank lines, trailing spaces, CRLF, a BOM, a missing final newline. */
function ignoreFileText(rng: Rng, patterns: string[]): string {
  const lines: string[] = [];
  for (const p of patterns) {
    if (rng.chance(0.1)) lines.push(rng.pick(['# a comment', '#', '', '   ', '\\#not-a-comment', ' # not a comment either']));
    let line = rng.chance(0.2) ? `!${p}` : p;
    if (rng.chance(0.15)) line += rng.pick([' ', '   ', '\t', '\\ ', '\\  ', ' \\ ']);
    lines.push(line);
  }
  const eol = () => (rng.chance(0.15) ? '\r\n' : rng.chance(0.03) ? '\r\r\n' : '\n');
  let text = lines.map((l) => l + eol()).join('');
  if (rng.chance(0.2)) text = text.replace(/\r?\r?\n$/, ''); // no final newline
  if (rng.chance(0.15)) text = `\uFEFF${text}`;
  return text;
}

function randomPatterns(rng: Rng, entries: Entry[]): string[] {
  const patterns: string[] = [];
  const count = rng.int(4, 25);
  for (let i = 0; i < count; i++) {
    const r = rng.int(0, 9);
    if (r < 6) patterns.push(patternFromEntry(rng, rng.pick(entries)));
    else if (r < 9) patterns.push(patternFromGrammar(rng));
    else patterns.push(rng.pick(PREFECT_DEFAULT.filter((l) => l !== '' && !l.startsWith('#'))));
  }
  return patterns;
}

function randomTree(rng: Rng, index: number): TreeCase {
  const entries = generateTree(rng);
  const ignoreFiles = [0, 1, 2].map(() => ignoreFileText(rng, randomPatterns(rng, entries)));
  return { name: `random tree #${index}`, entries, ignoreFiles };
}

function pythonProjectTree(): Entry[] {
  const paths = [
    'flows/', 'flows/etl.py', 'flows/__pycache__/', 'flows/__pycache__/etl.cpython-312.pyc', 'flows/util.pyc',
    'flows/native.so', 'flows/x$py.class', 'pkg.egg-info/', 'pkg.egg-info/PKG-INFO', 'dist/', 'dist/pkg-1.0.egg',
    '.mypy_cache/', '.mypy_cache/3.12/', '.mypy_cache/3.12/x.json', 'dmypy.json', 'sub/', 'sub/.dmypy.json',
    '.pyre/', '.pyre/x', 'profile_default/', 'profile_default/startup.py', 'ipython_config.py', 'nb/',
    'nb/.ipynb_checkpoints/', 'nb/.ipynb_checkpoints/a-checkpoint.ipynb', 'nb/a.ipynb', '.python-version', '.env',
    'sub/.env', '.venv/', '.venv/bin/', '.venv/bin/python', 'env/', 'env/lib.py', 'venv/', 'venv/x', 'src/', 'src/env',
    'src/venv/', 'src/venv/y', '.DS_Store', 'src/.DS_Store', 'dask-worker-space/', 'dask-worker-space/w', '.idea/',
    '.idea/ws.xml', '.vscode/', '.vscode/settings.json', '.hg/', '.hg/store', 'prefect.yaml', 'requirements.txt',
    '.prefectignore', 'deep/', 'deep/a/', 'deep/a/b/', 'deep/a/b/c/', 'deep/a/b/c/__pycache__/',
    'deep/a/b/c/__pycache__/m.pyc', 'deep/a/b/c/m.py', '.gitignore',
  ];
  return paths.map((p) => (p.endsWith('/') ? { path: p.slice(0, -1), isDir: true } : { path: p, isDir: false }));
}

/** Shapes where simpler gitignore matchers (the `ignore` package among them) part ways with git, and the syntax corners, by hand. */
function handTree(): TreeCase {
  const tree: Entry[] = [
    'ab', 'a/', 'a/b', 'ax/', 'ax/b', 'ax/y/', 'ax/y/b', 'axb', 'x/', 'x/c/', 'x/c/q', 'x/cd/', 'x/cd/e', 'x/cd/f/',
    'x/cd/f/g', 'r/', 'r/s', 'r/t/', 'r/t/s', 'q', 'p/', 'p/q', 'xéy', 'xey', 'mÁn', 'é9', 'x😀y', 'éa', '[', 't[',
    'u]', 'uv', 'w]', 'wa', 'k\\', '#h', '!n', 'sp ', 'sp', 'de', 'g-', 'cr\r', 'a b', 'A', 'B/', 'B/c',
  ].map((p) => (p.endsWith('/') ? { path: p.slice(0, -1), isDir: true } : { path: p, isDir: false }));
  tree.push({ path: '.gitignore', isDir: false });
  const sets = [
    ['a**/b', '/x/c**', '!x/cd/', 'x/cd/f/**'],
    ['x?y', 'm[À-È]n', 'é?', 'x??y', 'x????y', '[é]a', '[!a]9'],
    ['r\\/**/s', '**\\/q', 'p\\/q', 'x\\/c**\\/q'],
    ['[', 't[', 'u[]v]', 'w[!]]', 'k\\\\', '\\#h', '\\!n', 'sp\\ ', 'd\\e', 'g[a-]', 'cr\r', 'a\\ b', 'a', '!A'],
    ['*', '!*/', '!.gitignore', 'B/*', '!B/c'],
    ['/', '//', '!', '\\', 'a \\', '**', '!**/', 'B'],
    ['a**', '!ab', 'a**/**/b', 'x/c**/**', 'x/**/cd**/f'],
  ];
  const texts = sets.map((s) => s.join('\n') + '\n');
  texts.push('\uFEFF#h\r\nsp   \r\n\\ \r\nwa\r\r\nab'); // BOM, CRLF, trailing spaces, a CR kept, no final newline
  return { name: 'hand-picked corners', entries: tree, ignoreFiles: texts };
}

function allTrees(): TreeCase[] {
  const rng = new Rng(SEED);
  const trees = [handTree()];
  trees.push({
    name: 'python project',
    entries: pythonProjectTree(),
    ignoreFiles: [
      PREFECT_DEFAULT.join('\n') + '\n',
      // CRLF, no final newline, negations (one inside an excluded folder, which git cannot re-include)
      [...PREFECT_DEFAULT, '!src/venv/', '!flows/__pycache__/etl.cpython-312.pyc', '!sub/.env'].join('\r\n'),
    ],
  });
  for (let i = 0; i < RANDOM_TREES; i++) trees.push(randomTree(rng, i));
  return trees;
}

// ---------------------------------------------------------------------------------------------

describe('ignore rules agree with git', () => {
  it('runs in a repository whose git is case-sensitive (as on Linux)', async () => {
    const dir = path.join(workDir, 'probe');
    await run(['init', '-q', dir], workDir);
    const value = (await run(['config', '--get', 'core.ignorecase'], dir).catch(() => Buffer.from('false'))).toString().trim();
    expect(value).toBe('false');
  });

  it('gives git check-ignore answers and keeps the files git ls-files keeps, on generated corpora', async () => {
    const trees = allTrees();
    const results = await checkAll(trees);
    const sum = (f: (r: FileResult) => number) => results.reduce((n, r) => n + f(r), 0);
    const patternLines = sum((r) => r.text.split('\n').length);
    const pathCases = sum((r) => r.pathCases);
    const askedCases = sum((r) => r.askedCases);
    const gitIgnored = sum((r) => r.gitIgnored);
    console.log(
      `ignore oracle: ${trees.length} trees, ${results.length} ignore files, ${patternLines} pattern lines, ` +
        `${pathCases} path cases (${askedCases} asked of the matcher with parents kept; git ignores ${gitIgnored})`,
    );
    expect(describeFailures(results)).toBe('');
    // The corpus must exercise both answers, or agreeing proves little.
    expect(askedCases).toBeGreaterThan(2500);
    expect(gitIgnored).toBeGreaterThan(pathCases / 5);
    expect(pathCases - gitIgnored).toBeGreaterThan(pathCases / 5);
  });
});
