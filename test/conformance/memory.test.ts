import { createMemoryBackend } from '../../src/backends/memory.js';
import { runConformance } from './suite.js';

runConformance({
  name: 'memory',
  async setup() {
    const backend = createMemoryBackend();
    // A fresh backend per run, so every pending upload belongs to this run.
    return { backend, prefix: 'conf-memory', pendingUploads: async () => backend.pendingUploads.size };
  },
});
