import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLocalBackend, TEMP_MARKER } from '../../src/backends/local.js';
import { tempNameFor } from '../../src/util/atomic-write.js';
import { runConformance } from './suite.js';

/** Temporary files left under `dir`: an unfinished or un-cleaned upload leaves one behind. */
async function countTempFiles(dir: string): Promise<number> {
  const entries = await fsp.readdir(dir, { recursive: true, withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  return entries.filter((e) => e.isFile() && e.name.startsWith(TEMP_MARKER)).length;
}

runConformance({
  name: 'local',
  async setup() {
    const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'flowsync-conformance-'));
    const prefix = `conf-${randomBytes(4).toString('hex')}`;
    return {
      backend: createLocalBackend({ root }),
      prefix,
      pendingUploads: () => countTempFiles(path.join(root, prefix)),
      teardown: () => fsp.rm(root, { recursive: true, force: true }),
    };
  },
});

/** A local store in a fresh folder for `fn`, removed afterwards. */
async function withStore(fn: (backend: ReturnType<typeof createLocalBackend>, root: string) => Promise<void>): Promise<void> {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'flowsync-local-sweep-'));
  try {
    await fn(createLocalBackend({ root }), root);
  } finally {
    await fsp.rm(root, { recursive: true, force: true });
  }
}

async function listKeys(backend: ReturnType<typeof createLocalBackend>, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of backend.list(prefix)) keys.push(o.key);
  return keys;
}

describe('the local store sweeps what killed writers left', () => {
  it('a listing removes temporary files untouched for a day, and leaves fresh ones (a write in progress)', () =>
    withStore(async (backend, root) => {
      await backend.write('p/packs/ab/pack1', Buffer.from('pack'), { size: 4 });
      const folder = path.join(root, 'p', 'packs', 'ab');
      const stale = path.join(folder, `${TEMP_MARKER}dead-pack2`);
      const fresh = path.join(folder, `${TEMP_MARKER}live-pack3`);
      await fsp.writeFile(stale, 'half a pack');
      await fsp.writeFile(fresh, 'being written');
      const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000);
      await fsp.utimes(stale, twoDaysAgo, twoDaysAgo);
      expect(await listKeys(backend, 'p/packs/')).toEqual(['p/packs/ab/pack1']);
      expect((await fsp.readdir(folder)).sort()).toEqual([path.basename(fresh), 'pack1'].sort());
    }));

  it('a listing removes at once a temporary file whose writer (a process of this host) is gone, and keeps a live writer\'s', () =>
    withStore(async (backend, root) => {
      await backend.write('p/packs/pack1', Buffer.from('pack'), { size: 4 });
      const folder = path.join(root, 'p', 'packs');
      const live = tempNameFor(path.join(folder, 'pack2'));
      // The same name as a process that ran here and exited (SIGKILLed mid-write, say) would have left.
      const gonePid = spawnSync(process.execPath, ['-e', '']).pid;
      const dead = path.join(folder, path.basename(live).replace(`-${process.pid}-`, `-${gonePid}-`));
      await fsp.writeFile(live, 'being written');
      await fsp.writeFile(dead, 'half a pack');
      expect(await listKeys(backend, 'p/packs/')).toEqual(['p/packs/pack1']);
      expect((await fsp.readdir(folder)).sort()).toEqual([path.basename(live), 'pack1'].sort());
    }));
});
