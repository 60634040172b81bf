import { randomBytes } from 'node:crypto';
import { createGcsBackend } from '../../src/backends/gcs/backend.js';
import { startGcs } from '../servers/gcs.js';
import { runConformance } from './suite.js';

runConformance({
  name: 'gcs (in-repo emulator)',
  async setup() {
    const server = await startGcs({ buckets: ['conformance'] });
    return {
      backend: createGcsBackend({ bucket: 'conformance', endpoint: server.endpoint, projectId: 'test' }),
      prefix: `conf-${randomBytes(4).toString('hex')}`,
      // A fresh emulator per run: every open resumable session belongs to this run.
      pendingUploads: async () => server.pendingUploads(),
      teardown: () => server.stop(),
    };
  },
});
