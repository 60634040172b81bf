/**
 * Azure Blob Storage backend (block blobs). Moves bytes only: the engine owns hashing, retries
 * (the decorator in ../retrying.ts; the SDK makes one try per call), concurrency, part sizes,
 * delete batching and progress; client set-up and credentials are in credentials.ts.
 *
 * Integrity: the transport digest is md5. Every Put Blob and Put Block carries the engine's MD5
 * of its bytes as Content-MD5, which Azure (and Azurite) check on arrival; the content sha256
 * travels as metadata `sha256`.
 *
 * Metadata names on Azure must be C# identifiers (no '-'), while flowsync metadata keys are
 * lower-case letters, digits and '-'. Keys are stored with '-' as '_' and read back with '_' as
 * '-'; the mapping is one-to-one for flowsync's keys because they never contain '_'.
 */
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import type { BlobHTTPHeaders, BlobRequestConditions, BlockBlobClient, BlockBlobUploadOptions } from '@azure/storage-blob';
import { FlowsyncError, abortError, throwIfAborted } from '../../errors.js';
import { checkContainerName, resolveClient, type ResolvedClient } from './credentials.js';
import { azureError, statusOf, storageErrorCode, type AzureErrorContext } from './errors.js';
import type { AzureBackendOptions } from './options.js';
import {
  SHA256_METADATA_KEY,
  type Backend,
  type MultipartWriter,
  type ObjectInfo,
  type Op,
  type ReadOptions,
  type WriteInfo,
} from '../types.js';

export type { AzureBackendOptions, AzureOptions } from './options.js';

const MiB = 1024 * 1024;
const MAX_BLOCKS = 50_000;
const BATCH_MAX = 256; // Azure's limit of sub-requests per blob batch

export function createAzureBackend(options: AzureBackendOptions): Backend {
  const container = options.container;
  if (!options.client) checkContainerName(container);
  let resolved: Promise<ResolvedClient> | undefined;
  let batchDelete = true;
  const connect = async (): Promise<ResolvedClient> => {
    const r = await (resolved ??= resolveClient(options));
    batchDelete &&= r.batchDelete;
    return r;
  };
  const ctx = (r: ResolvedClient | undefined, action: string, key?: string, signal?: AbortSignal): AzureErrorContext => ({
    action,
    container,
    ...(key === undefined ? {} : { key }),
    ...(r ? { account: r.account } : {}),
    ...(signal ? { signal } : {}),
  });

  async function putWhole(r: ResolvedClient, key: string, data: Uint8Array, w: WriteInfo, o?: Op): Promise<ObjectInfo> {
    // blobContentMD5 is stored as the blob's Content-MD5 (what other tools verify);
    // transactionalContentMD5 (not in the typed options, passed through at run time) is the
    // Content-MD5 request header that Azure checks on arrival. Azurite checks either.
    const uploadOptions: BlockBlobUploadOptions & { transactionalContentMD5?: Uint8Array } = {
      blobHTTPHeaders: headersFor(w, w.digest),
      metadata: toAzureMetadata(w),
      conditions: conditionsFor(w),
      ...(w.digest ? { transactionalContentMD5: w.digest } : {}),
      ...(o?.signal ? { abortSignal: o.signal } : {}),
    };
    try {
      const res = await r.client.getBlockBlobClient(key).upload(data, data.length, uploadOptions);
      return writtenInfo(key, data.length, w, res.etag, res.lastModified);
    } catch (err) {
      throw azureError(err, ctx(r, 'upload', key, o?.signal));
    }
  }

  async function commitBlocks(r: ResolvedClient, key: string, ids: string[], size: number, w: Omit<WriteInfo, 'size'>, md5: Uint8Array | undefined, o?: Op): Promise<ObjectInfo> {
    try {
      const res = await r.client.getBlockBlobClient(key).commitBlockList(ids, {
        blobHTTPHeaders: headersFor(w, md5),
        metadata: toAzureMetadata(w),
        conditions: conditionsFor(w),
        ...(o?.signal ? { abortSignal: o.signal } : {}),
      });
      return writtenInfo(key, size, w, res.etag, res.lastModified);
    } catch (err) {
      throw azureError(err, ctx(r, 'commit the blocks of', key, o?.signal));
    }
  }

  /** HEAD has no body, so a 403 there cannot say whether the key or the permission is wrong; a 1-byte GET can. */
  async function explainForbidden(blob: BlockBlobClient, err: unknown, c: AzureErrorContext): Promise<FlowsyncError> {
    try {
      await blob.download(0, 1, c.signal ? { abortSignal: c.signal } : {});
    } catch (again) {
      if (statusOf(again) === 403) return azureError(again, c);
    }
    return azureError(err, c);
  }

  async function deleteOne(r: ResolvedClient, key: string, signal?: AbortSignal): Promise<void> {
    try {
      await r.client.getBlobClient(key).deleteIfExists({ deleteSnapshots: 'include', ...(signal ? { abortSignal: signal } : {}) });
    } catch (err) {
      throw azureError(err, ctx(r, 'delete', key, signal));
    }
  }

  async function deleteBatch(r: ResolvedClient, keys: string[], signal?: AbortSignal): Promise<void> {
    const res = await r.client.getBlobBatchClient().deleteBlobs(
      keys.map((k) => r.client.getBlobClient(k)),
      { deleteSnapshots: 'include', ...(signal ? { abortSignal: signal } : {}) },
    );
    res.subResponses.forEach((sub, i) => {
      if (sub.status < 300) return;
      // A blob that is already gone is what delete wants.
      if (sub.status === 404 && (sub.errorCode === undefined || sub.errorCode === 'BlobNotFound')) return;
      const asError = { statusCode: sub.status, code: sub.errorCode, message: sub.statusMessage };
      throw azureError(asError, ctx(r, 'delete', keys[i], signal));
    });
  }

  const backend: Backend = {
    name: 'azure',
    features: { multipart: true, conditionalWrite: true, rangeRead: true, metadata: true, transportDigest: 'md5' },
    // Blob batch takes 256 deletes per request; without it (a SAS, or an account that refuses
    // batches) one blob per call, and the engine runs those calls in parallel.
    get limits() {
      return { deleteBatch: batchDelete ? BATCH_MAX : 1, multipart: { minPartSize: 1, maxPartSize: 4000 * MiB, maxParts: MAX_BLOCKS } };
    },
    tuning: { concurrency: 16, multipartThreshold: 16 * MiB, partSize: 8 * MiB },

    async stat(key, o?: Op) {
      throwIfAborted(o?.signal);
      const r = await connect();
      const blob = r.client.getBlockBlobClient(key);
      try {
        const p = await blob.getProperties(o?.signal ? { abortSignal: o.signal } : {});
        return objectInfo(key, p.contentLength ?? 0, p.etag, p.lastModified, p.metadata);
      } catch (err) {
        const code = storageErrorCode(err);
        if (statusOf(err) === 404 && code !== 'ContainerNotFound' && code !== 'ContainerBeingDeleted') return null;
        if (statusOf(err) === 403) throw await explainForbidden(blob, err, ctx(r, 'stat', key, o?.signal));
        throw azureError(err, ctx(r, 'stat', key, o?.signal));
      }
    },

    async *list(prefix, o?: Op) {
      throwIfAborted(o?.signal);
      const r = await connect();
      const pages = r.client
        .listBlobsFlat({ includeMetadata: true, ...(prefix ? { prefix } : {}), ...(o?.signal ? { abortSignal: o.signal } : {}) })
        .byPage({ maxPageSize: 5000 });
      const iterator = pages[Symbol.asyncIterator]();
      for (;;) {
        let page;
        try {
          page = await iterator.next();
        } catch (err) {
          throw azureError(err, ctx(r, `list "${prefix}" in`, undefined, o?.signal));
        }
        if (page.done) return;
        for (const item of page.value.segment.blobItems) {
          // Folder placeholders: "dir/" blobs, and ADLS Gen2 directories (hdi_isfolder=true).
          if (item.name.endsWith('/') || isFolderMarker(item.metadata)) continue;
          const p = item.properties;
          yield objectInfo(item.name, p.contentLength ?? 0, p.etag, p.lastModified, item.metadata);
        }
      }
    },

    async read(key, o?: ReadOptions) {
      throwIfAborted(o?.signal);
      const r = await connect();
      const c = ctx(r, 'read', key, o?.signal);
      const range = o?.range;
      if (range && range[1] <= range[0]) {
        // The SDK reads "to the end" for a count of 0, so an empty range is answered here.
        if (!(await backend.stat(key, o))) throw azureError({ statusCode: 404, code: 'BlobNotFound' }, c);
        return Readable.from([]);
      }
      let res;
      try {
        res = await r.client.getBlobClient(key).download(range?.[0] ?? 0, range ? range[1] - range[0] : undefined, {
          // The SDK's resume of a cut body never fires on Node >= 16 (a cut connection reaches it
          // as an abort), so it is off: a cut body fails the stream with TRANSIENT and the engine
          // reads again. The SDK still checks that the body has the announced length.
          maxRetryRequests: 0,
          ...(o?.signal ? { abortSignal: o.signal } : {}),
        });
      } catch (err) {
        // A range that starts past the end of an existing blob reads as empty, as elsewhere.
        if (statusOf(err) === 416) return Readable.from([]);
        throw azureError(err, c);
      }
      const body = res.readableStreamBody as Readable | undefined;
      if (!body) throw new FlowsyncError('INTERNAL', `Cannot read az://${container}/${key}: Azure returned no body.`);
      return mapStreamErrors(body, c, o?.signal);
    },

    async write(key, body, w, o?: Op) {
      throwIfAborted(o?.signal);
      return putWhole(await connect(), key, body, w, o);
    },

    async delete(keys, o?: Op) {
      throwIfAborted(o?.signal);
      const unique = [...new Set(keys)];
      if (unique.length === 0) return;
      const r = await connect();
      if (batchDelete && unique.length > 1) {
        try {
          return await deleteBatch(r, unique, o?.signal);
        } catch (err) {
          if (!batchUnsupported(err)) throw azureError(err, ctx(r, `delete ${unique.length} blobs from`, undefined, o?.signal));
          // Some accounts (and proxies) do not offer blob batch: one blob per call from now on.
          batchDelete = false;
        }
      }
      // One by one: this call's keys in turn (limits.deleteBatch is 1 from now on).
      for (const k of unique) await deleteOne(r, k, o?.signal);
    },

    async openMultipart(key, w, o?: Op): Promise<MultipartWriter> {
      throwIfAborted(o?.signal);
      const r = await connect();
      const blob = r.client.getBlockBlobClient(key);
      const tag = uploadTag();
      const partSizes = new Map<number, number>();
      let state: 'open' | 'aborted' | 'completed' = 'open';
      const assertOpen = () => {
        if (state !== 'open') throw new FlowsyncError('NOT_FOUND', `Upload of az://${container}/${key} was ${state}.`);
      };
      return {
        async writePart(n, data, info, po) {
          throwIfAborted(po?.signal);
          assertOpen();
          if (!Number.isInteger(n) || n < 1 || n > MAX_BLOCKS) {
            throw new FlowsyncError('INTERNAL', `Part number ${n} of az://${container}/${key} is outside 1..${MAX_BLOCKS}.`);
          }
          try {
            await blob.stageBlock(blockId(tag, n), data, data.length, {
              ...(info?.digest ? { transactionalContentMD5: info.digest } : {}),
              ...(po?.signal ? { abortSignal: po.signal } : {}),
            });
          } catch (err) {
            throw azureError(err, ctx(r, `upload part ${n} of`, key, po?.signal));
          }
          partSizes.set(n, data.length);
        },
        async complete(done, po) {
          throwIfAborted(po?.signal);
          assertOpen();
          const count = partSizes.size;
          let total = 0;
          for (let n = 1; n <= count; n++) {
            const size = partSizes.get(n);
            if (size === undefined) throw new FlowsyncError('INTERNAL', `Upload of az://${container}/${key} is missing part ${n}.`);
            total += size;
          }
          if (total !== done.size) {
            throw new FlowsyncError('INTERNAL', `az://${container}/${key}: parts add up to ${total} bytes, expected ${done.size}.`);
          }
          const ids = Array.from({ length: count }, (_, i) => blockId(tag, i + 1));
          const info = await commitBlocks(r, key, ids, total, w, undefined, po);
          state = 'completed';
          return info;
        },
        // Uncommitted blocks cannot be deleted one by one: Azure discards them when the blob is
        // next committed, or after a week. Nothing to do server-side; the writer just closes.
        async abort() {
          if (state === 'open') state = 'aborted';
        },
      };
    },
  };
  return backend;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/** A random tag per upload keeps two concurrent uploads of one blob from mixing their blocks. */
function uploadTag(): string {
  return randomBytes(4).toString('hex');
}

/** Block ids of one blob must all have the same length: fixed-width tag and number. */
function blockId(tag: string, n: number): string {
  return Buffer.from(`flowsync-${tag}-${String(n).padStart(6, '0')}`).toString('base64');
}

function headersFor(w: Pick<WriteInfo, 'contentType'>, md5: Uint8Array | undefined): BlobHTTPHeaders {
  return {
    ...(w.contentType ? { blobContentType: w.contentType } : {}),
    ...(md5 ? { blobContentMD5: md5 } : {}),
  };
}

function conditionsFor(w: Pick<WriteInfo, 'ifMatch' | 'ifNoneMatch'>): BlobRequestConditions {
  return {
    ...(w.ifMatch !== undefined ? { ifMatch: w.ifMatch } : {}),
    ...(w.ifNoneMatch === '*' ? { ifNoneMatch: '*' } : {}),
  };
}

function toAzureMetadata(w: Pick<WriteInfo, 'metadata' | 'sha256'>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(w.metadata ?? {})) {
    const name = k.replace(/-/g, '_');
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new FlowsyncError('INVALID_INPUT', `Metadata key ${JSON.stringify(k)} cannot be stored on Azure: use letters, digits and '-', starting with a letter.`);
    }
    out[name] = v;
  }
  if (w.sha256) out[SHA256_METADATA_KEY] = w.sha256;
  return out;
}

function fromAzureMetadata(m: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m ?? {})) out[k.toLowerCase().replace(/_/g, '-')] = v;
  return out;
}

function isFolderMarker(m: Record<string, string> | undefined): boolean {
  if (!m) return false;
  return Object.entries(m).some(([k, v]) => k.toLowerCase() === 'hdi_isfolder' && v.toLowerCase() === 'true');
}

function objectInfo(key: string, size: number, etag: string | undefined, lastModified: Date | undefined, raw: Record<string, string> | undefined): ObjectInfo {
  const metadata = fromAzureMetadata(raw);
  const sha256 = metadata[SHA256_METADATA_KEY];
  return {
    key,
    size,
    ...(etag ? { etag } : {}),
    ...(lastModified ? { lastModified } : {}),
    metadata,
    ...(sha256 ? { sha256 } : {}),
  };
}

function writtenInfo(key: string, size: number, w: Pick<WriteInfo, 'metadata' | 'sha256'>, etag: string | undefined, lastModified: Date | undefined): ObjectInfo {
  const metadata: Record<string, string> = { ...w.metadata };
  if (w.sha256) metadata[SHA256_METADATA_KEY] = w.sha256;
  return {
    key,
    size,
    ...(etag ? { etag } : {}),
    ...(lastModified ? { lastModified } : {}),
    metadata,
    ...(w.sha256 ? { sha256: w.sha256 } : {}),
  };
}

/** Pass the body through, turning SDK and socket errors (and an abort) into FlowsyncErrors. */
function mapStreamErrors(body: Readable, c: AzureErrorContext, signal: AbortSignal | undefined): Readable {
  // Object mode: chunks go on as they came, never copied together (see retrying.ts).
  const out = new PassThrough({ objectMode: true, highWaterMark: 16 });
  body.on('error', (err) => out.destroy(azureError(err, c)));
  const onAbort = () => out.destroy(abortError(signal));
  signal?.addEventListener('abort', onAbort, { once: true });
  // A consumer that stops early (or fails) must release the connection.
  out.on('close', () => {
    signal?.removeEventListener('abort', onAbort);
    if (!body.readableEnded) body.destroy();
  });
  body.pipe(out);
  return out;
}

/** Whole-batch failures that mean "this account or endpoint has no blob batch". */
function batchUnsupported(err: unknown): boolean {
  const status = statusOf(err);
  const code = storageErrorCode(err);
  if (code === 'ContainerNotFound' || code === 'AuthenticationFailed') return false;
  return status === 400 || status === 404 || status === 405 || status === 409 || status === 501 || code === 'FeatureNotSupported';
}
