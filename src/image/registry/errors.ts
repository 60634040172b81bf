/** Registry answers and network failures as FlowsyncErrors that name the cause and the fix. */
import { FlowsyncError } from '../../errors.js';
import { classifyNetworkError } from '../../util/net-errors.js';
import type { RegistryCredentials } from './credentials.js';

interface Context {
  registry: string;
  /** "base image docker.io/library/python:3.12", "blob sha256:… in flows/etl". */
  what: string;
  creds: RegistryCredentials | null;
  retryAfter?: string | undefined;
}

interface DistributionError {
  code?: string;
  message?: string;
}

function errorsOf(body: Buffer | null): DistributionError[] {
  if (!body) return [];
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { errors?: DistributionError[] };
    return Array.isArray(parsed.errors) ? parsed.errors : [];
  } catch {
    return [];
  }
}

export function classifyResponse(status: number, body: Buffer | null, c: Context): FlowsyncError {
  const errors = errorsOf(body);
  const codes = new Set(errors.map((e) => e.code));
  const detail = errors.map((e) => `${e.code}${e.message ? `: ${e.message}` : ''}`).join('; ') || `HTTP ${status}`;
  if (status === 401) {
    return c.creds
      ? new FlowsyncError('AUTH', `${c.registry} refused the credentials of user "${c.creds.username}" (from ${c.creds.source}) for ${c.what}. Check the user name and password (docker login ${c.registry}).`)
      : new FlowsyncError('AUTH', `${c.registry} needs credentials for ${c.what}: run 'docker login ${c.registry}', or set FLOWSYNC_REGISTRY_USERNAME and FLOWSYNC_REGISTRY_PASSWORD.`);
  }
  if (status === 403 || codes.has('DENIED')) {
    return new FlowsyncError('PERMISSION', `${c.registry} denied ${c.what} (${detail}). The credentials are valid but not allowed to do this: check the account's access to the repository.`);
  }
  if (status === 404 || codes.has('NAME_UNKNOWN') || codes.has('MANIFEST_UNKNOWN') || codes.has('BLOB_UNKNOWN')) {
    const why = codes.has('NAME_UNKNOWN') ? 'the repository does not exist' : codes.has('MANIFEST_UNKNOWN') ? 'no such tag or digest' : 'not found';
    return new FlowsyncError('NOT_FOUND', `${c.what} was not found on ${c.registry}: ${why}. Check the name and tag (skopeo inspect docker://${c.registry}/… lists what is there).`);
  }
  if (status === 413 || codes.has('SIZE_INVALID')) {
    return new FlowsyncError('INVALID_INPUT', `${c.registry} refused ${c.what} as too large (${detail}). Registries cap manifests around 4 MiB.`);
  }
  if (status === 429 || codes.has('TOOMANYREQUESTS')) {
    return new FlowsyncError('THROTTLED', `${c.registry} is rate-limiting (${detail})${c.retryAfter ? `; retry after ${c.retryAfter} s` : ''}.`);
  }
  if (status >= 500) return new FlowsyncError('TRANSIENT', `${c.registry} failed ${c.what} with HTTP ${status} (${detail}).`);
  return new FlowsyncError('INTERNAL', `${c.registry} answered HTTP ${status} to ${c.what} (${detail}).`);
}

export function networkError(err: unknown, registry: string, allowPlain: boolean): FlowsyncError {
  if (err instanceof FlowsyncError) return err;
  const e = err as NodeJS.ErrnoException;
  // The one network-error table decides what a socket failure is (and whether it is retried).
  const net = classifyNetworkError(err);
  const code = net?.code ?? e?.code ?? '';
  if (code === 'EPROTO' || /wrong version number/i.test(String(e?.message))) {
    return new FlowsyncError('UNREACHABLE', `${registry} does not speak HTTPS. flowsync uses plain HTTP only for localhost/127.0.0.0/8 registries or with --insecure.`, { cause: err });
  }
  if (net?.kind === 'tls' || /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) {
    return new FlowsyncError(
      'UNREACHABLE',
      `The TLS certificate of ${registry} is not trusted (${code}). Add its CA to NODE_EXTRA_CA_CERTS (a PEM file)${allowPlain ? '' : ', or pass --insecure for a registry you trust without TLS checks'}.`,
      { cause: err },
    );
  }
  if (net?.kind === 'unreachable') {
    return new FlowsyncError('UNREACHABLE', `Cannot reach the registry ${registry} (${code}). Check the host and port, and that the registry is running.`, { cause: err });
  }
  if (net?.retryable) return new FlowsyncError('TRANSIENT', `The connection to ${registry} failed: ${net.words}.`, { cause: err });
  return new FlowsyncError('UNREACHABLE', `Cannot talk to the registry ${registry}: ${e?.message ?? String(err)}.`, { cause: err });
}
