/**
 * Map Azure SDK errors (RestError from @azure/core-rest-pipeline, @azure/identity errors, Node
 * network errors) to FlowsyncError codes with a message that names the cause and the fix.
 *
 * Service errors carry the storage error code in `code` (GET/PUT) or only in
 * `details.errorCode` (HEAD responses have no body). Azurite differs from Azure in two places
 * handled here: a bad Shared Key signature is `AuthorizationFailure` (Azure: `AuthenticationFailed`)
 * and a Content-MD5 mismatch is `InvalidOperation` "Provided contentMD5 doesn't match."
 * (Azure: `Md5Mismatch`). Socket-level failures (no HTTP answer) are classified by the one
 * network table, util/net-errors.ts; this file maps only the storage service's own codes.
 */
import { abortError, FlowsyncError, isFlowsyncError, type ErrorCode } from '../../errors.js';
import { scrubSecrets } from '../../secrets.js';
import { classifyNetworkError } from '../../util/net-errors.js';

export interface AzureErrorContext {
  /** What was being done, as a verb phrase: "read", "list", "upload part 3 of". */
  action: string;
  container: string;
  /** Blob name, when the operation concerns one blob. */
  key?: string;
  /** Account or endpoint host, for messages about credentials and reachability. */
  account?: string;
  signal?: AbortSignal;
}

interface SdkErrorShape {
  name?: string;
  message?: string;
  code?: string;
  statusCode?: number;
  details?: { errorCode?: string; message?: string };
}

/** The SDK's own words for a request that never got an answer; sockets themselves go to util/net-errors.ts. */
const SDK_TRANSIENT_CODES = new Set(['TIMEOUT', 'REQUEST_SEND_ERROR', 'InternalError', 'OperationTimedOut']);
const PRECONDITION_CODES = new Set([
  'ConditionNotMet', 'BlobAlreadyExists', 'TargetConditionNotMet', 'SourceConditionNotMet',
  'LeaseIdMissing', 'LeaseIdMismatchWithBlobOperation', 'LeaseNotPresentWithBlobOperation',
]);
const PERMISSION_CODES = new Set([
  'AuthorizationPermissionMismatch', 'AuthorizationFailure', 'AuthorizationSourceIPMismatch',
  'AuthorizationProtocolMismatch', 'AuthorizationResourceTypeMismatch', 'AuthorizationServiceMismatch',
  'InsufficientAccountPermissions', 'KeyBasedAuthenticationNotPermitted',
]);
// @azure/identity error names: no usable credential, or the identity provider said no.
const IDENTITY_ERRORS = new Set(['CredentialUnavailableError', 'AuthenticationError', 'AggregateAuthenticationError', 'AuthenticationRequiredError']);

export const AZURE_CREDENTIAL_HELP =
  'Set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN, ' +
  'or sign in for Azure AD (az login, or AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET).';

export function storageErrorCode(err: unknown): string | undefined {
  const e = err as SdkErrorShape | undefined;
  return e?.details?.errorCode ?? e?.code;
}

export function statusOf(err: unknown): number | undefined {
  return (err as SdkErrorShape | undefined)?.statusCode;
}

/** First line of the service's message (Azure appends RequestId and Time lines). */
function firstLine(err: unknown): string {
  const msg = (err as SdkErrorShape | undefined)?.message ?? '';
  return msg.split('\n')[0]!.trim();
}

export function isAuthenticationFailure(err: unknown): boolean {
  const code = storageErrorCode(err);
  return code === 'AuthenticationFailed' || (code === 'AuthorizationFailure' && /^Server failed to authenticate/i.test(firstLine(err)));
}

/**
 * A RestError keeps the request it failed on, whose URL carries the SAS token when one is used.
 * The SDK redacts it when the error is inspected, but not for code that reads `cause.request.url`
 * or serialises the error: scrub the URL in place (the SDK is done with the request by now).
 */
function scrubRequestUrls(err: unknown): void {
  const e = err as { request?: { url?: unknown }; response?: { request?: { url?: unknown } } } | undefined;
  for (const req of [e?.request, e?.response?.request]) {
    if (req && typeof req.url === 'string') {
      try {
        req.url = scrubSecrets(req.url);
      } catch {
        // a frozen or read-only request: nothing to scrub in place
      }
    }
  }
}

export function azureError(err: unknown, ctx: AzureErrorContext): FlowsyncError {
  if (isFlowsyncError(err)) return err;
  const e = err as SdkErrorShape | undefined;
  if (ctx.signal?.aborted) return abortError(ctx.signal);

  const status = statusOf(err);
  const code = storageErrorCode(err);
  const detail = firstLine(err);
  const where = ctx.key === undefined ? `container "${ctx.container}"` : `az://${ctx.container}/${ctx.key}`;
  const what = `Cannot ${ctx.action} ${where}`;
  const said = [status, code, detail].filter((x) => x !== undefined && x !== '').join(' ');
  scrubRequestUrls(err);
  const make = (c: ErrorCode, message: string) => new FlowsyncError(c, message, { cause: err });

  if (e?.name && IDENTITY_ERRORS.has(e.name)) {
    return make('AUTH', `${what}: no Azure credential worked (${detail}). ${AZURE_CREDENTIAL_HELP}`);
  }
  if (isAuthenticationFailure(err)) {
    return make(
      'AUTH',
      `${what}: Azure rejected the credentials${ctx.account ? ` for ${ctx.account}` : ''} (${said}). ` +
        'Check the account key, connection string or SAS token (expired? wrong account?). ' + AZURE_CREDENTIAL_HELP,
    );
  }
  if (status === 403 || (code && PERMISSION_CODES.has(code))) {
    return make(
      'PERMISSION',
      `${what}: the credentials are valid but not allowed to do this (${said}). ` +
        'Grant the identity the "Storage Blob Data Contributor" role on the container, use a SAS with read, write, delete and list permissions, or check the account firewall.',
    );
  }
  if (code === 'ContainerNotFound' || code === 'ContainerBeingDeleted') {
    return make(
      'BUCKET_NOT_FOUND',
      `${what}: the container "${ctx.container}" does not exist${ctx.account ? ` in ${ctx.account}` : ''}. ` +
        `Create it (az storage container create --name ${ctx.container}) or fix the container name in the remote address.`,
    );
  }
  if (code === 'BlobNotFound' || (status === 404 && ctx.key !== undefined && code === undefined)) {
    return make('NOT_FOUND', `${what}: no such blob.`);
  }
  // Without an aborted signal, an AbortError is the SDK's reading of a connection that closed
  // in the middle of a response body (IncomingMessage 'aborted'), not a cancellation.
  if (e?.name === 'AbortError') {
    return make('TRANSIENT', `${what}: the connection closed before the whole response arrived. Retrying usually fixes it.`);
  }
  // The SDK's download stream checks the length: the body ended early (or ran long).
  if (/^Data corruption failure: received less data/i.test(detail)) {
    return make('TRANSIENT', `${what}: the connection kept ending before the whole body arrived. Retrying usually fixes it.`);
  }
  if (/^Data corruption failure/i.test(detail)) {
    return make('CHECKSUM_MISMATCH', `${what}: Azure sent more data than asked for (${detail}). Retrying usually fixes it.`);
  }
  if (code === 'Md5Mismatch' || code === 'Crc64Mismatch' || (code === 'InvalidOperation' && /md5/i.test(detail))) {
    return make('CHECKSUM_MISMATCH', `${what}: Azure received bytes that do not match their checksum (${said}); the data changed in transit. Retrying usually fixes it.`);
  }
  if (status === 412 || (code && PRECONDITION_CODES.has(code)) || (status === 409 && code === 'BlobAlreadyExists')) {
    return make('PRECONDITION_FAILED', `${what}: it changed or appeared since it was read, so the conditional write was refused (${said}); another writer got there first. Re-run to start from the current state.`);
  }
  if (code === 'ServerBusy' || status === 429) {
    return make('THROTTLED', `${what}: Azure is throttling requests (${said}). Lower --concurrency or try again later.`);
  }
  // Socket-level failures: the one table (resets are resets, EAI_AGAIN retryable).
  const net = status === undefined ? classifyNetworkError(err) : null;
  if (net?.retryable) return make('TRANSIENT', `${what}: ${net.words}. Retrying usually fixes it.`);
  if (net) {
    return make(
      'UNREACHABLE',
      `${what}: cannot reach the Azure Blob endpoint${ctx.account ? ` ${ctx.account}` : ''} (${net.words}: ${detail}). ` +
        'Check the account name or endpoint (BlobEndpoint in AZURE_STORAGE_CONNECTION_STRING, --endpoint), the network, certificates, and that the service is running.',
    );
  }
  if ((status !== undefined && status >= 500) || (code && SDK_TRANSIENT_CODES.has(code))) {
    return make('TRANSIENT', `${what}: ${said || 'temporary failure'}. This is usually temporary; retrying should work.`);
  }
  if (code === 'InvalidMetadata') {
    return make('INVALID_INPUT', `${what}: Azure refused the metadata (${said}). Metadata names must be letters, digits and '_' and start with a letter.`);
  }
  if (code === 'InvalidResourceName' || code === 'OutOfRangeInput') {
    return make('USAGE', `${what}: Azure refused the name (${said}). Container names are 3-63 lower-case letters, digits and '-'; blob names at most 1024 characters.`);
  }
  return make('INTERNAL', `${what}: ${said || String(err)}.`);
}
