import { randomBytes } from 'node:crypto';
import { createAzureBackend } from '../../src/backends/azure/backend.js';
import { startAzurite } from '../servers/azurite.js';
import { runConformance } from './suite.js';

runConformance({
  name: 'azure (azurite)',
  async setup() {
    const server = await startAzurite({ containers: ['conformance'] });
    return {
      backend: createAzureBackend({ container: 'conformance', connectionString: server.connectionString }),
      prefix: `conf-${randomBytes(4).toString('hex')}`,
      // No pendingUploads: uncommitted blocks cannot be listed per upload nor deleted on Azure;
      // they vanish when the blob is next committed or after a week.
      teardown: () => server.stop(),
    };
  },
});
