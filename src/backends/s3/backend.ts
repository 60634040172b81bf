/**
 * Amazon S3 and S3-compatible stores (s3rver, MinIO, ...). Moves bytes only: the engine owns
 * hashing, retries (the decorator in ../retrying.ts), concurrency and part sizes; client set-up
 * and credentials are in credentials.ts.
 *
 * Integrity: the transport digest is sha256. A single PUT carries the engine's sha256 twice: as
 * ChecksumSHA256 (S3 verifies it and stores it) and as x-amz-content-sha256, the payload hash of
 * the SigV4 signature (S3 verifies that too), so the SDK signs without hashing the body again.
 * Each part carries its part sha256 the same way. s3rver checks neither: there the engine's
 * own check (the bytes read hash to the manifest's sha256) is what stands.
 */
import { Readable } from 'node:stream';
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
} from '@aws-sdk/client-s3';
import { abortError, FlowsyncError, throwIfAborted } from '../../errors.js';
import { buildS3Client, resolveEndpoint, resolveRegion, s3Agents } from './credentials.js';
import { BucketProof } from './bucket-proof.js';
import { LeanS3 } from './lean-requests.js';
import { answerStart, guardStream } from './read-body.js';
import { s3Error } from './errors.js';
import type { S3BackendOptions } from './options.js';
import {
  SHA256_METADATA_KEY,
  type Backend,
  type MultipartWriter,
  type ObjectInfo,
  type Op,
  type ReadOptions,
  type WriteInfo,
} from '../types.js';

export type { S3BackendOptions } from './options.js';

const MiB = 1024 * 1024;
const MAX_DELETE_BATCH = 1000;
const MAX_PARTS = 10_000;
const MAX_SINGLE_PUT = 5 * 1024 * MiB;

function quoteEtag(etag: string | undefined): string | undefined {
  if (!etag) return undefined;
  return etag.startsWith('"') || etag.startsWith('W/') ? etag : `"${etag}"`;
}

function userMetadata(w: Pick<WriteInfo, 'metadata' | 'sha256'>): Record<string, string> {
  const metadata: Record<string, string> = { ...w.metadata };
  if (w.sha256) metadata[SHA256_METADATA_KEY] = w.sha256;
  return metadata;
}

/**
 * Send `hex` as the SigV4 payload hash (x-amz-content-sha256): S3 checks the body against it, and
 * the signer takes it as given instead of hashing the body a second time.
 */
function withPayloadHash<C extends { middlewareStack: { add: (m: never, o: { step: 'build'; name: string }) => void } }>(command: C, digest: Uint8Array | undefined): C {
  if (!digest) return command;
  const hex = Buffer.from(digest).toString('hex');
  const middleware = (next: (args: { request: { headers?: Record<string, string> } }) => Promise<unknown>) => async (args: { request: { headers?: Record<string, string> } }) => {
    if (args.request.headers) args.request.headers['x-amz-content-sha256'] = hex;
    return next(args);
  };
  command.middlewareStack.add(middleware as never, { step: 'build', name: 'flowsyncPayloadHash' });
  return command;
}

export function createS3Backend(options: S3BackendOptions): Backend {
  const { bucket } = options;
  if (!bucket) throw new FlowsyncError('USAGE', 'No S3 bucket given: write s3://<bucket>/<folder>.');
  const endpoint = options.client ? options.endpoint : resolveEndpoint(options.endpoint);
  const region = resolveRegion(options.region, endpoint);
  const endpointLabel = endpoint ?? `AWS S3${region ? ` (${region})` : ''}`;

  let client: S3Client | undefined = options.client;
  const ownsClient = !options.client;
  // A client of the caller's may carry middleware of its own: then every request goes through it.
  let lean: LeanS3 | undefined;
  const getClient = (): S3Client => {
    if (client) return client;
    const agents = s3Agents(options);
    const built = buildS3Client(options, endpoint, region, agents);
    lean = new LeanS3(bucket, agents, () => built.config.credentials, () => built.config.systemClockOffset ?? 0);
    lean.install(built);
    return (client = built);
  };
  const proof = new BucketProof();

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
      return await proof.track(() => call(getClient(), signal ? { abortSignal: signal } : {}));
    } catch (err) {
      throw fail(err, action, key, signal);
    }
  }

  /**
   * HEAD answers carry no error body: 404 may mean "no key" or "no bucket", 403 may mean a bad
   * key or a missing permission, 301 hides the right region. A tiny GET tells which.
   */
  async function explainHeadFailure(key: string, headError: FlowsyncError, signal?: AbortSignal): Promise<null> {
    if (headError.code === 'NOT_FOUND' && (await proof.settle(signal))) return null;
    throwIfAborted(signal);
    try {
      // A second 404 meanwhile waits for this probe's answer instead of sending its own.
      const probe = await proof.track(
        () => getClient().send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: 'bytes=0-0' }), signal ? { abortSignal: signal } : {}),
        (err) => fail(err, 'stat', key, signal).code === 'NOT_FOUND',
      );
      (probe.Body as Readable | undefined)?.destroy();
    } catch (err) {
      const precise = fail(err, 'stat', key, signal);
      if (precise.code === 'NOT_FOUND') return null;
      throw precise;
    }
    // The GET found an object the HEAD did not (created in between): at HEAD time it was missing.
    if (headError.code === 'NOT_FOUND') return null;
    throw headError;
  }

  interface Answer {
    body: Readable;
    contentRange: string | undefined;
    contentLength: number | undefined;
  }

  /** A GET on the lean path (lean-requests.ts); null until the SDK's first request showed the way, or when the SDK should answer. */
  async function leanRead(key: string, range: [number, number] | undefined, signal?: AbortSignal): Promise<Answer | null> {
    if (!lean?.ready) return null;
    throwIfAborted(signal);
    const answer = await lean.get(key, range, signal);
    if (answer) proof.seen = true;
    return answer;
  }

  async function sdkRead(key: string, range: [number, number] | undefined, signal?: AbortSignal): Promise<Answer> {
    const command = new GetObjectCommand({ Bucket: bucket, Key: key, ...(range ? { Range: `bytes=${range[0]}-${range[1] - 1}` } : {}) });
    const out = await send((cl, h) => cl.send(command, h), 'read', key, signal);
    if (!(out.Body instanceof Readable)) throw new FlowsyncError('INTERNAL', `S3 returned no readable body for s3://${bucket}/${key}.`);
    return { body: out.Body, contentRange: out.ContentRange, contentLength: out.ContentLength };
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

  async function put(key: string, body: Uint8Array, w: WriteInfo, signal?: AbortSignal): Promise<ObjectInfo> {
    throwIfAborted(signal);
    if (w.size > MAX_SINGLE_PUT) {
      throw new FlowsyncError('UNSUPPORTED', `S3 takes at most 5 GiB in one PUT; ${key} has ${w.size} bytes. Upload it in parts (openMultipart).`);
    }
    const metadata = userMetadata(w);
    if (lean?.ready && w.digest && w.ifMatch === undefined && w.ifNoneMatch === undefined) {
      throwIfAborted(signal);
      const digest = Buffer.from(w.digest);
      const done = await lean.put(key, { body, payloadSha256: digest.toString('hex'), checksumSha256: digest.toString('base64'), metadata, contentType: w.contentType }, signal);
      if (done) {
        proof.seen = true;
        const etag = quoteEtag(done.etag);
        return { key, size: body.length, ...(etag ? { etag } : {}), ...(w.sha256 ? { sha256: w.sha256 } : {}), metadata };
      }
    }
    const command = new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: body,
      ContentLength: body.length,
      Metadata: metadata,
      ...(w.contentType ? { ContentType: w.contentType } : {}),
      // S3 recomputes the sha256 of what it received and refuses a mismatch.
      ...(w.digest ? { ChecksumSHA256: Buffer.from(w.digest).toString('base64') } : {}),
      ...(w.ifMatch !== undefined ? { IfMatch: w.ifMatch } : {}),
      ...(w.ifNoneMatch !== undefined ? { IfNoneMatch: w.ifNoneMatch } : {}),
    });
    const out = await send((c, h) => c.send(withPayloadHash(command, w.digest), h), 'write', key, signal);
    const etag = quoteEtag(out.ETag);
    return { key, size: body.length, ...(etag ? { etag } : {}), ...(w.sha256 ? { sha256: w.sha256 } : {}), metadata };
  }

  return {
    name: 's3',
    features: { multipart: true, conditionalWrite: true, rangeRead: true, metadata: true, transportDigest: 'sha256' },
    limits: { deleteBatch: MAX_DELETE_BATCH, multipart: { minPartSize: 5 * MiB, maxPartSize: 5 * 1024 * MiB, maxParts: MAX_PARTS } },
    // 64 in flight: small objects are latency-bound over a WAN (64 / 20 ms = 3,200 requests/s) and
    // cost little CPU each on the lean path; the byte budget, not this, bounds memory.
    tuning: { concurrency: 64, multipartThreshold: 16 * MiB, partSize: 16 * MiB },

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
      const answer = (await leanRead(key, range, o?.signal)) ?? (await sdkRead(key, range, o?.signal));
      const body = answer.body;
      const start = range ? range[0] : 0;
      if (answerStart(answer.contentRange) !== start) {
        body.destroy();
        throw new FlowsyncError('UNSUPPORTED', `${endpointLabel} answered a read of s3://${bucket}/${key} from byte ${start} with bytes from ${answerStart(answer.contentRange)} (${answer.contentRange ?? 'the whole object'}); this server does not support range reads.`);
      }
      // A range past the end yields what there is, as a file read would.
      const length = range ? Math.min(range[1] - range[0], answer.contentLength ?? Infinity) : answer.contentLength;
      return guardStream(body, length, (err) => fail(err, 'read', key, o?.signal), o?.signal);
    },

    async write(key, body, w, o?: Op) {
      return put(key, body, w, o?.signal);
    },

    async delete(keys, o?: Op) {
      if (keys.length === 0) return;
      if (keys.length > MAX_DELETE_BATCH) throw new FlowsyncError('INTERNAL', `S3 deletes at most ${MAX_DELETE_BATCH} keys per call; got ${keys.length}.`);
      const command = new DeleteObjectsCommand({ Bucket: bucket, Delete: { Quiet: true, Objects: keys.map((Key) => ({ Key })) } });
      const label = keys.length === 1 ? keys[0] : `${keys[0]} (and ${keys.length - 1} more)`;
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
      const ensureOpen = () => {
        if (state !== 'open') throw new FlowsyncError('NOT_FOUND', `The upload of s3://${bucket}/${key} was already ${state}.`);
      };

      return {
        async writePart(n, data, info, po) {
          throwIfAborted(po?.signal);
          ensureOpen();
          if (!Number.isInteger(n) || n < 1 || n > MAX_PARTS) throw new FlowsyncError('INTERNAL', `Part number ${n} is outside 1..${MAX_PARTS}.`);
          // The part's sha256 (the engine's) is the signed payload hash, which S3 checks.
          const command = new UploadPartCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: n,
            Body: data,
            ContentLength: data.length,
          });
          const out = await send((c, h) => c.send(withPayloadHash(command, info?.digest), h), `upload part ${n} of`, key, po?.signal);
          parts.set(n, { PartNumber: n, ETag: out.ETag, size: data.length });
        },

        async complete(done, po) {
          throwIfAborted(po?.signal);
          ensureOpen();
          const sorted = [...parts.values()].sort((a, b) => a.PartNumber! - b.PartNumber!);
          // S3 happily joins parts 1, 2 and 4: check the set is whole before it does.
          const total = sorted.reduce((sum, p) => sum + p.size, 0);
          const gap = sorted.findIndex((p, i) => p.PartNumber !== i + 1);
          if (gap !== -1 || total !== done.size) {
            throw new FlowsyncError('INTERNAL', `Upload of s3://${bucket}/${key}: parts add up to ${total} bytes in ${sorted.length} parts${gap !== -1 ? ` (part ${gap + 1} missing)` : ''}, expected ${done.size} bytes.`);
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
          return { key, size: done.size, ...(etag ? { etag } : {}), ...(w.sha256 ? { sha256: w.sha256 } : {}), metadata };
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
