/**
 * The memo shortcut: a push to a remote whose manifest still carries the tag this machine left
 * costs one stat of the manifest, no download: with no change nothing else happens, with changes
 * the plan is made against the machine's copy of that manifest. A changed remote (another
 * writer's manifest) or a copy that is not those bytes takes the full path.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { manifestKey } from '../../src/backends/keys.js';
import { createMemoryBackend } from '../../src/backends/memory.js';
import type { Backend } from '../../src/backends/types.js';
import { push } from '../../src/index.js';
import { removeDir, tempDir } from './support.js';

let work = '';
beforeAll(() => {
  work = tempDir('memo');
});
afterAll(() => removeDir(work));

function counting(inner: Backend): { backend: Backend; reads: string[]; stats: string[] } {
  const reads: string[] = [];
  const stats: string[] = [];
  const backend: Backend = {
    ...inner,
    stat: (key, o) => {
      stats.push(key);
      return inner.stat(key, o);
    },
    read: (key, o) => {
      reads.push(key);
      return inner.read(key, o);
    },
  };
  return { backend, reads, stats };
}

it('skips reading the remote manifest only when neither the tree nor the remote changed', async () => {
  const dir = path.join(work, 'src');
  fs.mkdirSync(dir);
  for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(dir, `f${i}.py`), `print(${i})\n`);
  const memory = createMemoryBackend();
  const c = counting(memory);
  const cacheDir = path.join(work, 'cache');
  // The address only names the remote (and its memo); the ready-made backend does the storing.
  const opts = { dir, remote: path.join(work, 'remote'), remoteOptions: { backend: c.backend }, cacheDir };
  const key = manifestKey('');
  const run = () => push(opts);

  const first = await run();
  expect(first.uploaded).toBe(20);
  expect(c.reads).not.toContain(key); // nothing to read yet: no manifest

  c.reads.length = 0;
  const second = await run();
  expect(second).toMatchObject({ uploaded: 0, unchanged: 20, manifest: first.manifest });
  expect(c.reads).not.toContain(key);
  expect(c.stats).toContain(key);

  // The tree changes: the plan is made against the local copy (no read), and exactly that file moves.
  fs.appendFileSync(path.join(dir, 'f3.py'), '# changed\n');
  c.reads.length = 0;
  c.stats.length = 0;
  const third = await run();
  expect(third.uploaded).toBe(1);
  expect(c.reads).not.toContain(key);
  expect(c.stats).toContain(key);

  // A copy that is not the manifest it claims to be is not used: the manifest is read.
  const copies = fs.readdirSync(path.join(cacheDir, 'remotes')).filter((f) => f.endsWith('.manifest'));
  expect(copies).toHaveLength(1);
  fs.writeFileSync(path.join(cacheDir, 'remotes', copies[0]!), '{"format":"flowsync-manifest","version":1,"files":[]}');
  fs.appendFileSync(path.join(dir, 'f4.py'), '# changed\n');
  c.reads.length = 0;
  const damagedCopy = await run();
  expect(damagedCopy).toMatchObject({ uploaded: 1, deleted: 0 }); // an empty "previous" would upload all 20
  expect(c.reads).toContain(key);

  // Another writer replaces the manifest (same tree, new tag): the shortcut must not apply.
  const stored = memory.objects.get(key)!;
  memory.objects.set(key, { ...stored, etag: 'someone-else' });
  c.reads.length = 0;
  const fourth = await run();
  expect(fourth.uploaded).toBe(0);
  expect(c.reads).toContain(key);

  // Without a cache folder there is no memo: the manifest is always read.
  c.reads.length = 0;
  await push({ ...opts, cacheDir: false });
  expect(c.reads).toContain(key);
});
