/**
 * Turn a remote address into a backend and a prefix folder:
 *   s3://bucket/prefix   az://container/prefix   gs://bucket/prefix
 *   file:///abs/path     a plain local path (the local store)
 * SDKs are loaded lazily, so using one cloud never loads the others.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlowsyncError } from '../errors.js';
import { normalizePrefix } from './keys.js';
import { createLocalBackend } from './local.js';
import { withRetries, type RetryOptions } from './retrying.js';
import type { Backend } from './types.js';
import type { AzureOptions } from './azure/options.js';
import type { GcsOptions } from './gcs/options.js';
import type { S3Options } from './s3/options.js';

export type RemoteScheme = 's3' | 'az' | 'gs' | 'file';

export interface RemoteAddress {
  scheme: RemoteScheme;
  /** Bucket or container; for `file`, the absolute store folder. */
  bucket: string;
  /** Normalised folder inside the bucket ('' for the root). */
  prefix: string;
}

export interface Remote extends RemoteAddress {
  backend: Backend;
  /** The address as the user wrote it, for messages. */
  url: string;
}

/** Options that reach the backend factory; per-cloud fields are typed by their backend. */
export interface RemoteOptions {
  /** Custom endpoint for S3-compatible stores, Azurite, a GCS emulator. */
  endpoint?: string;
  region?: string;
  /** A ready-made backend (tests, or a caller with its own client); it is wrapped in the retry decorator too. */
  backend?: Backend;
  /** The retry decorator's policy (default 5 attempts, 200 ms base, 10 s cap). */
  retry?: Omit<RetryOptions, 'signal'>;
  s3?: S3Options;
  azure?: AzureOptions;
  gcs?: GcsOptions;
}

const CLOUD = /^(s3|az|gs):\/\/([^/]*)\/?(.*)$/;

export function parseRemote(url: string): RemoteAddress {
  if (typeof url !== 'string' || url.trim() === '') {
    throw new FlowsyncError('USAGE', 'Missing remote: give s3://bucket/folder, az://container/folder, gs://bucket/folder or a local path.');
  }
  const m = CLOUD.exec(url);
  if (m) {
    const [, scheme, bucket, rest] = m as unknown as [string, RemoteScheme, string, string];
    if (!bucket) throw new FlowsyncError('USAGE', `Remote ${url} names no bucket: write ${scheme}://<bucket>/<folder>.`);
    return { scheme, bucket, prefix: normalizePrefix(rest) };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !url.startsWith('file://')) {
    throw new FlowsyncError('USAGE', `Unsupported remote ${url}: use s3://, az://, gs://, file:// or a local path.`);
  }
  const dir = url.startsWith('file://') ? fileURLToPath(url) : path.resolve(url);
  return { scheme: 'file', bucket: dir, prefix: '' };
}

export async function openRemote(url: string, options: RemoteOptions = {}): Promise<Remote> {
  const address = parseRemote(url);
  // The one place a backend gets its retries (DESIGN §6): every call through the remote is retried.
  const backend = withRetries(options.backend ?? (await createBackend(address, options)), options.retry);
  return { ...address, backend, url };
}

async function createBackend(a: RemoteAddress, o: RemoteOptions): Promise<Backend> {
  const endpoint = o.endpoint ? { endpoint: o.endpoint } : {};
  switch (a.scheme) {
    case 'file':
      return createLocalBackend({ root: a.bucket });
    // cloud backends: s3, az, gs
    case 's3': {
      const { createS3Backend } = await import('./s3/backend.js');
      return createS3Backend({ ...o.s3, ...endpoint, ...(o.region ? { region: o.region } : {}), bucket: a.bucket });
    }
    case 'az': {
      const { createAzureBackend } = await import('./azure/backend.js');
      return createAzureBackend({ ...o.azure, ...endpoint, container: a.bucket });
    }
    case 'gs': {
      const { createGcsBackend } = await import('./gcs/backend.js');
      return createGcsBackend({ ...o.gcs, ...endpoint, bucket: a.bucket });
    }
    default:
      throw new FlowsyncError('UNSUPPORTED', `The ${a.scheme}:// backend is not available in this build.`);
  }
}
