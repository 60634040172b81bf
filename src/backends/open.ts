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
import type { Backend } from './types.js';

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

/** Options that reach the backend factory. Per-cloud fields are passed through as given. */
export interface RemoteOptions {
  /** Custom endpoint for S3-compatible stores, Azurite, a GCS emulator. */
  endpoint?: string;
  region?: string;
  /** A ready-made backend (tests, or a caller with its own client). */
  backend?: Backend;
  s3?: Record<string, unknown>;
  azure?: Record<string, unknown>;
  gcs?: Record<string, unknown>;
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
  const backend = options.backend ?? (await createBackend(address, options));
  return { ...address, backend, url };
}

async function createBackend(a: RemoteAddress, o: RemoteOptions): Promise<Backend> {
  const common = { ...(o.endpoint ? { endpoint: o.endpoint } : {}), ...(o.region ? { region: o.region } : {}) };
  switch (a.scheme) {
    case 'file':
      return createLocalBackend({ root: a.bucket });
    // cloud backends: s3, az, gs
    case 's3': {
      const { createS3Backend } = await import('./s3.js');
      return createS3Backend({ ...o.s3, ...common, bucket: a.bucket });
    }
    case 'az': {
      const { createAzureBackend } = await import('./azure.js');
      return createAzureBackend({ ...o.azure, ...(o.endpoint ? { endpoint: o.endpoint } : {}), container: a.bucket });
    }
    case 'gs': {
      const { createGcsBackend } = await import('./gcs.js');
      return createGcsBackend({ ...o.gcs, ...(o.endpoint ? { endpoint: o.endpoint } : {}), bucket: a.bucket });
    }
    default:
      throw new FlowsyncError('UNSUPPORTED', `The ${a.scheme}:// backend is not available in this build.`);
  }
}
