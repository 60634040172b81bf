/**
 * The remote manifest: read with its version tag, written last (the commit point of a push) and,
 * where the store supports it, only if nobody else wrote one since we read it.
 */
import { manifestKey } from '../backends/keys.js';
import type { Remote } from '../backends/open.js';
import { FlowsyncError, isFlowsyncError } from '../errors.js';
import { manifestId, parseManifest, serializeManifest } from '../manifest/codec.js';
import type { Manifest } from '../manifest/types.js';
import { withRetry } from '../transfer/retry.js';
import { collect } from '../transfer/streams.js';

export interface RemoteManifest {
  manifest: Manifest;
  id: string;
  /** Version tag of the stored manifest, for the conditional write that replaces it. */
  etag?: string;
}

export function describe(remote: Remote): string {
  return remote.url;
}

export async function fetchManifest(remote: Remote, signal?: AbortSignal): Promise<RemoteManifest | null> {
  const key = manifestKey(remote.prefix);
  return withRetry(
    async () => {
      const info = await remote.backend.stat(key, { signal });
      if (!info) return null;
      let bytes: Buffer;
      try {
        bytes = await collect(await remote.backend.read(key, { signal }), signal);
      } catch (err) {
        if (isFlowsyncError(err, 'NOT_FOUND')) return null; // deleted between stat and read
        throw err;
      }
      const manifest = parseManifest(bytes, `${remote.url} (${key})`);
      return { manifest, id: manifestId(bytes), ...(info.etag ? { etag: info.etag } : {}) };
    },
    { signal },
  );
}

/** Write `manifest` as the remote's new manifest; returns its id. */
export async function writeManifest(remote: Remote, manifest: Manifest, previous: RemoteManifest | null, signal?: AbortSignal): Promise<string> {
  const bytes = serializeManifest(manifest);
  const { backend } = remote;
  const condition = !backend.features.conditionalWrite
    ? {}
    : previous
      ? previous.etag
        ? { ifMatch: previous.etag }
        : {}
      : { ifNoneMatch: '*' as const };
  try {
    await withRetry(
      () => backend.write(manifestKey(remote.prefix), bytes, { size: bytes.length, contentType: 'application/json', ...condition }, { signal }),
      { signal },
    );
  } catch (err) {
    if (isFlowsyncError(err, 'PRECONDITION_FAILED')) {
      throw new FlowsyncError(
        'PRECONDITION_FAILED',
        `Another push updated ${remote.url} while this one ran, so this push did not replace its manifest. Run the push again: it uploads only what still differs.`,
        { cause: err },
      );
    }
    throw err;
  }
  return manifestId(bytes);
}
