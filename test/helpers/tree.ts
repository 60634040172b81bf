/**
 * Deterministic project trees for tests and the benchmark, and a strict tree comparison.
 *
 * `generateTree` writes a tree from a seed: nested folders, empty files, executable files,
 * in-tree links (to a file, to a folder, through `..`), names with spaces, `#`, `[`, `!`, a
 * leading `-`, unicode in NFC and NFD, astral-plane characters, optionally a big file, and an
 * ignored part (`node_modules/`, `*.pyc`) described by a `.prefectignore`. The same seed always
 * gives the same bytes, so a failure can be reproduced.
 *
 * `compareTrees` lists every difference between two trees: missing or extra paths, kind, content,
 * executable bit and link target. An empty list means the trees are identical.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import path from 'node:path';

/** mulberry32: a small, fast, seedable PRNG (not for cryptography). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Names worth having in any tree: they break naive quoting, globbing, URL or option parsing. */
export const SPECIAL_NAMES = [
  'with space.txt',
  'hash#name.py',
  'bracket[1].txt',
  'bang!.md',
  '-leading-dash.txt',
  '--double-dash',
  'caf\u00e9-nfc.txt', // é precomposed (NFC)
  'cafe\u0301-nfd.txt', // e + combining acute (NFD): a different name on Linux
  '\u65e5\u672c\u8a9e.txt',
  'emoji-\u{1F600}.txt', // astral plane: sorts differently in UTF-16 and UTF-8
  '\u{10000}-first-astral',
  '\uFF5E-fullwidth-tilde', // BMP char above the surrogate range
  'percent%20encoded.txt',
  'question?.txt',
  'star*.txt',
  'quote\'s "double".txt',
  'semi;colon&amp.txt',
  '.hidden',
  'UPPER.TXT',
  'upper.txt',
];

export interface GenerateOptions {
  seed?: number;
  /** Regular files to write (not counting links and ignored files). */
  files: number;
  /** Size of one extra big file at `data/big.bin` (0: none). */
  bigFileBytes?: number;
  /** Largest small file (bytes). */
  maxFileBytes?: number;
  /** Add an ignored `node_modules/` tree, `*.pyc` files and the `.prefectignore` naming them. */
  ignored?: boolean;
  /** Add links (to a file, to a folder, through `..`). */
  links?: boolean;
}

export interface GeneratedTree {
  /** Every path written that push must take (files and links), relative, POSIX. */
  kept: string[];
  /** Paths written that the ignore file excludes. */
  ignored: string[];
  /** Regular files among `kept` with the exec bit set. */
  executables: string[];
  links: Record<string, string>;
  bigFile?: string;
}

function content(rand: () => number, size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i += 4) {
    const v = (rand() * 4294967296) >>> 0;
    if (i + 4 <= size) buf.writeUInt32LE(v, i);
    else for (let j = i; j < size; j++) buf[j] = (v >>> ((j - i) * 8)) & 0xff;
  }
  return buf;
}

/** Write `size` deterministic bytes quickly: a 1 MiB random block, each copy stamped with its index. */
async function writeBigFile(file: string, size: number, rand: () => number): Promise<void> {
  const block = content(rand, 1024 * 1024);
  const handle = await fsp.open(file, 'w');
  try {
    for (let off = 0, i = 0; off < size; off += block.length, i++) {
      const chunk = Buffer.from(block.subarray(0, Math.min(block.length, size - off)));
      if (chunk.length >= 8) chunk.writeBigUInt64LE(BigInt(i), 0);
      await handle.write(chunk, 0, chunk.length, off);
    }
  } finally {
    await handle.close();
  }
}

/** Write a deterministic tree under `root` (created if needed; must be empty). */
export async function generateTree(root: string, o: GenerateOptions): Promise<GeneratedTree> {
  const rand = prng(o.seed ?? 1);
  const maxBytes = o.maxFileBytes ?? 2048;
  const int = (n: number) => Math.floor(rand() * n);
  const out: GeneratedTree = { kept: [], ignored: [], executables: [], links: {} };
  const made = new Set<string>();
  const mkdir = (rel: string) => {
    if (rel === '' || made.has(rel)) return;
    fs.mkdirSync(path.join(root, rel), { recursive: true });
    made.add(rel);
  };
  const writeFile = (rel: string, data: Buffer, exec = false) => {
    mkdir(path.posix.dirname(rel) === '.' ? '' : path.posix.dirname(rel));
    fs.writeFileSync(path.join(root, rel), data, { mode: exec ? 0o755 : 0o644 });
    if (exec) fs.chmodSync(path.join(root, rel), 0o755); // the umask must not drop the bit
  };
  fs.mkdirSync(root, { recursive: true });

  // Folders: a few top-level ones, each with nested levels.
  const folders = [''];
  for (let i = 0; i < 12; i++) {
    const top = `pkg${i}`;
    folders.push(top);
    let cur = top;
    for (let d = 0; d < 1 + int(5); d++) {
      cur = `${cur}/${['sub', 'lib', 'deep', 'x y', 'n#1', '[g]', '-opt', '\u00fcber'][int(8)]}${d}`;
      folders.push(cur);
    }
  }
  let written = 0;
  const add = (rel: string, data: Buffer, exec = false) => {
    writeFile(rel, data, exec);
    out.kept.push(rel);
    if (exec) out.executables.push(rel);
    written++;
  };
  // Special names: at the root and inside a nested folder.
  for (const name of SPECIAL_NAMES) {
    add(name, content(rand, int(200)));
    add(`pkg1/${name}`, content(rand, int(200)));
  }
  add('empty.txt', Buffer.alloc(0));
  add('pkg2/also-empty', Buffer.alloc(0));
  add('bin/run.sh', Buffer.from('#!/bin/sh\necho run\n'), true);
  add('bin/-x tool', Buffer.from('#!/bin/sh\nexit 0\n'), true);
  while (written < o.files) {
    const dir = folders[int(folders.length)]!;
    const name = `f${written}${['.py', '.txt', '.json', '', '.sh', ' copy.md'][int(6)]}`;
    const rel = dir ? `${dir}/${name}` : name;
    const r = rand();
    const size = r < 0.05 ? 0 : r < 0.9 ? int(Math.min(maxBytes, 512)) : int(maxBytes);
    add(rel, content(rand, size), rand() < 0.05);
  }
  if (o.bigFileBytes) {
    mkdir('data');
    await writeBigFile(path.join(root, 'data/big.bin'), o.bigFileBytes, rand);
    out.kept.push('data/big.bin');
    out.bigFile = 'data/big.bin';
  }
  if (o.links !== false) {
    const link = (rel: string, target: string) => {
      mkdir(path.posix.dirname(rel) === '.' ? '' : path.posix.dirname(rel));
      fs.symlinkSync(target, path.join(root, rel));
      out.kept.push(rel);
      out.links[rel] = target;
    };
    link('links/to-file', '../empty.txt');
    link('links/to-folder', '../pkg1');
    link('links/to-run', '../bin/run.sh');
    link('pkg0/up-to-bin', '../bin');
    link('links/caf\u00e9 link', '../caf\u00e9-nfc.txt');
  }
  if (o.ignored !== false) {
    writeFile('.prefectignore', Buffer.from('# generated\nnode_modules/\n*.pyc\n'));
    out.kept.push('.prefectignore');
    for (let i = 0; i < 40; i++) {
      const rel = `node_modules/mod${i % 7}/lib/file${i}.js`;
      writeFile(rel, content(rand, int(300)));
      out.ignored.push(rel);
    }
    for (const rel of ['cache.pyc', 'pkg3/mod.pyc', 'pkg1/__x__.pyc']) {
      writeFile(rel, content(rand, int(300)));
      out.ignored.push(rel);
    }
  }
  out.kept.sort();
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reading and comparing trees.

export type TreeNode =
  | { kind: 'file'; size: number; sha256: string; exec: boolean }
  | { kind: 'link'; target: string }
  | { kind: 'dir' }
  | { kind: 'other' };

export interface ReadTreeOptions {
  /** Relative POSIX paths (files or folders) to leave out, e.g. '.flowsync' or 'node_modules'. */
  exclude?: (rel: string) => boolean;
  /** Also list folders (default false: only files, links and others). */
  dirs?: boolean;
}

function sha256File(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Every entry of a tree by relative path: files with content hash and exec bit, links with target. */
export function readTree(root: string, o: ReadTreeOptions = {}): Map<string, TreeNode> {
  const out = new Map<string, TreeNode>();
  const visit = (dirAbs: string, dirRel: string) => {
    for (const d of fs.readdirSync(dirAbs, { withFileTypes: true })) {
      const rel = dirRel ? `${dirRel}/${d.name}` : d.name;
      if (o.exclude?.(rel)) continue;
      const full = path.join(dirAbs, d.name);
      if (d.isSymbolicLink()) out.set(rel, { kind: 'link', target: fs.readlinkSync(full) });
      else if (d.isDirectory()) {
        if (o.dirs) out.set(rel, { kind: 'dir' });
        visit(full, rel);
      } else if (d.isFile()) {
        const st = fs.statSync(full);
        out.set(rel, { kind: 'file', size: st.size, sha256: sha256File(full), exec: (st.mode & 0o100) !== 0 });
      } else out.set(rel, { kind: 'other' });
    }
  };
  visit(root, '');
  return out;
}

/** Excludes flowsync's own folder at the root of a pulled tree. */
export const excludeFlowsyncState = (rel: string) => rel === '.flowsync';

/** Human-readable differences between two trees; [] when identical. */
export function compareTrees(expected: string, actual: string, o: { excludeExpected?: (rel: string) => boolean; excludeActual?: (rel: string) => boolean } = {}): string[] {
  const a = readTree(expected, o.excludeExpected ? { exclude: o.excludeExpected } : {});
  const b = readTree(actual, o.excludeActual ? { exclude: o.excludeActual } : {});
  return diffTrees(a, b);
}

export function diffTrees(expected: Map<string, TreeNode>, actual: Map<string, TreeNode>): string[] {
  const diffs: string[] = [];
  for (const [p, e] of expected) {
    const g = actual.get(p);
    if (!g) diffs.push(`missing: ${JSON.stringify(p)}`);
    else if (e.kind !== g.kind) diffs.push(`kind: ${JSON.stringify(p)} is a ${g.kind}, expected a ${e.kind}`);
    else if (e.kind === 'file' && g.kind === 'file') {
      if (e.sha256 !== g.sha256) diffs.push(`content: ${JSON.stringify(p)} differs (${g.size} B vs ${e.size} B)`);
      if (e.exec !== g.exec) diffs.push(`exec bit: ${JSON.stringify(p)} is ${g.exec ? '' : 'not '}executable`);
    } else if (e.kind === 'link' && g.kind === 'link' && e.target !== g.target) {
      diffs.push(`link: ${JSON.stringify(p)} -> ${g.target}, expected -> ${e.target}`);
    }
  }
  for (const p of actual.keys()) if (!expected.has(p)) diffs.push(`extra: ${JSON.stringify(p)}`);
  return diffs.sort();
}

/**
 * A snapshot of everything under `root` including folders, sizes and mtimes, to prove that an
 * operation wrote nothing. Compare two snapshots with `expect(after).toEqual(before)`.
 */
export function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!fs.existsSync(root)) return out;
  if (!fs.lstatSync(root).isDirectory()) {
    const st = fs.lstatSync(root, { bigint: true });
    return { '': `file ${st.size} ${st.mode.toString(8)} ${st.mtimeNs} ${sha256File(root)}` };
  }
  const visit = (dirAbs: string, dirRel: string) => {
    for (const d of fs.readdirSync(dirAbs, { withFileTypes: true })) {
      const rel = dirRel ? `${dirRel}/${d.name}` : d.name;
      const full = path.join(dirAbs, d.name);
      const st = fs.lstatSync(full, { bigint: true });
      if (d.isSymbolicLink()) out[rel] = `link ${fs.readlinkSync(full)}`;
      else if (d.isDirectory()) {
        out[rel] = `dir ${st.mode.toString(8)}`;
        visit(full, rel);
      } else out[rel] = `file ${st.size} ${st.mode.toString(8)} ${st.mtimeNs} ${st.size < 1_000_000n ? sha256File(full) : ''}`;
    }
  };
  visit(root, '');
  return out;
}

/** Paths of flowsync temporary files anywhere under the given folders. */
export function tempFiles(...roots: string[]): string[] {
  const found: string[] = [];
  for (const root of roots) {
    if (!fs.existsSync(root)) continue;
    for (const e of fs.readdirSync(root, { recursive: true, withFileTypes: true })) {
      if (e.name.includes('.flowsync-tmp-') || e.name.endsWith('.tmp')) found.push(path.join(e.parentPath, e.name));
    }
  }
  return found;
}
