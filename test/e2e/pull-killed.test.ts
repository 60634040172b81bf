/**
 * A pull killed outright (SIGKILL: no finally, no cleanup) must not orphan the files it already
 * wrote: the record of placed files is journaled before the first write, so the next pull still
 * treats them as its own — replacing them when the source changes instead of reporting conflicts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compareTrees, excludeFlowsyncState, generateTree, tempFiles } from '../helpers/tree.js';
import { cliEnv, removeDir, requireBuiltCli, runCli, startCli, tempDir } from './support.js';

let work = '';
beforeAll(() => {
  requireBuiltCli();
  work = tempDir('killed');
});
afterAll(() => removeDir(work));

function countFiles(dir: string): number {
  if (!fs.existsSync(dir)) return 0;
  return (fs.readdirSync(dir, { recursive: true }) as string[]).length;
}

it('a SIGKILLed pull leaves a journal; the next pull after a new push converges without conflicts', async () => {
  const src = path.join(work, 'src');
  const store = path.join(work, 'store');
  const dest = path.join(work, 'dest');
  const tree = await generateTree(src, { seed: 11, files: 3000, links: false, ignored: false });
  const env = cliEnv(path.join(work, 'cache'));
  expect((await runCli(['push', src, store, '--quiet'], { env })).code).toBe(0);

  // One transfer at a time, killed once a few dozen files have landed.
  const { child, result } = startCli(['pull', store, dest, '--concurrency', '1', '--quiet'], { env });
  let killed = false;
  while (!killed) {
    const exited = await Promise.race([result.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 5))]);
    if (exited) break;
    if (countFiles(dest) > 40) {
      child.kill('SIGKILL');
      killed = true;
    }
  }
  const r = await result;
  expect(killed, 'the pull finished before it could be killed: the test needs a slower pull').toBe(true);
  expect(r.signal).toBe('SIGKILL');

  const state = JSON.parse(fs.readFileSync(path.join(dest, '.flowsync', 'state.json'), 'utf8')) as { files: Record<string, { pending?: string }> };
  const written = tree.kept.filter((p) => fs.existsSync(path.join(dest, p)));
  expect(written.length).toBeGreaterThan(0);
  expect(written.length).toBeLessThan(tree.kept.length);
  for (const p of written) expect(state.files[p]?.pending, p).toMatch(/^[0-9a-f]{64}$/);

  // The source changes some of the files the killed pull had already written.
  for (const p of written.slice(0, 5)) fs.appendFileSync(path.join(src, p), '\nnew version\n');
  expect((await runCli(['push', src, store, '--quiet'], { env })).code).toBe(0);

  const again = await runCli(['pull', store, dest, '--json', '--quiet'], { env });
  expect(again.code, again.stderr).toBe(0);
  expect(JSON.parse(again.stdout)).toMatchObject({ conflicts: [] });
  expect(compareTrees(src, dest, { excludeActual: excludeFlowsyncState })).toEqual([]);
  expect(tempFiles(dest)).toEqual([]);
  // Finished: no pending marks are left in the record.
  const after = JSON.parse(fs.readFileSync(path.join(dest, '.flowsync', 'state.json'), 'utf8')) as { files: Record<string, { pending?: string }> };
  expect(Object.values(after.files).filter((f) => f.pending)).toEqual([]);
}, 120_000);
