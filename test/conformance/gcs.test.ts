import { randomBytes } from 'node:crypto';
import { createGcsBackend } from '../../src/backends/gcs/backend.js';
import { withRetries } from '../../src/backends/retrying.js';
import { startGcs } from '../servers/gcs.js';
import { runConformance } from './suite.js';

runConformance({
  name: 'gcs (in-repo emulator)',
  async setup() {
    const server = await startGcs({ buckets: ['conformance'] });
    return {
      // Wrapped in the engine's retry decorator, as openRemote does: on a loaded machine a
      // keep-alive socket is now and then reset under 32 requests at once, which the engine retries.
      backend: withRetries(createGcsBackend({ bucket: 'conformance', endpoint: server.endpoint, projectId: 'test' })),
      prefix: `conf-${randomBytes(4).toString('hex')}`,
      // A fresh emulator per run: every open resumable session belongs to this run.
      pendingUploads: async () => server.pendingUploads(),
      teardown: () => server.stop(),
    };
  },
});
