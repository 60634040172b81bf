/**
 * S3 client set-up: endpoint and region resolution, credentials (registered as secrets once,
 * when resolved), agents from the shared HTTP module. The SDK does not retry (maxAttempts 1):
 * the retry decorator does, and a wrong key, a missing bucket or a dead endpoint fail fast (a
 * connection gets 5 s, once).
 */
import { S3Client } from '@aws-sdk/client-s3';
import { FlowsyncError } from '../../errors.js';
import { registerSecret } from '../../secrets.js';
import { createAgents, type Agents } from '../../util/http.js';
import { withoutNodeVersionWarning } from './node-version-warning.js';
import type { S3Options } from './options.js';

const CONNECTION_TIMEOUT_MS = 5_000;
// Idle time on a connected socket before it counts as dead (not a total-request limit).
const SOCKET_TIMEOUT_MS = 60_000;

const QUIET_LOGGER = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

export function env(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

export function resolveEndpoint(explicit: string | undefined): string | undefined {
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

export function resolveRegion(explicit: string | undefined, endpoint: string | undefined): string | undefined {
  return explicit ?? env('AWS_REGION') ?? env('AWS_DEFAULT_REGION') ?? (endpoint ? 'us-east-1' : undefined);
}

/** The keep-alive agents of one client (TLS trust from the options or AWS_CA_BUNDLE). */
export function s3Agents(o: S3Options): Agents {
  return createAgents({ caFile: o.tls?.caFile ?? env('AWS_CA_BUNDLE'), caFileSource: 'tls.caFile / AWS_CA_BUNDLE', rejectUnauthorized: o.tls?.rejectUnauthorized, maxSockets: o.maxSockets });
}

export function buildS3Client(o: S3Options, endpoint: string | undefined, region: string | undefined, agents: Agents = s3Agents(o)): S3Client {
  const credentials = o.credentials;
  if (credentials && typeof credentials !== 'function') {
    // Static credentials are resolved already: this is their one registration.
    registerSecret(credentials.secretAccessKey);
    registerSecret(credentials.sessionToken);
  }
  const client = withoutNodeVersionWarning(() => new S3Client({
    ...(region ? { region } : {}),
    ...(endpoint ? { endpoint } : {}),
    forcePathStyle: o.forcePathStyle ?? endpoint !== undefined,
    ...(credentials ? { credentials } : {}),
    ...(o.profile ? { profile: o.profile } : {}),
    maxAttempts: 1,
    // The SDK prints some warnings with console.warn unless it has a logger of its own; flowsync
    // reports failures through its errors, and its stderr belongs to the progress display.
    logger: QUIET_LOGGER,
    // Flexible checksums' streaming framing is stored verbatim by some servers (s3rver): off.
    // The engine's sha256 goes as ChecksumSHA256 and x-amz-content-sha256 instead.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      connectionTimeout: CONNECTION_TIMEOUT_MS,
      socketTimeout: SOCKET_TIMEOUT_MS,
      httpAgent: agents.http,
      httpsAgent: agents.https,
      logger: QUIET_LOGGER,
    },
  }));
  registerResolvedSecrets(client);
  return client;
}

/**
 * Whatever the credentials' source (explicit, env, profiles, SSO, assumed roles), they are only
 * known once the client resolves them: wrap its provider so each resolution registers its
 * secrets, once, where they appear.
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
