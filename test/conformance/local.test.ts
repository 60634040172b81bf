import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLocalBackend, TEMP_MARKER } from '../../src/backends/local.js';
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
