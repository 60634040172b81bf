/**
 * Amazon S3 and S3-compatible stores (s3rver, MinIO, ...). Moves bytes only: the engine owns
 * concurrency, retries and part sizes.
 *
 * Choices worth knowing:
 * - Flexible checksums are off (WHEN_REQUIRED): their default streaming framing is stored verbatim
 *   by some S3-compatible servers (s3rver), corrupting objects. Instead a single PUT carries the
 *   sha256 the engine already computed as ChecksumSHA256, which S3 verifies; buffer bodies (PUTs
 *   and parts) are also signed with their sha256 (x-amz-content-sha256), which S3 checks too.
 *   The backend checks the sha256 itself as well (buffer before sending, stream before its last
 *   chunk, multipart parts when they come in order), so servers that check nothing still never
 *   get wrong bytes committed.
 * - The SDK does not retry (maxAttempts 1): the engine retries what is worth it with its own
 *   backoff (retries on both levels would multiply under throttling), and a wrong key, a missing
 *   bucket or a dead endpoint must fail fast: a connection gets 5 s, once.
 * - The client is built on first use, so opening a backend costs nothing until it is used.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { abortError, FlowsyncError, throwIfAborted } from '../errors.js';
import { withoutNodeVersionWarning } from './aws-node-warning.js';
import { registerSecret } from '../secrets.js';
import { s3Error } from './s3-errors.js';
import {
  SHA256_METADATA_KEY,
  type Backend,
  type MultipartWriter,
  type ObjectInfo,
  type Op,
  type ReadOptions,
  type WriteInfo,
} from './types.js';

export interface S3BackendOptions {
  bucket: string;
  region?: string;
  /** Custom endpoint (S3-compatible store); default AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL. */
  endpoint?: string;
  /** Path-style addressing; default true when an endpoint is given. */
  forcePathStyle?: boolean;
  /** Explicit credentials; default the SDK's standard chain (env, profiles, SSO, roles, ...). */
  credentials?: S3ClientConfig['credentials'];
  /** Shared-config profile to take credentials (and region) from. */
  profile?: string;
  /** A ready-made client; this backend then never destroys it. */
  client?: S3Client;
  tls?: { rejectUnauthorized?: boolean; caFile?: string };
  /** SDK attempts per request (default 1: the engine retries). */
  maxAttempts?: number;
  /** Sockets per agent (default 64), so 16-64 concurrent transfers are not queued. */
  maxSockets?: number;
}

const MiB = 1024 * 1024;
const MAX_DELETE_BATCH = 1000;
const MAX_PARTS = 10_000;
const MAX_SINGLE_PUT = 5 * 1024 * MiB;
const CONNECTION_TIMEOUT_MS = 5_000;
// Idle time on a connected socket before it counts as dead (not a total-request limit).
const SOCKET_TIMEOUT_MS = 60_000;

const QUIET_LOGGER = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

function env(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function resolveEndpoint(explicit: string | undefined): string | undefined {
  const fromEnv = env('AWS_IGNORE_CONFIGURED_ENDPOINT_URLS') === 'true' ? undefined : (env('AWS_ENDPOINT_URL_S3') ?? env('AWS_ENDPOINT_URL'));
  const endpoint = explicit ?? fromEnv;
  if (endpoint === undefined) return undefined;
  try {
    const url = new URL(endpoint);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
  } catch (err) {
    throw new FlowsyncError('INVALID_INPUT', `S3 endpoint "${endpoint}" is not an http(s) URL. Give one like https://s3.example.com or http://127.0.0.1:9000.`, { cause: err });
  }
  return endpoint;
}

function quoteEtag(etag: string | undefined): string | undefined {
  if (!etag) return undefined;
  return etag.startsWith('"') || etag.startsWith('W/') ? etag : `"${etag}"`;
}

function hexToBase64(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64');
}

function userMetadata(w: WriteInfo): Record<string, string> {
  const metadata: Record<string, string> = { ...w.metadata };
  if (w.sha256) metadata[SHA256_METADATA_KEY] = w.sha256;
  return metadata;
}

function buildClient(o: S3BackendOptions, endpoint: string | undefined, region: string | undefined): S3Client {
  const caFile = o.tls?.caFile ?? env('AWS_CA_BUNDLE');
  const agentOptions = { keepAlive: true, maxSockets: o.maxSockets ?? 64 };
  const httpsAgent = new https.Agent({
    ...agentOptions,
    // Add the bundle to the roots Node would use rather than replace them (a `ca` option also
    // drops NODE_EXTRA_CA_CERTS, so that file is added back).
    ...(caFile ? { ca: [...rootCertificates, ...extraCaCerts(), readCaFile(caFile)] } : {}),
    ...(o.tls?.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}),
  });
  const credentials = o.credentials;
  if (credentials && typeof credentials !== 'function') {
    registerSecret(credentials.secretAccessKey);
    registerSecret(credentials.sessionToken);
  }
  registerSecret(env('AWS_SECRET_ACCESS_KEY'));
  registerSecret(env('AWS_SESSION_TOKEN'));

  const client = withoutNodeVersionWarning(() => new S3Client({
    ...(region ? { region } : {}),
    ...(endpoint ? { endpoint } : {}),
    forcePathStyle: o.forcePathStyle ?? endpoint !== undefined,
    ...(credentials ? { credentials } : {}),
    ...(o.profile ? { profile: o.profile } : {}),
    maxAttempts: o.maxAttempts ?? 1,
    // The SDK prints some warnings with console.warn unless it has a logger of its own; flowsync
    // reports failures through its errors, and its stderr belongs to the progress display.
    logger: QUIET_LOGGER,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      connectionTimeout: CONNECTION_TIMEOUT_MS,
      socketTimeout: SOCKET_TIMEOUT_MS,
      httpAgent: new http.Agent(agentOptions),
      httpsAgent,
      logger: QUIET_LOGGER,
    },
  }));
  registerResolvedSecrets(client);
  return client;
}

function extraCaCerts(): string[] {
  const file = env('NODE_EXTRA_CA_CERTS');
  try {
    return file ? [readFileSync(file, 'utf8')] : [];
  } catch {
    return []; // Node itself only warns about an unreadable NODE_EXTRA_CA_CERTS
  }
}

function readCaFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new FlowsyncError('INVALID_INPUT', `Cannot read the CA bundle ${file} (tls.caFile / AWS_CA_BUNDLE). Fix the path or unset it.`, { cause: err });
  }
}

/**
 * Credentials from the chain (profiles, SSO, assumed roles) are only known once resolved: wrap
 * the client's resolved provider so their secrets get scrubbed from every message too.
 */
function registerResolvedSecrets(client: S3Client): void {
  const config = client.config as { credentials?: unknown };
  const inner = config.credentials;
  if (typeof inner !== 'function') return;
  config.credentials = async (...args: unknown[]) => {
    const id = (await (inner as (...a: unknown[]) => Promise<{ secretAccessKey?: string; sessionToken?: string }>)(...args)) ?? {};
    registerSecret(id.secretAccessKey);
    registerSecret(id.sessionToken);
    return id;
  };
}

/**
 * The body of a GET as the caller's stream: errors become FlowsyncErrors, the signal aborts it,
 * and exactly `length` bytes come out (when known). Some S3-compatible servers answer a range
 * with more than was asked (s3rver: "bytes=0-0" returns the whole object); the rest is cut off.
 */
function guardStream(body: Readable, length: number | undefined, map: (err: unknown) => FlowsyncError, signal?: AbortSignal): Readable {
  const out = Readable.from(
    (async function* () {
      let left = length ?? Infinity;
      try {
        for await (const chunk of body) {
          const buf = chunk as Buffer;
          if (buf.length >= left) {
            if (left > 0) yield buf.subarray(0, left);
            left = 0;
            break;
          }
          left -= buf.length;
          yield buf;
        }
      } catch (err) {
        throw map(err);
      }
      if (left > 0 && left !== Infinity) throw map(Object.assign(new Error(`the body ended ${left} bytes short of ${length}`), { code: 'ECONNRESET' }));
    })(),
    { objectMode: false },
  );
  const cleanup = () => body.destroy();
  if (signal) {
    const onAbort = () => out.destroy(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    out.once('close', () => {
      signal.removeEventListener('abort', onAbort);
      cleanup();
    });
  } else {
    out.once('close', cleanup);
  }
  return out;
}

/** First byte offset of a GET answer: from Content-Range, or 0 for a whole-object answer. */
function answerStart(contentRange: string | undefined): number {
  const m = contentRange ? /^bytes (\d+)-/.exec(contentRange) : null;
  return m ? Number(m[1]) : 0;
}

function checksumError(key: string, detail: string): FlowsyncError {
  return new FlowsyncError('CHECKSUM_MISMATCH', `s3 write of ${key}: ${detail}; the source changed while it was read, or was corrupted. Retrying reads it again.`);
}

/** Hex sha256 check of a whole buffer before it is sent; servers that ignore ChecksumSHA256 then still never store wrong bytes. */
function bodyError(err: unknown, key: string): FlowsyncError {
  if (err instanceof FlowsyncError) return err;
  return new FlowsyncError('IO', `Reading the content to write to ${key} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

function verifyBuffer(key: string, body: Uint8Array, w: WriteInfo): void {
  if (body.length !== w.size) throw checksumError(key, `the body has ${body.length} bytes, expected ${w.size}`);
  if (w.sha256 && createHash('sha256').update(body).digest('hex') !== w.sha256) throw checksumError(key, 'the bytes do not match their sha256');
}

/**
 * Pass a stream body through, checking its size and sha256. The last chunk is held back until
 * the check passes, so a wrong body fails the request before the server has all of it.
 */
function verifyingStream(key: string, body: Readable, w: WriteInfo): Readable {
  return Readable.from(
    (async function* () {
      const hash = createHash('sha256');
      let seen = 0;
      let held: Buffer | undefined;
      for await (const chunk of body) {
        const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
        if (held) yield held;
        held = buf;
        hash.update(buf);
        seen += buf.length;
        if (seen > w.size) throw checksumError(key, `the body has more than the ${w.size} bytes declared`);
      }
      if (seen !== w.size) throw checksumError(key, `the body has ${seen} bytes, expected ${w.size}`);
      if (w.sha256 && hash.digest('hex') !== w.sha256) throw checksumError(key, 'the bytes do not match their sha256');
      if (held) yield held;
    })(),
    { objectMode: false },
  );
}

export function createS3Backend(options: S3BackendOptions): Backend {
  const { bucket } = options;
  if (!bucket) throw new FlowsyncError('USAGE', 'No S3 bucket given: write s3://<bucket>/<folder>.');
  const endpoint = options.client ? options.endpoint : resolveEndpoint(options.endpoint);
  const region = options.region ?? env('AWS_REGION') ?? env('AWS_DEFAULT_REGION') ?? (endpoint ? 'us-east-1' : undefined);
  const endpointLabel = endpoint ?? `AWS S3${region ? ` (${region})` : ''}`;

  let client: S3Client | undefined = options.client;
  const ownsClient = !options.client;
  const getClient = (): S3Client => (client ??= buildClient(options, endpoint, region));
  // Once any request on the bucket succeeds, a 404 from HEAD means "no such key".
  let bucketSeen = false;

  const fail = (err: unknown, action: string, key?: string, signal?: AbortSignal): FlowsyncError =>
    s3Error(err, {
      action,
      bucket,
      endpoint: endpointLabel,
      ...(key !== undefined ? { key } : {}),
      ...(region ? { region } : {}),
      ...(signal ? { signal } : {}),
    });

  type Call<T> = (c: S3Client, h: { abortSignal?: AbortSignal }) => Promise<T>;

  /** One SDK call: errors mapped, and a success proves the bucket exists. */
  async function send<T>(call: Call<T>, action: string, key: string | undefined, signal?: AbortSignal): Promise<T> {
    throwIfAborted(signal);
    try {
      const out = await call(getClient(), signal ? { abortSignal: signal } : {});
      bucketSeen = true;
      return out;
    } catch (err) {
      throw fail(err, action, key, signal);
    }
  }

  /**
   * HEAD answers carry no error body: 404 may mean "no key" or "no bucket", 403 may mean a bad
   * key or a missing permission, 301 hides the right region. A tiny GET tells which.
   */
  async function explainHeadFailure(key: string, headError: FlowsyncError, signal?: AbortSignal): Promise<null> {
    if (headError.code === 'NOT_FOUND' && bucketSeen) return null;
    try {
      const probe = await getClient().send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: 'bytes=0-0' }), signal ? { abortSignal: signal } : {});
      (probe.Body as Readable | undefined)?.destroy();
    } catch (err) {
      const precise = fail(err, 'stat', key, signal);
      if (precise.code === 'NOT_FOUND') {
        bucketSeen = true;
        return null;
      }
      throw precise;
    }
    // The GET found an object the HEAD did not (created in between): at HEAD time it was missing.
    if (headError.code === 'NOT_FOUND') return null;
    throw headError;
  }

  async function stat(key: string, o?: Op): Promise<ObjectInfo | null> {
    let out: { ContentLength?: number; ETag?: string; LastModified?: Date; Metadata?: Record<string, string> };
    try {
      out = await send((c, h) => c.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), h), 'stat', key, o?.signal);
    } catch (err) {
      const e = err as FlowsyncError;
      if (e.code === 'NOT_FOUND' || e.code === 'PERMISSION' || e.code === 'INVALID_INPUT') return explainHeadFailure(key, e, o?.signal);
      throw e;
    }
    const metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(out.Metadata ?? {})) metadata[k.toLowerCase()] = v;
    const etag = quoteEtag(out.ETag);
    const sha256 = metadata[SHA256_METADATA_KEY];
    return {
      key,
      size: out.ContentLength ?? 0,
      ...(etag ? { etag } : {}),
      ...(out.LastModified ? { lastModified: out.LastModified } : {}),
      ...(sha256 ? { sha256 } : {}),
      metadata,
    };
  }

  async function put(key: string, body: Uint8Array | Readable, w: WriteInfo, signal?: AbortSignal): Promise<ObjectInfo> {
    throwIfAborted(signal);
    if (w.size > MAX_SINGLE_PUT) {
      // The engine sends anything this big through openMultipart; a caller that streams one in a
      // single write gets told so rather than a failure after 5 GiB went over the wire.
      throw new FlowsyncError('UNSUPPORTED', `S3 takes at most 5 GiB in one PUT; ${key} has ${w.size} bytes. Upload it in parts (openMultipart).`);
    }
    const metadata = userMetadata(w);
    let payload: Uint8Array | Readable;
    // The SDK pipes a stream body into the request and ignores its errors (the request would
    // hang until the socket timeout): a failing body aborts the request instead.
    const bodyFailed = new AbortController();
    if (body instanceof Uint8Array) {
      verifyBuffer(key, body, w);
      payload = body;
    } else {
      payload = verifyingStream(key, body, w);
      payload.once('error', (err) => bodyFailed.abort(err));
    }
    const command = new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: payload,
      // Required for a stream body: S3 takes no chunked uploads without it.
      ContentLength: w.size,
      Metadata: metadata,
      ...(w.contentType ? { ContentType: w.contentType } : {}),
      // S3 recomputes the sha256 of what it received and refuses a mismatch.
      ...(w.sha256 ? { ChecksumSHA256: hexToBase64(w.sha256) } : {}),
      ...(w.ifMatch !== undefined ? { IfMatch: w.ifMatch } : {}),
      ...(w.ifNoneMatch !== undefined ? { IfNoneMatch: w.ifNoneMatch } : {}),
    });
    let out;
    try {
      out = await send((c, h) => c.send(command, h), 'write', key, signal ? AbortSignal.any([signal, bodyFailed.signal]) : bodyFailed.signal);
    } catch (err) {
      if (signal?.aborted) throw abortError(signal);
      if (bodyFailed.signal.aborted) throw bodyError(bodyFailed.signal.reason, key);
      throw err;
    }
    const etag = quoteEtag(out.ETag);
    return { key, size: w.size, ...(etag ? { etag } : {}), ...(w.sha256 ? { sha256: w.sha256 } : {}), metadata };
  }

  return {
    name: 's3',
    features: { multipart: true, conditionalWrite: true, rangeRead: true, metadata: true },
    tuning: { concurrency: 16, multipartThreshold: 16 * MiB, partSize: 16 * MiB },
    multipartLimits: { minPartSize: 5 * MiB, maxPartSize: 5 * 1024 * MiB, maxParts: MAX_PARTS },

    stat,

    async *list(prefix, o?: Op) {
      let token: string | undefined;
      do {
        const command = new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) });
        const page = await send((c, h) => c.send(command, h), 'list', prefix, o?.signal);
        for (const item of page.Contents ?? []) {
          // Keys ending in '/' are folder markers made by consoles and tools, not files.
          if (!item.Key || item.Key.endsWith('/')) continue;
          const etag = quoteEtag(item.ETag);
          yield { key: item.Key, size: item.Size ?? 0, ...(etag ? { etag } : {}), ...(item.LastModified ? { lastModified: item.LastModified } : {}) };
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    },

    async read(key, o?: ReadOptions) {
      const range = o?.range;
      if (range && range[1] <= range[0]) {
        // HTTP cannot ask for zero bytes; still report a missing object.
        if (!(await stat(key, o))) throw new FlowsyncError('NOT_FOUND', `No object at s3://${bucket}/${key}.`);
        return Readable.from([]);
      }
      const command = new GetObjectCommand({ Bucket: bucket, Key: key, ...(range ? { Range: `bytes=${range[0]}-${range[1] - 1}` } : {}) });
      const out = await send((c, h) => c.send(command, h), 'read', key, o?.signal);
      const body = out.Body;
      if (!(body instanceof Readable)) throw new FlowsyncError('INTERNAL', `S3 returned no readable body for s3://${bucket}/${key}.`);
      const start = range ? range[0] : 0;
      if (answerStart(out.ContentRange) !== start) {
        body.destroy();
        throw new FlowsyncError('UNSUPPORTED', `${endpointLabel} answered a read of s3://${bucket}/${key} from byte ${start} with bytes from ${answerStart(out.ContentRange)} (${out.ContentRange ?? 'the whole object'}); this server does not support range reads.`);
      }
      // A range past the end yields what there is, as a file read would.
      const length = range ? Math.min(range[1] - range[0], out.ContentLength ?? Infinity) : out.ContentLength;
      return guardStream(body, length, (err) => fail(err, 'read', key, o?.signal), o?.signal);
    },

    async write(key, body, w, o?: Op) {
      return put(key, body, w, o?.signal);
    },

    async delete(keys, o?: Op) {
      for (let i = 0; i < keys.length; i += MAX_DELETE_BATCH) {
        const batch = keys.slice(i, i + MAX_DELETE_BATCH);
        const command = new DeleteObjectsCommand({ Bucket: bucket, Delete: { Quiet: true, Objects: batch.map((Key) => ({ Key })) } });
        const label = batch.length === 1 ? batch[0] : `${batch[0]} (and ${batch.length - 1} more)`;
        const out = await send((c, h) => c.send(command, h), 'delete', label, o?.signal);
        const first = out.Errors?.find((e) => e.Code !== 'NoSuchKey');
        if (first) {
          const count = out.Errors!.length;
          throw fail(
            Object.assign(new Error(first.Message ?? first.Code ?? 'delete failed'), { name: first.Code ?? 'Error' }),
            `delete ${count} object(s), first`,
            first.Key,
            o?.signal,
          );
        }
      }
    },

    async openMultipart(key, w, o?: Op): Promise<MultipartWriter> {
      const metadata = userMetadata(w);
      const create = new CreateMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        Metadata: metadata,
        ...(w.contentType ? { ContentType: w.contentType } : {}),
      });
      const created = await send((c, h) => c.send(create, h), 'start the upload of', key, o?.signal);
      const uploadId = created.UploadId;
      if (!uploadId) throw new FlowsyncError('INTERNAL', `S3 returned no upload id for s3://${bucket}/${key}.`);
      const parts = new Map<number, CompletedPart & { size: number }>();
      let state: 'open' | 'completed' | 'aborted' = 'open';
      // S3 cannot check a whole-object sha256 of a multipart upload, so the writer hashes the
      // parts as they come. The engine writes them in order; parts out of order (or a part
      // missing) leave the hash unknown, and the engine's own check is then the only one.
      const whole = w.sha256 ? createHash('sha256') : undefined;
      let nextToHash = 1;
      let hashBroken = false;
      const ensureOpen = () => {
        if (state !== 'open') throw new FlowsyncError('NOT_FOUND', `The upload of s3://${bucket}/${key} was already ${state}.`);
      };

      return {
        partSize: w.partSize,
        maxParts: MAX_PARTS,

        async writePart(n, data, po) {
          throwIfAborted(po?.signal);
          ensureOpen();
          if (!Number.isInteger(n) || n < 1 || n > MAX_PARTS) throw new FlowsyncError('INTERNAL', `Part number ${n} is outside 1..${MAX_PARTS}.`);
          if (n === nextToHash && !hashBroken) {
            whole?.update(data);
            nextToHash++;
          } else if (n > nextToHash) {
            hashBroken = true;
          } // n < nextToHash: a retry of a part already hashed
          // A Uint8Array body is signed with its sha256 (x-amz-content-sha256), which S3 checks.
          const command = new UploadPartCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: n,
            Body: data,
            ContentLength: data.length,
          });
          const out = await send((c, h) => c.send(command, h), `upload part ${n} of`, key, po?.signal);
          parts.set(n, { PartNumber: n, ETag: out.ETag, size: data.length });
        },

        async complete(po) {
          throwIfAborted(po?.signal);
          ensureOpen();
          const sorted = [...parts.values()].sort((a, b) => a.PartNumber! - b.PartNumber!);
          // S3 happily joins parts 1, 2 and 4: check the set is whole before it does.
          const total = sorted.reduce((sum, p) => sum + p.size, 0);
          const gap = sorted.findIndex((p, i) => p.PartNumber !== i + 1);
          if (gap !== -1 || total !== w.size) {
            throw new FlowsyncError('CHECKSUM_MISMATCH', `Upload of s3://${bucket}/${key}: parts add up to ${total} bytes in ${sorted.length} parts${gap !== -1 ? ` (part ${gap + 1} missing)` : ''}, expected ${w.size} bytes.`);
          }
          if (whole && !hashBroken && nextToHash === sorted.length + 1 && whole.copy().digest('hex') !== w.sha256) {
            throw new FlowsyncError('CHECKSUM_MISMATCH', `Upload of s3://${bucket}/${key}: the parts do not match the file's sha256; it changed while it was read, or was corrupted.`);
          }
          const command = new CompleteMultipartUploadCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            MultipartUpload: { Parts: sorted.map(({ PartNumber, ETag }) => ({ PartNumber, ETag })) },
            // S3 honours both on CompleteMultipartUpload (since 2024), so big files race safely too.
            ...(w.ifMatch !== undefined ? { IfMatch: w.ifMatch } : {}),
            ...(w.ifNoneMatch !== undefined ? { IfNoneMatch: w.ifNoneMatch } : {}),
          });
          const out = await send((c, h) => c.send(command, h), 'complete the upload of', key, po?.signal);
          state = 'completed';
          const etag = quoteEtag(out.ETag);
          return { key, size: w.size, ...(etag ? { etag } : {}), ...(w.sha256 ? { sha256: w.sha256 } : {}), metadata };
        },

        async abort() {
          if (state !== 'open') return;
          state = 'aborted';
          parts.clear();
          try {
            const command = new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId });
            await send((c, h) => c.send(command, h), 'abort the upload of', key);
          } catch (err) {
            const e = err as FlowsyncError;
            // Already gone (aborted elsewhere, or expired): that is what abort wants.
            if (e.code === 'NOT_FOUND') return;
            if (e.code === 'UNSUPPORTED') {
              throw new FlowsyncError(
                'UNSUPPORTED',
                `The S3 server at ${endpointLabel} cannot abort multipart uploads, so the parts sent for s3://${bucket}/${key} stay on it until it removes them.`,
                { cause: err },
              );
            }
            throw e;
          }
        },
      };
    },

    async close() {
      if (ownsClient) {
        client?.destroy();
        client = undefined;
      }
    },
  };
}
