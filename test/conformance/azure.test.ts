import { randomBytes } from 'node:crypto';
import { createAzureBackend } from '../../src/backends/azure/backend.js';
import { withRetries } from '../../src/backends/retrying.js';
import { startAzurite } from '../servers/azurite.js';
import { runConformance } from './suite.js';

runConformance({
  name: 'azure (azurite)',
  async setup() {
    const server = await startAzurite({ containers: ['conformance'] });
    return {
      // Wrapped in the engine's retry decorator, as openRemote does: Azurite on a loaded machine
      // now and then resets a connection (seen on blob-batch deletes), which the engine retries.
      backend: withRetries(createAzureBackend({ container: 'conformance', connectionString: server.connectionString })),
      prefix: `conf-${randomBytes(4).toString('hex')}`,
      // No pendingUploads: uncommitted blocks cannot be listed per upload nor deleted on Azure;
      // they vanish when the blob is next committed or after a week.
      teardown: () => server.stop(),
    };
  },
});
