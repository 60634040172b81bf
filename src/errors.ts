/**
 * The one error type of flowsync. Every failure that reaches a user is a FlowsyncError with a
 * machine-readable `code`, a message that names the cause and the fix, and the raw error (SDK,
 * fs, git) as `cause`.
 */
import { scrubSecrets } from '././secrets.js';

export type ErrorCode =
  | 'USAGE' // bad command-line usage (exit 2)
  | 'INVALID_INPUT' // bad input file: YAML, blocks file, options (exit 2)
  | 'NOT_FOUND' // a local file/dir or a remote object that must exist does not
  | 'BUCKET_NOT_FOUND' // bucket / container does not exist
  | 'AUTH' // credentials missing or rejected
  | 'PERMISSION' // credentials valid but not allowed
  | 'UNREACHABLE' // endpoint cannot be reached (DNS, refused, TLS)
  | 'TRANSIENT' // 5xx, connection reset, timeout: worth retrying
  | 'THROTTLED' // 429 / 503 SlowDown: worth retrying, slower
  | 'PRECONDITION_FAILED' // a conditional write lost the race
  | 'LOCKED' // another push holds the remote's write lease
  | 'BAD_MANIFEST' // manifest unreadable or invalid
  | 'UNSAFE_PATH' // a path that would escape its root
  | 'UNSUPPORTED_VERSION' // a manifest from a newer flowsync
  | 'CHECKSUM_MISMATCH' // bytes received differ from the expected hash
  | 'FILE_CHANGED' // a local file kept changing while it was read
  | 'CONFLICT' // a local file flowsync did not place is in the way
  | 'IO' // local filesystem error
  | 'ABORTED' // cancelled through an AbortSignal
  | 'STEP_FAILED' // a prefect.yaml step failed
  | 'GIT' // git failed
  | 'UNSUPPORTED' // the backend cannot do what was asked
  | 'INTERNAL';

const RETRYABLE: ReadonlySet<ErrorCode> = new Set(['TRANSIENT', 'THROTTLED', 'CHECKSUM_MISMATCH']);
const USAGE_CODES: ReadonlySet<ErrorCode> = new Set(['USAGE', 'INVALID_INPUT']);

export class FlowsyncError extends Error {
  override readonly name = 'FlowsyncError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(scrubSecrets(message), options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }

  /** Whether the transfer engine may try the same operation again. */
  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }

  /** CLI exit code: 2 for bad usage or input, 1 for every other failure. */
  get exitCode(): 1 | 2 {
    return USAGE_CODES.has(this.code) ? 2 : 1;
  }
}

export function isFlowsyncError(e: unknown, code?: ErrorCode): e is FlowsyncError {
  return e instanceof FlowsyncError && (code === undefined || e.code === code);
}

/** The AbortSignal's reason as a FlowsyncError, so callers see one shape for cancellation. */
export function abortError(signal: AbortSignal | undefined): FlowsyncError {
  const reason = signal?.reason;
  if (isFlowsyncError(reason)) return reason;
  return new FlowsyncError('ABORTED', 'Operation cancelled.', { cause: reason });
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/** Map a Node fs error to a FlowsyncError that names the path and what to do. */
export function fsError(err: unknown, action: string, path: string): FlowsyncError {
  if (isFlowsyncError(err)) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return new FlowsyncError('NOT_FOUND', `Cannot ${action} ${path}: it does not exist. Check the path.`, { cause: err });
    case 'EACCES':
    case 'EPERM':
      return new FlowsyncError('IO', `Cannot ${action} ${path}: permission denied. Fix its permissions or run as a user who can read/write it.`, { cause: err });
    case 'ENOTDIR':
      return new FlowsyncError('IO', `Cannot ${action} ${path}: a parent of it is a file, not a directory.`, { cause: err });
    case 'EISDIR':
      return new FlowsyncError('IO', `Cannot ${action} ${path}: it is a directory.`, { cause: err });
    case 'ENOSPC':
      return new FlowsyncError('IO', `Cannot ${action} ${path}: no space left on the device. Free some space and re-run.`, { cause: err });
    case 'EMFILE':
    case 'ENFILE':
      return new FlowsyncError('IO', `Cannot ${action} ${path}: too many open files. Lower --concurrency or raise the open-file limit (ulimit -n).`, { cause: err });
    default:
      return new FlowsyncError('IO', `Cannot ${action} ${path}: ${(err as Error | undefined)?.message ?? String(err)}`, { cause: err });
  }
}
