/**
 * The one network-error table (rclone's fserrors): every backend asks it what a socket-level
 * failure means, so "retryable or not" and the words in the message agree everywhere. Each
 * backend then maps only its own service's codes (HTTP status, storage error names).
 */

export type NetworkFailure =
  /** The peer dropped the connection (ECONNRESET, EPIPE, a body cut short): retry. */
  | 'reset'
  /** No answer in time on an open connection: retry. */
  | 'timeout'
  /** DNS did not answer this time (EAI_AGAIN): retry. */
  | 'dns-temporary'
  /** Nobody at that address (refused, unknown host, no route): final, fix the endpoint. */
  | 'unreachable'
  /** The TLS handshake failed (untrusted or wrong certificate): final, fix trust or URL. */
  | 'tls';

const TABLE: Record<string, NetworkFailure> = {
  ECONNRESET: 'reset',
  EPIPE: 'reset',
  ECONNABORTED: 'reset',
  UND_ERR_SOCKET: 'reset',
  ERR_STREAM_PREMATURE_CLOSE: 'reset',
  ETIMEDOUT: 'timeout',
  ESOCKETTIMEDOUT: 'timeout',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
  EAI_AGAIN: 'dns-temporary',
  ECONNREFUSED: 'unreachable',
  ENOTFOUND: 'unreachable',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  EHOSTDOWN: 'unreachable',
  ENETDOWN: 'unreachable',
  EPROTO: 'tls',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'tls',
  SELF_SIGNED_CERT_IN_CHAIN: 'tls',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'tls',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'tls',
  CERT_HAS_EXPIRED: 'tls',
  ERR_TLS_CERT_ALTNAME_INVALID: 'tls',
};

const RETRYABLE: ReadonlySet<NetworkFailure> = new Set(['reset', 'timeout', 'dns-temporary']);

/** How each kind reads in a message: a reset is called a reset, never a timeout. */
const WORDS: Record<NetworkFailure, string> = {
  reset: 'connection reset',
  timeout: 'connection timed out',
  'dns-temporary': 'DNS lookup failed for now',
  unreachable: 'endpoint unreachable',
  tls: 'TLS handshake failed',
};

/** The Node/undici error code, looking through up to four `cause` wrappers (SDKs nest them). */
export function networkCodeOf(err: unknown): string | undefined {
  for (let cur = err as { code?: unknown; errno?: unknown; cause?: unknown } | undefined, depth = 0; cur && depth < 5; cur = cur.cause as typeof cur, depth++) {
    for (const v of [cur.code, cur.errno]) if (typeof v === 'string' && v in TABLE) return v;
  }
  return undefined;
}

function causes(err: unknown): unknown[] {
  const out: unknown[] = [];
  for (let cur = err as { cause?: unknown } | undefined, depth = 0; cur && depth < 5; cur = cur.cause as typeof cur, depth++) out.push(cur);
  return out;
}

export interface ClassifiedNetworkError {
  kind: NetworkFailure;
  code: string;
  retryable: boolean;
  /** e.g. "connection reset (ECONNRESET)". */
  words: string;
}

/** null when the error is not a socket-level failure (a service answer, a bug, ...). */
export function classifyNetworkError(err: unknown): ClassifiedNetworkError | null {
  let code = networkCodeOf(err);
  // "socket hang up" is Node's ECONNRESET without the code on some paths (also under SDK wrappers).
  if (!code && causes(err).some((e) => /socket hang up/i.test(String((e as Error).message ?? '')))) code = 'ECONNRESET';
  if (!code) return null;
  const kind = TABLE[code]!;
  return { kind, code, retryable: RETRYABLE.has(kind), words: `${WORDS[kind]} (${code})` };
}
