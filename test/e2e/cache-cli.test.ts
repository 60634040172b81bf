/**
 * The worker side through the built CLI, on a local store: `pull --json` reports `fromCache` and
 * `cacheBytes`, `flowsync cache` shows and prunes the content cache, `pull --switch` prints the
 * version folder, and options that make no sense together are refused with exit 2.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cliEnv, removeDir, requireBuiltCli, runCli, tempDir } from './support.js';

let work = '';
let env: NodeJS.ProcessEnv;
beforeAll(() => {
  requireBuiltCli();
  work = tempDir('cache-cli');
  env = cliEnv(path.join(work, 'cache'));
});
afterAll(() => removeDir(work));

it('pull reports cache use, cache shows and prunes, --switch names its version folder', async () => {
  const src = path.join(work, 'src');
  const store = path.join(work, 'store');
  fs.mkdirSync(src);
  for (let i = 0; i < 12; i++) fs.writeFileSync(path.join(src, `f${i}.txt`), `file ${i}\n`);
  expect((await runCli(['push', src, store, '-q'], { env })).code).toBe(0);

  const first = await runCli(['pull', store, path.join(work, 'a'), '--json'], { env });
  expect(JSON.parse(first.stdout)).toMatchObject({ command: 'pull', downloaded: 12, fromCache: 0, cacheBytes: 0 });
  const second = await runCli(['pull', store, path.join(work, 'b'), '--json'], { env });
  const bytes = JSON.parse(first.stdout).bytes as number;
  expect(JSON.parse(second.stdout)).toMatchObject({ downloaded: 12, fromCache: 12, cacheBytes: bytes });

  const shown = await runCli(['cache', '--json'], { env });
  expect(shown.code).toBe(0);
  expect(JSON.parse(shown.stdout)).toMatchObject({ command: 'cache', root: path.join(work, 'cache', 'content'), entries: 12, bytes });
  const human = await runCli(['cache'], { env });
  expect(human.stdout).toMatch(/12 entries, \d+ B of 10\.7 GB/);

  const switched = await runCli(['pull', store, path.join(work, 'live'), '--switch'], { env });
  expect(switched.code).toBe(0);
  expect(switched.stdout).toContain(`version folder ${fs.realpathSync(path.join(work, 'live'))}`);
  expect(switched.stdout).toMatch(/from the content cache 12/);

  const pruned = await runCli(['cache', '--prune', '--cache-size', '0', '--json'], { env });
  expect(JSON.parse(pruned.stdout)).toMatchObject({ entries: 0, bytes: 0, removed: 12, removedBytes: bytes });
  const after = await runCli(['pull', store, path.join(work, 'c'), '--json', '--no-cache'], { env });
  expect(JSON.parse(after.stdout)).toMatchObject({ downloaded: 12, fromCache: 0 });
  expect(JSON.parse((await runCli(['cache', '--json'], { env })).stdout)).toMatchObject({ entries: 0 });
});

it('refuses options that do not go together (exit 2, naming why)', async () => {
  const keep = await runCli(['pull', path.join(work, 'store'), path.join(work, 'x'), '--keep', '2'], { env });
  expect(keep.code).toBe(2);
  expect(keep.stderr).toMatch(/--keep applies only with --switch/);
  const link = await runCli(['pull', path.join(work, 'store'), path.join(work, 'x'), '--link', '--no-cache'], { env });
  expect(link.code).toBe(2);
  expect(link.stderr).toMatch(/--link .* --no-cache/);
  const size = await runCli(['cache', '--cache-size', 'lots'], { env });
  expect(size.code).toBe(2);
  expect(fs.existsSync(path.join(work, 'x'))).toBe(false);
});
