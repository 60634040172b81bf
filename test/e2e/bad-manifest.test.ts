/**
 * Acceptance: a manifest with an unsafe path or an escaping link makes `flowsync pull` exit 1
 * with a clear message and write nothing anywhere: the destination is not even created, its
 * parent and the store are byte-for-byte as before.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshot } from '../helpers/tree.js';
import { cliEnv, removeDir, requireBuiltCli, runCli, tempDir } from './support.js';

let work = '';
let env: NodeJS.ProcessEnv = {};
beforeAll(() => {
  requireBuiltCli();
  work = tempDir('bad-manifest');
  env = cliEnv(path.join(work, 'cache'));
});
afterAll(() => removeDir(work));

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const good = (p: string) => ({ path: p, size: 4, mode: 420, sha256: sha('good') });

/** A store whose manifest lists the given entries (good objects stored for the good files). */
function makeStore(name: string, files: unknown[], top: Record<string, unknown> = {}): string {
  const store = path.join(work, name, 'store');
  fs.mkdirSync(path.join(store, '.flowsync'), { recursive: true });
  for (const f of files as { path: string; sha256?: string }[]) {
    if (f.sha256 === sha('good') && !f.path.includes('..') && !f.path.startsWith('/') && !f.path.includes('\\')) {
      fs.mkdirSync(path.dirname(path.join(store, f.path)), { recursive: true });
      fs.writeFileSync(path.join(store, f.path), 'good');
    }
  }
  const manifest = { format: 'flowsync-manifest', version: 1, createdAt: '2026-01-01T00:00:00.000Z', layout: 'mirror', files, ...top };
  fs.writeFileSync(path.join(store, '.flowsync', 'manifest.json'), JSON.stringify(manifest));
  return store;
}

const CASES: [string, unknown[], RegExp][] = [
  ['parent-segment', [good('a/good.txt'), good('../x')], /Refusing path "\.\.\/x".*"\.\." segment/],
  ['absolute', [good('a/good.txt'), good('/etc/x')], /Refusing path "\/etc\/x".*absolute/],
  ['climbing', [good('a/good.txt'), good('a/../../x')], /Refusing path "a\/\.\.\/\.\.\/x"/],
  ['backslash', [good('a/good.txt'), good('a\\..\\x')], /Refusing path "a\\\\\.\.\\\\x".*backslash/],
  ['link-escape', [good('a/good.txt'), { path: 'a/l', link: '../../x' }], /Refusing link "a\/l" -> "\.\.\/\.\.\/x".*leaves the tree/],
  ['link-absolute', [good('a/good.txt'), { path: 'l', link: '/etc/passwd' }], /Refusing link "l" -> "\/etc\/passwd"/],
  ['link-through-link', [good('a/good.txt'), { path: 'a/up', link: '..' }, { path: 'b', link: 'a/up/a/up/..' }], /passes through the link "a\/up"/],
];

describe('pull refuses an unsafe manifest and writes nothing', () => {
  it.each(CASES)('%s', async (name, files, message) => {
    const store = makeStore(name, files);
    const parent = path.join(work, name, 'parent');
    fs.mkdirSync(parent);
    fs.writeFileSync(path.join(parent, 'neighbour.txt'), 'keep me');
    const dest = path.join(parent, 'dest');
    const before = { parent: snapshot(parent), store: snapshot(store), up: snapshot(path.join(work, name)) };

    const r = await runCli(['pull', store, dest], { env });
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1); // one line: cause and fix
    expect(lines[0]).toMatch(/^flowsync pull: /);
    expect(lines[0]).toMatch(message);
    expect(r.stdout).toBe('');
    expect(fs.existsSync(dest)).toBe(false);
    expect({ parent: snapshot(parent), store: snapshot(store), up: snapshot(path.join(work, name)) }).toEqual(before);
    expect(fs.existsSync(path.join(work, 'x'))).toBe(false);
  });

  it('leaves an existing destination untouched too (no .flowsync state written)', async () => {
    const store = makeStore('existing', [good('a/good.txt'), good('../escape')]);
    const dest = path.join(work, 'existing', 'dest');
    fs.mkdirSync(path.join(dest, 'a'), { recursive: true });
    fs.writeFileSync(path.join(dest, 'a', 'mine.txt'), 'mine');
    const before = snapshot(path.join(work, 'existing'));
    const r = await runCli(['pull', store, dest, '--json'], { env });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ command: 'pull', error: { code: 'UNSAFE_PATH' } });
    expect(snapshot(path.join(work, 'existing'))).toEqual(before);
    expect(fs.existsSync(path.join(dest, '.flowsync'))).toBe(false);
  });
});
