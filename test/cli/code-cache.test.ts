/**
 * The CLI's launcher (src/cli/launcher.ts) runs the bundle through V8's code cache: the first
 * run writes `<cache dir>/code/cli-*.bin`, the next ones use it (and leave it alone); a cache
 * V8 refuses (garbage, truncated) is replaced, one that cannot be written is skipped, and
 * FLOWSYNC_NO_CODE_CACHE=1 writes none. In every case the command itself works.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cliEnv, removeDir, requireBuiltCli, runCli, tempDir } from '../e2e/support.js';

let work = '';
beforeAll(() => {
  requireBuiltCli();
  work = tempDir('code-cache');
  fs.mkdirSync(path.join(work, 'tree'));
  fs.writeFileSync(path.join(work, 'tree', 'flow.py'), 'print("hi")\n');
});
afterAll(() => removeDir(work));

async function pushOnce(cacheDir: string, extra: NodeJS.ProcessEnv = {}): Promise<void> {
  const r = await runCli(['push', path.join(work, 'tree'), path.join(work, 'store'), '--json'], { env: cliEnv(cacheDir, extra) });
  expect(r.code, r.stderr).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ command: 'push', unchanged: expect.any(Number) });
}

function cacheFiles(cacheDir: string): string[] {
  const dir = path.join(cacheDir, 'code');
  return fs.existsSync(dir) ? fs.readdirSync(dir).map((n) => path.join(dir, n)) : [];
}

it('the first run writes the cache, the next one uses it without writing it again', async () => {
  const cache = path.join(work, 'c1');
  await pushOnce(cache);
  const [file, ...more] = cacheFiles(cache);
  expect(more).toEqual([]);
  expect(path.basename(file!)).toMatch(/^cli-[0-9a-f]{32}\.bin$/);
  const before = fs.statSync(file!);
  expect(before.size).toBeGreaterThan(100_000);
  await pushOnce(cache);
  const after = fs.statSync(file!);
  expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
});

it('a cache V8 refuses is replaced; the command runs all the same', async () => {
  const cache = path.join(work, 'c2');
  await pushOnce(cache);
  const [file] = cacheFiles(cache);
  const good = fs.readFileSync(file!);
  for (const bad of [Buffer.from('not a code cache'), good.subarray(0, good.length >> 1)]) {
    fs.writeFileSync(file!, bad);
    await pushOnce(cache);
    expect(fs.readFileSync(file!).length).toBeGreaterThan(bad.length);
  }
});

it('an unwritable cache folder and FLOWSYNC_NO_CODE_CACHE=1 leave no cache and no error', async () => {
  const blocked = path.join(work, 'c3');
  fs.mkdirSync(blocked);
  fs.writeFileSync(path.join(blocked, 'code'), 'a file where the folder would go');
  await pushOnce(blocked);
  expect(fs.readFileSync(path.join(blocked, 'code'), 'utf8')).toBe('a file where the folder would go');
  const off = path.join(work, 'c4');
  await pushOnce(off, { FLOWSYNC_NO_CODE_CACHE: '1' });
  expect(cacheFiles(off)).toEqual([]);
});
