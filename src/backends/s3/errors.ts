/**
 * Map what the AWS SDK throws (service errors, network errors, credential errors) to a
 * FlowsyncError whose code the engine acts on and whose message names the cause and the fix.
 * The engine retries TRANSIENT / THROTTLED / CHECKSUM_MISMATCH only, so everything else here
 * must be a one-line, final answer. Socket-level failures are classified by the one network
 * table (util/net-errors.ts: resets are called resets, EAI_AGAIN is retryable); this file maps
 * only S3's own answers (error names, HTTP status).
 */
import { abortError, FlowsyncError, isFlowsyncError, type ErrorCode } from '../../errors.js';
import { classifyNetworkError } from '../../util/net-errors.js';

export interface S3ErrorContext {
  /** What was being done, e.g. "read", "write", "list". */
  action: string;
  bucket: string;
  key?: string;
  /** Where requests go, for messages: the custom endpoint URL, or "AWS S3". */
  endpoint: string;
  region?: string;
  signal?: AbortSignal;
}

interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  Code?: string;
  Region?: string;
  Endpoint?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number; headers?: Record<string, string | undefined> };
  cause?: unknown;
}

const AUTH_NAMES = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'TokenRefreshRequired', 'ExpiredTokenException', 'InvalidClientTokenId']);
const THROTTLE_NAMES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'ThrottledException', 'RequestLimitExceeded', 'TooManyRequestsException', 'RequestThrottled', 'RequestThrottledException', 'ServiceUnavailable', 'BandwidthLimitExceeded']);
const TRANSIENT_NAMES = new Set(['InternalError', 'RequestTimeout', 'RequestTimeoutException', 'IncompleteBody', 'TimeoutError', 'RequestTimeTooSkewed', 'OperationAborted']);
const CHECKSUM_NAMES = new Set(['BadDigest', 'InvalidDigest', 'XAmzContentSHA256Mismatch', 'InvalidChecksum']);
function where(c: S3ErrorContext): string {
  return c.key === undefined ? `s3://${c.bucket}` : `s3://${c.bucket}/${c.key}`;
}

export function s3Error(err: unknown, c: S3ErrorContext): FlowsyncError {
  if (isFlowsyncError(err)) return err;
  if (c.signal?.aborted) return abortError(c.signal);
  const e = (err ?? {}) as SdkErrorShape;
  const name = e.name ?? '';
  const status = e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
  const detail = `${name || 'Error'}${status ? ` (HTTP ${status})` : ''}${e.message && e.message !== name ? `: ${e.message}` : ''}`;
  const fail = (code: ErrorCode, message: string) => new FlowsyncError(code, message, { cause: err });
  const target = where(c);

  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(e.message ?? '')) {
    return fail('AUTH', `No AWS credentials found to ${c.action} ${target} (${e.message ?? name}). Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (run "aws sso login" for SSO profiles).`);
  }
  if (/Region is missing/i.test(e.message ?? '')) {
    return fail('INVALID_INPUT', `No AWS region is set for ${target}. Set AWS_REGION (or --region / the profile's region).`);
  }

  // Network and TLS failures (no HTTP answer): the one table, util/net-errors.ts.
  const syscall = (e as { syscall?: string }).syscall;
  const net = classifyNetworkError(err);
  if (/did not establish a connection|without establishing a connection/i.test(e.message ?? '') || (net?.code === 'ETIMEDOUT' && syscall === 'connect')) {
    return fail('UNREACHABLE', `No connection to ${endpointName(c)} within the connection timeout to ${c.action} ${target}. Check the endpoint (--endpoint, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL) and the network.`);
  }
  if (net?.kind === 'tls') {
    return fail('UNREACHABLE', `TLS connection to ${endpointName(c)} failed (${net.words}: ${e.message ?? ''}). Trust the server's certificate (AWS_CA_BUNDLE or NODE_EXTRA_CA_CERTS) or fix the endpoint URL.`);
  }
  if (net && !net.retryable) {
    return fail('UNREACHABLE', `Cannot reach ${endpointName(c)} to ${c.action} ${target} (${net.words}). Check the endpoint (--endpoint, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL) and the network.`);
  }
  if (net) {
    return fail('TRANSIENT', `${capitalised(net.words)} talking to ${endpointName(c)} while trying to ${c.action} ${target}; worth retrying.`);
  }
  // An HTTP answer that is no S3 error (an HTML page, a body the SDK cannot read as S3's XML):
  // whatever answers at the endpoint is not an S3 service.
  if (status !== undefined && notAnS3Answer(e, name)) {
    return fail(
      'INVALID_INPUT',
      `${endpointName(c)} is not an S3 service: it answered HTTP ${status} with ${describeBody(e)} when asked to ${c.action} ${target}. Check the endpoint (--endpoint, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL): it must be the S3 API's URL, not a web page or console.`,
    );
  }
  // Service answers.
  if (AUTH_NAMES.has(name)) {
    const fix =
      name === 'InvalidAccessKeyId' || name === 'InvalidClientTokenId'
        ? 'the access key id is unknown to the server: check AWS_ACCESS_KEY_ID / AWS_PROFILE'
        : name === 'SignatureDoesNotMatch'
          ? 'the secret access key does not match the access key id: check AWS_SECRET_ACCESS_KEY / the profile'
          : 'the session credentials expired: refresh them (e.g. "aws sso login") and re-run';
    return fail('AUTH', `${endpointName(c)} rejected the credentials used to ${c.action} ${target} (${name}): ${fix}.`);
  }
  if (name === 'AccessDenied' || name === 'AllAccessDisabled') {
    return fail('PERMISSION', `Access denied to ${c.action} ${target} (${detail}). Grant the credentials in use the needed s3:* permission on the bucket, or use other credentials.`);
  }
  if (status === 403) {
    // A HEAD answer has no body, so S3 cannot say whether the key or the permission is wrong.
    return fail('PERMISSION', `Access denied to ${c.action} ${target} (HTTP 403). Check the credentials (AWS_ACCESS_KEY_ID / AWS_PROFILE) and that they have the needed s3:* permission on the bucket.`);
  }
  if (name === 'NoSuchBucket') {
    return fail('BUCKET_NOT_FOUND', `Bucket "${c.bucket}" does not exist at ${endpointName(c)}. Create it, or fix the bucket name in the remote address.`);
  }
  const region = regionHint(e);
  if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed' || name === 'IllegalLocationConstraintException' || status === 301) {
    const right = region && region !== c.region ? ` It is in region ${region}: set AWS_REGION=${region} (or --region ${region}).` : ' Set AWS_REGION (or --region) to the bucket\'s region.';
    return fail('INVALID_INPUT', `Bucket "${c.bucket}" is not in region ${c.region ?? '(unset)'} (${name || status}).${right}`);
  }
  if (name === 'PreconditionFailed' || name === 'ConditionalRequestConflict' || status === 412) {
    return fail('PRECONDITION_FAILED', `${target} changed since it was read (or already exists); another writer got there first (${name || status}). Re-run to start from the current state.`);
  }
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) {
    return fail('NOT_FOUND', `No object at ${target} (${name || status}).`);
  }
  if (name === 'NoSuchUpload') {
    return fail('NOT_FOUND', `The multipart upload of ${target} no longer exists (aborted, completed or expired). Re-run to upload it again.`);
  }
  if (CHECKSUM_NAMES.has(name)) {
    return fail('CHECKSUM_MISMATCH', `${endpointName(c)} received bytes for ${target} that do not match their checksum (${name}): corrupted in transit or the file changed while it was read.`);
  }
  if (THROTTLE_NAMES.has(name) || status === 429 || status === 503) {
    return fail('THROTTLED', `${endpointName(c)} is throttling requests (${detail}) to ${c.action} ${target}. Lower --concurrency if this persists.`);
  }
  if (name === 'InvalidBucketName') {
    return fail('INVALID_INPUT', `"${c.bucket}" is not a valid S3 bucket name. Fix the bucket name in the remote address.`);
  }
  if (name === 'MethodNotAllowed' || name === 'NotImplemented' || status === 405 || status === 501) {
    return fail('UNSUPPORTED', `The S3 server at ${endpointName(c)} does not support the request to ${c.action} ${target} (${detail}).`);
  }
  if (TRANSIENT_NAMES.has(name) || (status !== undefined && status >= 500)) {
    return fail('TRANSIENT', `${endpointName(c)} failed to ${c.action} ${target} (${detail}); worth retrying.`);
  }

  return fail('INTERNAL', `S3 request to ${c.action} ${target} failed at ${endpointName(c)}: ${detail}.`);
}

function notAnS3Answer(e: SdkErrorShape, name: string): boolean {
  if (/XML parse error|Deserialization error|Unexpected token|char '<'/i.test(e.message ?? '')) return true;
  const type = e.$response?.headers?.['content-type'] ?? '';
  return (name === '' || name === 'Error' || name === 'UnknownError') && /html|text\/plain/i.test(type);
}

function describeBody(e: SdkErrorShape): string {
  const type = e.$response?.headers?.['content-type'];
  return type ? `a ${type.split(';')[0]} body` : 'a body that is not S3 XML';
}

function capitalised(words: string): string {
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function endpointName(c: S3ErrorContext): string {
  return c.endpoint;
}

/** The bucket's real region, when the error carries it (XML <Region> or x-amz-bucket-region). */
function regionHint(e: SdkErrorShape): string | undefined {
  const header = e.$response?.headers?.['x-amz-bucket-region'];
  if (header) return header;
  if (e.Region) return e.Region;
  // PermanentRedirect names the right endpoint, e.g. bucket.s3.eu-west-1.amazonaws.com
  const m = e.Endpoint ? /s3[.-]([a-z]{2}(?:-[a-z]+)+-\d)\./.exec(e.Endpoint) : null;
  return m?.[1];
}
