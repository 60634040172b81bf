/**
 * Google Cloud Storage backend (@google-cloud/storage, JSON API). Only moves bytes: the engine
 * owns concurrency and retries, so the SDK's own retries are off and errors surface at once.
 *
 * - small objects: one multipart/related upload carrying md5Hash, so GCS itself rejects bytes
 *   that changed on the way (400) before anything is stored;
 * - big objects: a resumable session. Chunks go one after another (sequential parts, whole
 *   256 KiB units), the last chunk is held back until complete(), so nothing is visible before it;
 * - the object generation serves as the etag: ifMatch / ifNoneMatch become ifGenerationMatch.
 */
import { createHash, type Hash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
// Loaded only when a gs:// remote is used: open.ts imports this module lazily.
import { CRC32C, Storage, type Bucket, type FileMetadata, type StorageOptions } from '@google-cloud/storage';
import { abortError, FlowsyncError, isFlowsyncError, throwIfAborted, type ErrorCode } from '../errors.js';
import { registerSecret } from '../secrets.js';
import { collect } from '../util/streams.js';
import {
  SHA256_METADATA_KEY,
  type Backend,
  type MultipartWriter,
  type ObjectInfo,
  type Op,
  type ReadOptions,
  type WriteInfo,
} from './types.js';

export interface GcsBackendOptions {
  bucket: string;
  projectId?: string;
  /** e.g. http://127.0.0.1:4443 for an emulator; default: STORAGE_EMULATOR_HOST, else Google. */
  endpoint?: string;
  /** Service-account key JSON (the parsed file). */
  credentials?: Record<string, unknown>;
  keyFilename?: string;
  /** A ready-made client (its own retry/auth settings apply). */
  client?: Storage;
}

/** GCS resumable uploads take every chunk but the last in whole units of 256 KiB. */
export const GCS_CHUNK_UNIT = 256 * 1024;
const MiB = 1024 * 1024;
const DELETE_CONCURRENCY = 16;
const LIST_PAGE_SIZE = 1000;
/** A partial response: only what ObjectInfo needs. */
const LIST_FIELDS = 'items(name,size,generation,updated,metadata),nextPageToken';

interface ListPage {
  items?: (FileMetadata & { name: string })[];
  nextPageToken?: string;
}

/** The endpoint to use, from the option or STORAGE_EMULATOR_HOST, as `scheme://host[:port]`. */
export function resolveGcsEndpoint(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const raw = option ?? env['STORAGE_EMULATOR_HOST'];
  if (!raw) return undefined;
  const withScheme = /^https?:\/\//i.test(raw) ? raw : `http://${raw}`;
  // Emulator hosts are sometimes given with the API path; the SDK adds it itself.
  return withScheme.replace(/\/+$/, '').replace(/\/storage\/v1$/, '');
}

function buildClient(o: GcsBackendOptions): Storage {
  const endpoint = resolveGcsEndpoint(o.endpoint);
  const explicitAuth = o.credentials !== undefined || o.keyFilename !== undefined;
  const credentials = o.credentials as StorageOptions['credentials'] | undefined;
  registerSecret(typeof o.credentials?.['private_key'] === 'string' ? o.credentials['private_key'] : undefined);
  registerSecret(typeof o.credentials?.['private_key_id'] === 'string' ? o.credentials['private_key_id'] : undefined);
  const storage = new Storage({
    ...(o.projectId ? { projectId: o.projectId } : {}),
    ...(credentials ? { credentials } : {}),
    ...(o.keyFilename ? { keyFilename: o.keyFilename } : {}),
    // The engine retries (TRANSIENT / THROTTLED); SDK retries underneath would multiply them.
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

// ---------------------------------------------------------------- errors

interface ErrorContext {
  bucket: string;
  /** What was being done, e.g. "read gs://b/k". */
  action: string;
  /** An object operation: a 404 means the object, unless the message says the bucket. */
  object?: boolean;
  signal?: AbortSignal;
}

const NETWORK_UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPROTO', 'ERR_TLS_CERT_ALTNAME_INVALID', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_HAS_EXPIRED']);
const NETWORK_TRANSIENT = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED', 'ESOCKETTIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
const CHECKSUM_CODES = new Set(['CONTENT_DOWNLOAD_MISMATCH', 'FILE_NO_UPLOAD', 'FILE_NO_UPLOAD_DELETE', 'MD5_NOT_AVAILABLE']);

interface RawError {
  code?: unknown;
  errno?: unknown;
  status?: unknown;
  message?: unknown;
  response?: { status?: unknown; data?: unknown };
  cause?: unknown;
}

function httpStatusOf(e: RawError): number | undefined {
  for (const v of [e.code, e.response?.status, e.status]) if (typeof v === 'number' && v >= 100 && v < 600) return v;
  return undefined;
}

function networkCodeOf(e: RawError): string | undefined {
  for (let cur: RawError | undefined = e, depth = 0; cur && depth < 4; cur = cur.cause as RawError | undefined, depth++) {
    for (const v of [cur.code, cur.errno]) if (typeof v === 'string' && /^[A-Z_0-9]+$/.test(v)) return v;
  }
  return undefined;
}

/** The human part of an error: GCS JSON bodies are unwrapped to their message. */
function messageOf(e: RawError): string {
  // gaxios (resumable session starts) keeps the GCS JSON body in response.data.
  const data = e.response?.data as { error?: { message?: unknown } } | undefined;
  if (typeof data?.error?.message === 'string') return data.error.message;
  const text = typeof e.message === 'string' ? e.message : String(e);
  if (text.startsWith('{')) {
    try {
      const parsed = JSON.parse(text) as { error?: { message?: string } };
      if (parsed.error?.message) return parsed.error.message;
    } catch {
      /* not JSON after all */
    }
  }
  return text.split('\n')[0]!.slice(0, 300);
}

export function gcsError(err: unknown, ctx: ErrorContext): FlowsyncError {
  if (isFlowsyncError(err)) return err;
  if (ctx.signal?.aborted) return abortError(ctx.signal);
  const e = (err ?? {}) as RawError;
  const status = httpStatusOf(e);
  const net = networkCodeOf(e);
  const msg = messageOf(e);
  const fail = (code: ErrorCode, text: string) => new FlowsyncError(code, `Cannot ${ctx.action}: ${text}`, { cause: err });
  const bucketUrl = `gs://${ctx.bucket}`;

  if (net && CHECKSUM_CODES.has(net)) return fail('CHECKSUM_MISMATCH', `the bytes did not match their checksum (${msg}). A retry usually succeeds; if it persists, check proxies or the network.`);
  switch (status) {
    case 401:
      return fail('AUTH', `GCS rejected the credentials (401: ${msg}). Set GOOGLE_APPLICATION_CREDENTIALS to a valid service-account key file or run "gcloud auth application-default login".`);
    case 403:
      return fail('PERMISSION', `access denied (403: ${msg}). Grant the account a role with storage.objects.* on ${bucketUrl} (e.g. roles/storage.objectAdmin).`);
    case 404:
      if (!ctx.object || /bucket/i.test(msg)) {
        return fail('BUCKET_NOT_FOUND', `bucket ${bucketUrl} does not exist. Create it (gcloud storage buckets create ${bucketUrl}) or fix the bucket name.`);
      }
      return fail('NOT_FOUND', `the object does not exist (${msg}).`);
    case 412:
      return fail('PRECONDITION_FAILED', `the object changed since it was read, or already exists (412). Another writer got there first; re-read and try again.`);
    case 429:
      return fail('THROTTLED', `GCS is throttling requests (429: ${msg}). Slow down: lower --concurrency if it persists.`);
    case 400:
      if (/md5|crc32c|hash|checksum/i.test(msg)) return fail('CHECKSUM_MISMATCH', `GCS received bytes that do not match their checksum (${msg}). A retry usually succeeds.`);
      return fail('INVALID_INPUT', `GCS refused the request (400: ${msg}).`);
    case 408:
      return fail('TRANSIENT', `the request timed out (408). A retry usually succeeds.`);
    default:
      break;
  }
  if (status !== undefined && status >= 500) return fail('TRANSIENT', `GCS answered ${status} (${msg}). A retry usually succeeds.`);
  if (net && NETWORK_UNREACHABLE.has(net)) {
    return fail('UNREACHABLE', `the GCS endpoint cannot be reached (${net}: ${msg}). Check the endpoint / STORAGE_EMULATOR_HOST, DNS and network.`);
  }
  if (net && (NETWORK_TRANSIENT.has(net) || /^UND_ERR/.test(net))) return fail('TRANSIENT', `the connection failed (${net}). A retry usually succeeds.`);
  if (/Could not load the default credentials|invalid_grant|unauthorized_client|DECODER routines|private key|No key or keyFile set/i.test(msg) || net === 'ERR_OSSL_UNSUPPORTED') {
    return fail('AUTH', `no usable Google credentials (${msg}). Set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, pass credentials, or run "gcloud auth application-default login".`);
  }
  // The only local files a GCS call opens are credential files (keyFilename, GOOGLE_APPLICATION_CREDENTIALS).
  if (net === 'ENOENT' || net === 'EACCES' || net === 'EISDIR' || net === 'ENOTDIR') {
    return fail('AUTH', `cannot read the Google credentials file (${msg}). Point GOOGLE_APPLICATION_CREDENTIALS (or keyFilename) at a readable service-account key file.`);
  }
  if (/socket hang up|network|timeout/i.test(msg)) return fail('TRANSIENT', `the connection failed (${msg}). A retry usually succeeds.`);
  if (status !== undefined) return fail('INTERNAL', `GCS answered ${status} (${msg}).`);
  return fail('INTERNAL', msg);
}

// ---------------------------------------------------------------- object info

function infoOf(key: string, m: FileMetadata): ObjectInfo {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.metadata ?? {})) if (v !== null && v !== undefined) metadata[k.toLowerCase()] = String(v);
  const sha256 = metadata[SHA256_METADATA_KEY];
  return {
    key,
    size: Number(m.size ?? 0),
    ...(m.generation !== undefined ? { etag: String(m.generation) } : {}),
    ...(m.updated ? { lastModified: new Date(m.updated) } : {}),
    metadata,
    ...(sha256 ? { sha256 } : {}),
  };
}

function userMetadata(w: WriteInfo): Record<string, string> {
  return { ...w.metadata, ...(w.sha256 ? { [SHA256_METADATA_KEY]: w.sha256 } : {}) };
}

/** ifNoneMatch '*' → generation 0 (must not exist); ifMatch → that generation. */
function generationCondition(key: string, w: WriteInfo): { ifGenerationMatch: number } | undefined {
  if (w.ifNoneMatch === '*') return { ifGenerationMatch: 0 };
  if (w.ifMatch === undefined) return undefined;
  if (!/^\d+$/.test(w.ifMatch)) {
    throw new FlowsyncError('PRECONDITION_FAILED', `Cannot write gs://…/${key}: etag ${JSON.stringify(w.ifMatch)} is not a GCS generation, so it cannot match.`);
  }
  return { ifGenerationMatch: Number(w.ifMatch) };
}

// ---------------------------------------------------------------- the backend

export function createGcsBackend(options: GcsBackendOptions): Backend {
  const bucketName = options.bucket;
  if (!bucketName) throw new FlowsyncError('USAGE', 'The GCS backend needs a bucket: write gs://<bucket>/<folder>.');
  let bucketHandle: Bucket | undefined;

  /** The SDK client is built on first use (so credentials are looked up only then); the Bucket object is reused. */
  async function bucket(): Promise<Bucket> {
    if (!bucketHandle) {
      bucketHandle = (options.client ?? buildClient(options)).bucket(bucketName);
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

  const backend: Backend = {
    name: 'gcs',
    features: { multipart: true, conditionalWrite: true, rangeRead: true, metadata: true },
    // Parts of one object are sequential on GCS, so throughput comes from many files at once.
    tuning: { concurrency: 16, multipartThreshold: 16 * MiB, partSize: 16 * MiB },
    multipartLimits: { minPartSize: GCS_CHUNK_UNIT, maxPartSize: 5 * 1024 * MiB, maxParts: 1_000_000, sequential: true, partMultiple: GCS_CHUNK_UNIT },

    async stat(key, o?: Op) {
      throwIfAborted(o?.signal);
      try {
        const [m] = await (await bucket()).file(key).getMetadata();
        return infoOf(key, m);
      } catch (err) {
        const e = gcsError(err, ctx('stat', key, o?.signal));
        if (e.code === 'NOT_FOUND') return null;
        throw e;
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
      const headers = await firstResponse(sdkStream, ctx('read', key, o?.signal));
      return validatedStream(sdkStream, range ? undefined : headers, ctx('read', key, o?.signal), o?.signal);
    },

    async write(key, body, w, o?: Op) {
      throwIfAborted(o?.signal);
      if (!(body instanceof Uint8Array) && w.size >= backend.tuning.multipartThreshold) {
        return writeStreamInParts(backend, key, body, w, o);
      }
      const data = body instanceof Uint8Array ? Buffer.from(body.buffer, body.byteOffset, body.byteLength) : await collect(body, o?.signal);
      checkContent(url(key), data.length, w, () => createHash('sha256').update(data).digest('hex'));
      const condition = generationCondition(key, w);
      const file = (await bucket()).file(key);
      try {
        await file.save(data, {
          resumable: false,
          // GCS checks md5Hash itself and refuses a mismatch (400) before storing anything.
          validation: false,
          metadata: {
            contentType: w.contentType ?? 'application/octet-stream',
            md5Hash: createHash('md5').update(data).digest('base64'),
            metadata: userMetadata(w),
          },
          ...(condition ? { preconditionOpts: condition } : {}),
        });
      } catch (err) {
        throw gcsError(err, ctx('write', key, o?.signal));
      }
      // The SDK cannot cancel a simple upload in flight; one that finished is reported as done.
      return infoOf(key, file.metadata);
    },

    async delete(keys, o?: Op) {
      const b = await bucket();
      let next = 0;
      const worker = async () => {
        while (next < keys.length) {
          throwIfAborted(o?.signal);
          const key = keys[next++]!;
          try {
            await b.file(key).delete();
          } catch (err) {
            const e = gcsError(err, ctx('delete', key, o?.signal));
            if (e.code !== 'NOT_FOUND') throw e; // a missing bucket still fails
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(DELETE_CONCURRENCY, keys.length) }, worker));
    },

    async openMultipart(key, w, o?: Op) {
      throwIfAborted(o?.signal);
      const condition = generationCondition(key, w);
      const file = (await bucket()).file(key);
      let uri: string;
      try {
        [uri] = await file.createResumableUpload({
          metadata: { contentType: w.contentType ?? 'application/octet-stream', contentLength: w.size, metadata: userMetadata(w) } as FileMetadata,
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
  const out = Readable.from(pump(), { objectMode: false });
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

// ---------------------------------------------------------------- writes

/** Size and sha256 must match what the caller declared; checked before the object is committed. */
function checkContent(where: string, size: number, w: WriteInfo, sha256: () => string): void {
  if (size !== w.size) throw new FlowsyncError('CHECKSUM_MISMATCH', `Cannot write ${where}: received ${size} bytes, expected ${w.size}.`);
  if (w.sha256 && sha256() !== w.sha256) throw new FlowsyncError('CHECKSUM_MISMATCH', `Cannot write ${where}: the content does not match its sha256.`);
}

/** A big stream handed to write(): cut it into parts and drive a resumable session. */
async function writeStreamInParts(b: Backend, key: string, body: Readable, w: WriteInfo, o?: Op): Promise<ObjectInfo> {
  const partSize = b.tuning.partSize;
  const writer = await b.openMultipart!(key, { ...w, partSize }, o);
  try {
    let part = 1;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    for await (const chunk of body) {
      throwIfAborted(o?.signal);
      pending.push(chunk as Buffer);
      pendingBytes += (chunk as Buffer).length;
      while (pendingBytes >= partSize) {
        const all = Buffer.concat(pending);
        await writer.writePart(part++, all.subarray(0, partSize), o);
        pending = [all.subarray(partSize)];
        pendingBytes = all.length - partSize;
      }
    }
    if (pendingBytes > 0) await writer.writePart(part, Buffer.concat(pending), o);
    return await writer.complete(o);
  } catch (err) {
    await writer.abort().catch(() => {});
    throw err;
  }
}

interface SessionResponse {
  status: number;
  range: string | null;
  text: string;
}

/**
 * One request to a resumable session URI. The URI itself authorises the upload (GCS hands it out
 * to an authenticated caller), so no credentials go with it. Plain node:http(s) rather than
 * fetch: fetch copies every request body, which costs a 16 MiB copy per part.
 */
function sessionRequest(uri: string, method: 'PUT' | 'DELETE', headers: Record<string, string>, body: Uint8Array, signal?: AbortSignal): Promise<SessionResponse> {
  const url = new URL(uri);
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(url, { method, headers: { ...headers, 'Content-Length': String(body.length) }, ...(signal ? { signal } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const range = res.headers['range'];
        resolve({ status: res.statusCode ?? 0, range: typeof range === 'string' ? range : null, text: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * One GCS resumable session as a MultipartWriter. Bytes are sent in whole 256 KiB units as parts
 * arrive; the tail of the object is held until complete(), which checks sha256 and sends the
 * final chunk with the total and X-Goog-Hash (md5), so GCS refuses corrupted content and nothing
 * is visible before complete().
 */
function resumableWriter(uri: string, key: string, w: WriteInfo & { partSize: number }, ctx: (action: string) => ErrorContext): MultipartWriter {
  let sent = 0; // bytes the session holds
  let received = 0; // bytes handed to writePart
  let held: Buffer = Buffer.alloc(0); // received but not sent yet
  let nextPart = 1;
  let state: 'open' | 'done' | 'aborted' = 'open';
  let resync = false; // a PUT failed: ask the session where it stands before sending again
  const sha256: Hash = createHash('sha256');
  const md5: Hash = createHash('md5');
  let chain: Promise<unknown> = Promise.resolve();
  const gone = () => new FlowsyncError('NOT_FOUND', `Upload of gs://…/${key} was aborted or has expired; start it again.`);

  async function put(body: Uint8Array, contentRange: string, extra: Record<string, string>, signal?: AbortSignal): Promise<SessionResponse> {
    try {
      return await sessionRequest(uri, 'PUT', { 'Content-Range': contentRange, ...extra }, body, signal);
    } catch (err) {
      throw gcsError(err, { ...ctx('upload'), ...(signal ? { signal } : {}) });
    }
  }

  const fail = (r: SessionResponse, action: string, signal?: AbortSignal): FlowsyncError => {
    if (r.status === 404 || r.status === 410) return gone();
    return gcsError({ code: r.status, message: r.text || `HTTP ${r.status}` }, { ...ctx(action), ...(signal ? { signal } : {}) });
  };
  const persistedOf = (range: string | null) => (range ? Number(/bytes=0-(\d+)/.exec(range)?.[1] ?? -1) + 1 : 0);

  /** Ask the session how many bytes it holds (after a failed PUT), and drop those from `held`. */
  async function resynchronise(signal?: AbortSignal): Promise<void> {
    const r = await put(new Uint8Array(0), 'bytes */*', {}, signal);
    if (r.status !== 308) throw fail(r, 'resume the upload of', signal);
    const persisted = persistedOf(r.range);
    if (persisted < sent || persisted > sent + held.length) {
      throw new FlowsyncError('INTERNAL', `Upload of ${key}: the session holds ${persisted} bytes, expected ${sent}..${sent + held.length}.`);
    }
    held = held.subarray(persisted - sent);
    sent = persisted;
    resync = false;
  }

  /** Send the whole 256 KiB units of `held`, keeping at least `reserve` bytes back. */
  async function sendUnits(reserve: number, signal?: AbortSignal): Promise<void> {
    const n = Math.floor(Math.max(0, held.length - reserve) / GCS_CHUNK_UNIT) * GCS_CHUNK_UNIT;
    if (n === 0) return;
    const r = await put(held.subarray(0, n), `bytes ${sent}-${sent + n - 1}/*`, {}, signal).catch((err: unknown) => {
      resync = true;
      throw err;
    });
    if (r.status !== 308) {
      resync = r.status >= 500 || r.status === 429 || r.status === 408;
      throw fail(r, 'upload a part of', signal);
    }
    const persisted = persistedOf(r.range);
    held = held.subarray(persisted - sent);
    sent = persisted;
  }

  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn, fn);
    chain = run.catch(() => {});
    return run;
  };

  return {
    partSize: w.partSize,
    maxParts: 1_000_000,

    writePart(n, data, o) {
      return serial(async () => {
        throwIfAborted(o?.signal);
        if (state !== 'open') throw gone();
        if (resync) await resynchronise(o?.signal);
        if (n > nextPart) {
          throw new FlowsyncError('INTERNAL', `Upload of ${key}: part ${n} arrived before part ${nextPart}; GCS resumable uploads need parts in order.`);
        }
        // n < nextPart: a retry of a part already taken in (its bytes are held); just send on.
        if (n === nextPart) {
          if (received + data.length > w.size) throw new FlowsyncError('CHECKSUM_MISMATCH', `Upload of ${key}: parts add up to more than ${w.size} bytes.`);
          sha256.update(data);
          md5.update(data);
          // A view of the caller's bytes: sent now, or copied below before writePart returns.
          held = held.length ? Buffer.concat([held, data]) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
          received += data.length;
          nextPart++;
        }
        try {
          // The last byte(s) stay held until complete(): the object is committed only then,
          // after the sha256 check. Holding back just the tail (< 256 KiB + 1 B) keeps
          // complete() cheap and avoids copying a whole final part.
          await sendUnits(received === w.size ? 1 : 0, o?.signal);
        } finally {
          // The caller may reuse its buffer once writePart returns.
          if (held.length) held = Buffer.from(held);
        }
      });
    },

    complete(o) {
      return serial(async () => {
        throwIfAborted(o?.signal);
        if (state !== 'open') throw gone();
        checkContent(`gs://…/${key}`, received, w, () => sha256.copy().digest('hex'));
        if (resync) await resynchronise(o?.signal);
        const range = w.size === 0 ? 'bytes */0' : `bytes ${sent}-${w.size - 1}/${w.size}`;
        const r = await put(held, range, { 'X-Goog-Hash': `md5=${md5.copy().digest('base64')}` }, o?.signal).catch((err: unknown) => {
          resync = true;
          throw err;
        });
        if (r.status !== 200 && r.status !== 201) {
          if (r.status >= 500 || r.status === 429 || r.status === 408) resync = true;
          throw fail(r, 'finish the upload of', o?.signal);
        }
        state = 'done';
        held = Buffer.alloc(0);
        return infoOf(key, JSON.parse(r.text) as FileMetadata);
      });
    },

    async abort() {
      if (state !== 'open') return;
      state = 'aborted';
      held = Buffer.alloc(0);
      // GCS answers 499 to a cancelled session; 404/410 mean it is gone already. Best effort:
      // an unreachable session expires by itself within a week.
      await sessionRequest(uri, 'DELETE', {}, new Uint8Array(0)).catch(() => {});
    },
  };
}
