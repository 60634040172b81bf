/**
 * What a tree holds, for checking results: the files a push must take (the root .prefectignore
 * applied with gitignore rules through the `ignore` package — independent of flowsync's own
 * walker, so flowsync is checked against something it does not share code with), and the size,
 * MD5 and SHA-256 of each file.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ignore, { type Ignore } from 'ignore';

export interface FileFacts {
  size: number;
  md5: string;
  sha256: string;
}

/** path (POSIX, relative) → facts. */
export type TreeFacts = Map<string, FileFacts>;

export interface TakenFiles {
  paths: string[];
  /** Symbolic links met (not followed, not counted): tools disagree on them, so say so. */
  links: string[];
}

export function loadPrefectignore(root: string): { matcher: Ignore; lines: string[] } {
  const file = path.join(root, '.prefectignore');
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trimEnd())
    .filter((l) => l !== '' && !l.startsWith('#'));
  return { matcher: ignore().add(lines), lines };
}

/** Files under root that a push takes: ignored folders are pruned, links are listed apart. */
export function listTaken(root: string, matcher: Ignore | null): TakenFiles {
  const paths: string[] = [];
  const links: string[] = [];
  const visit = (dirRel: string) => {
    const abs = dirRel === '' ? root : path.join(root, dirRel);
    for (const ent of readdirSync(abs, { withFileTypes: true })) {
      const rel = dirRel === '' ? ent.name : `${dirRel}/${ent.name}`;
      if (ent.isDirectory()) {
        if (matcher?.ignores(`${rel}/`)) continue;
        visit(rel);
      } else if (ent.isSymbolicLink()) {
        if (!matcher?.ignores(rel)) links.push(rel);
      } else if (ent.isFile()) {
        if (!matcher?.ignores(rel)) paths.push(rel);
      }
    }
  };
  visit('');
  paths.sort();
  return { paths, links };
}

/** Every regular file under root, except the top-level folders named in `skipTop`. */
export function listAll(root: string, skipTop: readonly string[] = []): string[] {
  const out: string[] = [];
  const visit = (dirRel: string) => {
    const abs = dirRel === '' ? root : path.join(root, dirRel);
    for (const ent of readdirSync(abs, { withFileTypes: true })) {
      const rel = dirRel === '' ? ent.name : `${dirRel}/${ent.name}`;
      if (ent.isDirectory()) {
        if (dirRel === '' && skipTop.includes(ent.name)) continue;
        visit(rel);
      } else if (ent.isFile() || ent.isSymbolicLink()) {
        out.push(rel);
      }
    }
  };
  if (existsSync(root)) visit('');
  out.sort();
  return out;
}

const SMALL = 8 * 1024 * 1024;

export async function hashFile(file: string): Promise<FileFacts> {
  const md5 = createHash('md5');
  const sha = createHash('sha256');
  const size = statSync(file).size;
  if (size <= SMALL) {
    const buf = readFileSync(file);
    md5.update(buf);
    sha.update(buf);
    return { size: buf.length, md5: md5.digest('hex'), sha256: sha.digest('hex') };
  }
  let n = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 4 * 1024 * 1024 })) {
    md5.update(chunk as Buffer);
    sha.update(chunk as Buffer);
    n += (chunk as Buffer).length;
  }
  return { size: n, md5: md5.digest('hex'), sha256: sha.digest('hex') };
}

export async function hashTree(root: string, paths: readonly string[]): Promise<TreeFacts> {
  const facts: TreeFacts = new Map();
  for (const p of paths) facts.set(p, await hashFile(path.join(root, ...p.split('/'))));
  return facts;
}

export interface TreeDiff {
  missing: string[];
  extra: string[];
  different: string[];
}

export function diffFacts(expected: TreeFacts, actual: Map<string, { size: number; md5?: string; sha256?: string }>): TreeDiff {
  const missing: string[] = [];
  const extra: string[] = [];
  const different: string[] = [];
  for (const [p, want] of expected) {
    const got = actual.get(p);
    if (!got) missing.push(p);
    else if (got.size !== want.size || (got.md5 !== undefined && got.md5 !== want.md5) || (got.sha256 !== undefined && got.sha256 !== want.sha256)) different.push(p);
  }
  for (const p of actual.keys()) if (!expected.has(p)) extra.push(p);
  return { missing, extra, different };
}

export function diffIsEmpty(d: TreeDiff): boolean {
  return d.missing.length === 0 && d.extra.length === 0 && d.different.length === 0;
}

export function describeDiff(d: TreeDiff): string {
  const part = (label: string, list: string[]) => (list.length === 0 ? [] : [`${list.length} ${label} (e.g. ${list.slice(0, 3).join(', ')})`]);
  return [...part('missing', d.missing), ...part('extra', d.extra), ...part('with different content', d.different)].join('; ');
}
