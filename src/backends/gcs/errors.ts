/**
 * Map what the GCS SDK (and a resumable session's raw answers) throw to FlowsyncErrors.
 * A 404 is classified by the call it answers, never by words in its message (GCS says "No such
 * object: my-bucket/x" for a missing object, and a bucket named "my-bucket" must not read as a
 * missing bucket): an object call's 404 is NOT_FOUND, and the backend asks the bucket itself
 * (one listing, remembered) before it calls an object missing; a bucket call's 404 is the bucket.
 */
import { abortError, FlowsyncError, isFlowsyncError, type ErrorCode } from '../../errors.js';
import { classifyNetworkError } from '../../util/net-errors.js';


export interface ErrorContext {
  bucket: string;
  /** What was being done, e.g. "read gs://b/k". */
  action: string;
  /** An object call (get, media, delete of one object): its 404 is the object's. Otherwise the bucket's. */
  object?: boolean;
  signal?: AbortSignal;
}

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
      if (!ctx.object) return bucketMissing(err, ctx);
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
  const network = classifyNetworkError(err);
  if (network?.retryable) return fail('TRANSIENT', `${network.words}. A retry usually succeeds.`);
  if (network) {
    return fail('UNREACHABLE', `the GCS endpoint cannot be reached: ${network.words}: ${msg}. Check the endpoint / STORAGE_EMULATOR_HOST, DNS, certificates and network.`);
  }
  if (/Could not load the default credentials|invalid_grant|unauthorized_client|DECODER routines|private key|No key or keyFile set/i.test(msg) || net === 'ERR_OSSL_UNSUPPORTED') {
    return fail('AUTH', `no usable Google credentials (${msg}). Set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, pass credentials, or run "gcloud auth application-default login".`);
  }
  // The only local files a GCS call opens are credential files (keyFilename, GOOGLE_APPLICATION_CREDENTIALS).
  if (net === 'ENOENT' || net === 'EACCES' || net === 'EISDIR' || net === 'ENOTDIR') {
    return fail('AUTH', `cannot read the Google credentials file (${msg}). Point GOOGLE_APPLICATION_CREDENTIALS (or keyFilename) at a readable service-account key file.`);
  }
  if (status !== undefined) return fail('INTERNAL', `GCS answered ${status} (${msg}).`);
  return fail('INTERNAL', msg);
}


/** The bucket of `ctx` does not exist (a bucket call answered 404, or the bucket probe did). */
export function bucketMissing(cause: unknown, ctx: ErrorContext): FlowsyncError {
  const bucketUrl = `gs://${ctx.bucket}`;
  return new FlowsyncError('BUCKET_NOT_FOUND', `Cannot ${ctx.action}: bucket ${bucketUrl} does not exist. Create it (gcloud storage buckets create ${bucketUrl}) or fix the bucket name.`, { cause });
}
