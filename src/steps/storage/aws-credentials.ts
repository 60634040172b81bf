/**
 * Prefect's AWS credential dicts → S3 backend options, following prefect-aws's `get_s3_client`:
 * - keys: `aws_access_key_id` / `aws_secret_access_key` (MinIO blocks: `minio_root_user` /
 *   `minio_root_password`), `aws_session_token`;
 * - `profile_name`, `region_name` from the credentials, else from `client_parameters`;
 * - client settings from the credentials' `aws_client_parameters`; `client_parameters` is used
 *   only when the credentials have none (an AwsCredentials block always has them, so a step's
 *   client_parameters is then ignored — as in Prefect);
 * - `endpoint_url`; `verify: false` (no TLS check) or a CA bundle path (`verify` /
 *   `verify_cert_path`); `config.s3.addressing_style`.
 * With nothing given, the machine's standard sources apply — read from the steps' environment:
 * AWS_ACCESS_KEY_ID/…, AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, AWS_CA_BUNDLE.
 */
import { FlowsyncError } from '../../errors.js';
import { registerSecret } from '../../secrets.js';
import type { Logger } from '../../sync/types.js';

type Dict = Record<string, unknown>;

const str = (v: unknown): string | undefined => (v === null || v === undefined || v === '' ? undefined : String(v));
const dict = (v: unknown): Dict | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Dict) : undefined);

export interface S3StepOptions {
  region?: string;
  endpoint?: string;
  forcePathStyle?: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  profile?: string;
  tls?: { rejectUnauthorized?: boolean; caFile?: string };
}

export function s3OptionsFromPrefect(
  credentialsIn: unknown,
  clientParametersIn: unknown,
  env: NodeJS.ProcessEnv,
  log: Logger,
  label: string,
): S3StepOptions {
  const creds = dict(credentialsIn) ?? {};
  const clientParameters = dict(clientParametersIn) ?? {};
  const keyId = str(creds['aws_access_key_id']) ?? str(creds['minio_root_user']);
  const secret = str(creds['aws_secret_access_key']) ?? str(creds['minio_root_password']);
  const sessionToken = str(creds['aws_session_token']);
  const profile = str(creds['profile_name']) ?? str(clientParameters['profile_name']);
  const region = str(creds['region_name']) ?? str(clientParameters['region_name']);
  // Present-but-null counts as "has none" (Python's dict.get would return None and crash).
  const client = dict(creds['aws_client_parameters']) ?? clientParameters;

  registerSecret(secret);
  registerSecret(sessionToken);
  if ((keyId && !secret) || (!keyId && secret)) {
    throw new FlowsyncError('INVALID_INPUT', `${label}: the AWS credentials give ${keyId ? 'an access key id without a secret access key' : 'a secret access key without an access key id'}. Give both.`);
  }
  if (str(creds['assume_role_arn'])) {
    log.warn(`${label}: assume_role_arn is not supported by flowsync; using the credentials as given.`);
  }

  const out: S3StepOptions = {};
  if (keyId && secret) out.credentials = { accessKeyId: keyId, secretAccessKey: secret, ...(sessionToken ? { sessionToken } : {}) };
  else if (!profile) {
    // The steps' environment may differ from this process's: take its keys explicitly.
    const envKey = str(env['AWS_ACCESS_KEY_ID']);
    const envSecret = str(env['AWS_SECRET_ACCESS_KEY']);
    if (envKey && envSecret) {
      registerSecret(envSecret);
      registerSecret(env['AWS_SESSION_TOKEN']);
      out.credentials = { accessKeyId: envKey, secretAccessKey: envSecret, ...(str(env['AWS_SESSION_TOKEN']) ? { sessionToken: str(env['AWS_SESSION_TOKEN'])! } : {}) };
    }
  }
  const envProfile = out.credentials ? undefined : str(env['AWS_PROFILE']);
  if (profile ?? envProfile) out.profile = (profile ?? envProfile)!;
  const envRegion = str(env['AWS_REGION']) ?? str(env['AWS_DEFAULT_REGION']);
  if (region ?? envRegion) out.region = (region ?? envRegion)!;

  const ignoreEnvEndpoint = str(env['AWS_IGNORE_CONFIGURED_ENDPOINT_URLS']) === 'true';
  const endpoint = str(client['endpoint_url']) ?? (ignoreEnvEndpoint ? undefined : (str(env['AWS_ENDPOINT_URL_S3']) ?? str(env['AWS_ENDPOINT_URL'])));
  if (endpoint) out.endpoint = endpoint;

  const verify = client['verify'];
  const caFile = (typeof verify === 'string' && verify !== '' ? verify : undefined) ?? str(client['verify_cert_path']) ?? str(env['AWS_CA_BUNDLE']);
  if (verify === false) out.tls = { rejectUnauthorized: false };
  else if (caFile) out.tls = { caFile };

  const style = str(dict(dict(client['config'])?.['s3'])?.['addressing_style']);
  if (style === 'path') out.forcePathStyle = true;
  else if (style === 'virtual') out.forcePathStyle = false;
  if (str(dict(client['config'])?.['signature_version']) === 'unsigned') {
    log.warn(`${label}: config.signature_version "unsigned" (anonymous access) is not supported; requests are signed with the available credentials.`);
  }
  return out;
}
