/**
 * Google Cloud Storage backend (@google-cloud/storage, JSON API). Moves bytes only: the engine
 * owns hashing, retries (the decorator in ../retrying.ts; SDK retries are off), concurrency and
 * delete batching (GCS has no batch delete here: one object per call); client set-up and
 * credentials are in credentials.ts, resumable sessions in resumable.ts.
 *
 * Integrity: the transport digest is md5.
 * - a single write is one multipart/related upload carrying the engine's md5Hash, so GCS itself
 *   rejects bytes that changed on the way (400) before anything is stored;
 * - big objects go through a resumable session: chunks one after another (sequential parts,
 *   whole 256 KiB units), the last chunk held back until complete(), which carries the engine's
 *   md5 of the whole object (X-Goog-Hash), so nothing is visible before it is checked;
 * - reads are checked against the x-goog-hash md5 (the SDK's JS crc32c is slow, so it is off);
 * - the object generation serves as the etag: ifMatch / ifNoneMatch become ifGenerationMatch.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
// Loaded only when a gs:// remote is used: open.ts imports this module lazily.
import { CRC32C, type Bucket, type FileMetadata } from '@google-cloud/storage';
import { abortError, FlowsyncError, throwIfAborted } from '../../errors.js';
import type { Backend, Op, ReadOptions } from '../types.js';
import { buildGcsClient } from './credentials.js';
import { bucketMissing, gcsError, type ErrorContext } from './errors.js';
import { generationCondition, infoOf, userMetadata } from './metadata.js';
import type { GcsBackendOptions } from './options.js';
import { GCS_CHUNK_UNIT, resumableWriter } from './resumable.js';

export { gcsError } from './errors.js';
export { resolveGcsEndpoint } from './credentials.js';
export { GCS_CHUNK_UNIT } from './resumable.js';
export type { GcsBackendOptions, GcsOptions } from './options.js';

const MiB = 1024 * 1024;
const LIST_PAGE_SIZE = 1000;
/** A partial response: only what ObjectInfo needs. */
const LIST_FIELDS = 'items(name,size,generation,updated,metadata),nextPageToken';

interface ListPage {
  items?: (FileMetadata & { name: string })[];
  nextPageToken?: string;
}

// ---------------------------------------------------------------- the backend

export function createGcsBackend(options: GcsBackendOptions): Backend {
  const bucketName = options.bucket;
  if (!bucketName) throw new FlowsyncError('USAGE', 'The GCS backend needs a bucket: write gs://<bucket>/<folder>.');
  let bucketHandle: Bucket | undefined;

  /** The SDK client is built on first use (so credentials are looked up only then); the Bucket object is reused. */
  async function bucket(): Promise<Bucket> {
    if (!bucketHandle) {
      bucketHandle = (options.client ?? buildGcsClient(options)).bucket(bucketName);
    }
    return bucketHandle;
  }
  const url = (key: string) => `gs://${bucketName}/${key}`;
  const ctx = (action: string, key: string | undefined, signal?: AbortSignal): ErrorContext => ({
    bucket: bucketName,
    action: key === undefined ? `${action} gs://${bucketName}` : `${action} ${url(key)}`,
    ...(key !== undefined ? { object: true } : {}),
    ...(signal ? { signal } : {}),
  });

  // Whether the bucket exists, once known. An object call's 404 does not say whether the object
  // or its bucket is missing (both answer reason "notFound"): a one-item listing of the bucket,
  // a bucket call, tells which (storage.objects.list, which any role that reads objects has).
  let bucketExists = false;
  async function objectMissing(err: FlowsyncError, c: ErrorContext): Promise<FlowsyncError> {
    if (bucketExists) return err;
    try {
      await (await bucket()).request({ uri: '/o', qs: { maxResults: 1, fields: 'nextPageToken' } });
      bucketExists = true;
      return err;
    } catch (probe) {
      const e = gcsError(probe, { ...c, object: false });
      return e.code === 'BUCKET_NOT_FOUND' ? bucketMissing(err.cause, c) : e;
    }
  }

  const backend: Backend = {
    name: 'gcs',
    features: { multipart: true, conditionalWrite: true, rangeRead: true, metadata: true, transportDigest: 'md5' },
    limits: {
      deleteBatch: 1,
      multipart: { minPartSize: GCS_CHUNK_UNIT, maxPartSize: 5 * 1024 * MiB, maxParts: 1_000_000, sequential: true, partMultiple: GCS_CHUNK_UNIT, digestScope: 'object' },
    },
    // Parts of one object are sequential on GCS, so throughput comes from many files at once.
    tuning: { concurrency: 16, multipartThreshold: 16 * MiB, partSize: 16 * MiB },

    async stat(key, o?: Op) {
      throwIfAborted(o?.signal);
      try {
        const [m] = await (await bucket()).file(key).getMetadata();
        bucketExists = true;
        return infoOf(key, m);
      } catch (err) {
        const c = ctx('stat', key, o?.signal);
        const e = gcsError(err, c);
        if (e.code !== 'NOT_FOUND') throw e;
        const why = await objectMissing(e, c);
        if (why === e) return null;
        throw why;
      }
    },

    async *list(prefix, o?: Op) {
      const b = await bucket();
      let pageToken: string | undefined;
      do {
        throwIfAborted(o?.signal);
        let page: ListPage;
        try {
          // objects.list through the SDK's own authenticated request: getFiles() would build an
          // SDK File object per item, about 3x the CPU per listed object (measured).
          [page] = (await b.request({
            uri: '/o',
            qs: { prefix, maxResults: LIST_PAGE_SIZE, fields: LIST_FIELDS, ...(pageToken ? { pageToken } : {}) },
          })) as unknown as [ListPage];
        } catch (err) {
          // Not an object operation: a 404 here is the bucket.
          throw gcsError(err, { ...ctx('list', undefined, o?.signal), action: `list gs://${bucketName}/${prefix}` });
        }
        for (const item of page.items ?? []) yield infoOf(item.name, item);
        pageToken = page.nextPageToken;
      } while (pageToken);
    },

    async read(key, o?: ReadOptions) {
      throwIfAborted(o?.signal);
      const file = (await bucket()).file(key);
      const range = o?.range;
      if (range && range[1] <= range[0]) {
        // An empty range: the SDK would read `end: -1` as "the last byte"; just check existence.
        if (!(await backend.stat(key, o))) throw new FlowsyncError('NOT_FOUND', `Cannot read ${url(key)}: the object does not exist.`);
        return Readable.from([]);
      }
      // Validation is ours (native md5 from x-goog-hash): the SDK's JS crc32c runs at ~50 MB/s.
      const sdkStream = file.createReadStream({ validation: false, ...(range ? { start: range[0], end: range[1] - 1 } : {}) });
      const c = ctx('read', key, o?.signal);
      let headers;
      try {
        headers = await firstResponse(sdkStream, c);
      } catch (err) {
        if (range && (err as { cause?: { code?: unknown } }).cause?.code === 416) return Readable.from([]);
        if ((err as FlowsyncError).code === 'NOT_FOUND') throw await objectMissing(err as FlowsyncError, c);
        throw err;
      }
      bucketExists = true;
      return validatedStream(sdkStream, range ? undefined : headers, ctx('read', key, o?.signal), o?.signal);
    },

    async write(key, body, w, o?: Op) {
      throwIfAborted(o?.signal);
      const data = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
      const condition = generationCondition(key, w);
      const file = (await bucket()).file(key);
      try {
        await file.save(data, {
          resumable: false,
          // GCS checks md5Hash itself and refuses a mismatch (400) before storing anything.
          validation: false,
          metadata: {
            contentType: w.contentType ?? 'application/octet-stream',
            ...(w.digest ? { md5Hash: Buffer.from(w.digest).toString('base64') } : {}),
            metadata: userMetadata(w),
          },
          ...(condition ? { preconditionOpts: condition } : {}),
        });
      } catch (err) {
        // An upload is a bucket call (objects.insert): its 404 is the bucket.
        throw gcsError(err, { ...ctx('write', key, o?.signal), object: false });
      }
      // The SDK cannot cancel a simple upload in flight; one that finished is reported as done.
      return infoOf(key, file.metadata);
    },

    async delete(keys, o?: Op) {
      const b = await bucket();
      for (const key of keys) {
        throwIfAborted(o?.signal);
        try {
          await b.file(key).delete();
        } catch (err) {
          const c = ctx('delete', key, o?.signal);
          const e = gcsError(err, c);
          if (e.code !== 'NOT_FOUND') throw e;
          const why = await objectMissing(e, c);
          if (why !== e) throw why; // a missing bucket still fails
        }
      }
    },

    async openMultipart(key, w, o?: Op) {
      throwIfAborted(o?.signal);
      const condition = generationCondition(key, w);
      const file = (await bucket()).file(key);
      let uri: string;
      try {
        [uri] = await file.createResumableUpload({
          metadata: { contentType: w.contentType ?? 'application/octet-stream', ...(w.size !== undefined ? { contentLength: w.size } : {}), metadata: userMetadata(w) } as FileMetadata,
          ...(condition ? { preconditionOpts: condition } : {}),
        });
      } catch (err) {
        // No object is read here: a 404 can only mean the bucket.
        throw gcsError(err, { ...ctx('start an upload of', key, o?.signal), object: false });
      }
      return resumableWriter(uri, key, w, (action) => ctx(action, key));
    },
  };
  return backend;
}

// ---------------------------------------------------------------- reads

/** Start the SDK's lazy stream and wait for its response headers, so a 404 throws here. */
function firstResponse(stream: Readable, c: ErrorContext): Promise<Record<string, string | string[] | undefined>> {
  return new Promise((resolve, reject) => {
    const onError = (err: unknown) => reject(gcsError(err, c));
    stream.once('error', onError);
    stream.once('response', (res: { statusCode?: number; headers?: Record<string, string> }) => {
      const status = res.statusCode ?? 200;
      if (status >= 200 && status < 300) {
        stream.off('error', onError);
        // Until the caller iterates, an error must not become an uncaught exception; the
        // iterator still sees it (the stream is destroyed with it).
        stream.on('error', () => {});
        resolve(res.headers ?? {});
      }
      // Otherwise the SDK destroys the stream with an ApiError carrying the body: onError maps it.
    });
    stream.read(0); // the SDK sends its request on the first read
  });
}

/** Re-emit the SDK stream, mapping errors, and check the whole-object hash at the end. */
function validatedStream(
  src: Readable,
  headers: Record<string, string | string[] | undefined> | undefined,
  c: ErrorContext,
  signal?: AbortSignal,
): Readable {
  const hashes = headers ? parseGoogHash(headers['x-goog-hash']) : {};
  // Like the SDK: a transcoded (gzip) object's bytes differ from the stored hash; skip those.
  const identity = headers?.['x-goog-stored-content-encoding'] === 'identity';
  const md5 = identity && hashes.md5 ? createHash('md5') : undefined;
  const crc = identity && !md5 && hashes.crc32c ? new CRC32C() : undefined;
  async function* pump() {
    try {
      for await (const chunk of src) {
        md5?.update(chunk as Buffer);
        crc?.update(chunk as Buffer);
        yield chunk as Buffer;
      }
    } catch (err) {
      throw gcsError(err, c);
    }
    const ok = md5 ? md5.digest('base64') === hashes.md5 : crc ? crc.toString() === hashes.crc32c : true;
    if (!ok) throw new FlowsyncError('CHECKSUM_MISMATCH', `Cannot ${c.action}: the downloaded bytes do not match the object's ${md5 ? 'md5' : 'crc32c'}. A retry usually succeeds; if it persists, check proxies or the network.`);
  }
  // Object mode: chunks go on as they came, never copied together (see retrying.ts).
  const out = Readable.from(pump(), { objectMode: true });
  const onAbort = () => out.destroy(abortError(signal));
  signal?.addEventListener('abort', onAbort, { once: true });
  out.on('close', () => {
    signal?.removeEventListener('abort', onAbort);
    src.destroy();
  });
  return out;
}

function parseGoogHash(v: string | string[] | undefined): { md5?: string; crc32c?: string } {
  const out: { md5?: string; crc32c?: string } = {};
  for (const part of (Array.isArray(v) ? v.join(',') : (v ?? '')).split(',')) {
    const i = part.indexOf('=');
    const k = part.slice(0, i).trim();
    if (k === 'md5' || k === 'crc32c') out[k] = part.slice(i + 1).trim();
  }
  return out;
}

