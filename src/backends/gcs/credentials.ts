/**
 * GCS client set-up and credentials: endpoint (option or STORAGE_EMULATOR_HOST), service-account
 * key (registered as a secret once, here), SDK retries off (the retry decorator retries).
 */
import { Storage, type StorageOptions } from '@google-cloud/storage';
import { registerSecret } from '../../secrets.js';
import type { GcsOptions } from './options.js';

/** The endpoint to use, from the option or STORAGE_EMULATOR_HOST, as `scheme://host[:port]`. */
export function resolveGcsEndpoint(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const raw = option ?? env['STORAGE_EMULATOR_HOST'];
  if (!raw) return undefined;
  const withScheme = /^https?:\/\//i.test(raw) ? raw : `http://${raw}`;
  // Emulator hosts are sometimes given with the API path; the SDK adds it itself.
  return withScheme.replace(/\/+$/, '').replace(/\/storage\/v1$/, '');
}

export function buildGcsClient(o: GcsOptions): Storage {
  const endpoint = resolveGcsEndpoint(o.endpoint);
  const explicitAuth = o.credentials !== undefined || o.keyFilename !== undefined;
  const credentials = o.credentials as StorageOptions['credentials'] | undefined;
  for (const field of ['private_key', 'private_key_id']) {
    const v = o.credentials?.[field];
    if (typeof v === 'string') registerSecret(v);
  }
  const storage = new Storage({
    ...(o.projectId ? { projectId: o.projectId } : {}),
    ...(credentials ? { credentials } : {}),
    ...(o.keyFilename ? { keyFilename: o.keyFilename } : {}),
    // The retry decorator retries (TRANSIENT / THROTTLED); SDK retries underneath would multiply them.
    retryOptions: { autoRetry: false, maxRetries: 0 },
    ...(endpoint ? { apiEndpoint: endpoint, useAuthWithCustomEndpoint: explicitAuth } : {}),
  });
  if (endpoint) {
    // With STORAGE_EMULATOR_HOST set, the SDK uses that value verbatim as its JSON-API base
    // (no /storage/v1, and no scheme if the variable has none); pin the base it should have.
    (storage as { baseUrl: string }).baseUrl = `${endpoint}/storage/v1`;
  }
  return storage;
}

