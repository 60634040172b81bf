/**
 * Prefect credential dicts (block data) → backend options, one row per rule of prefect-aws's
 * get_s3_client, prefect-azure's and prefect-gcp's client choice. Pure mapping: the e2e test
 * (storage-steps.e2e.test.ts) shows the mapped options reaching real servers.
 */
import { describe, expect, it } from 'vitest';
import { isFlowsyncError } from '../../src/errors.js';
import { clearSecrets, scrubSecrets } from '../../src/secrets.js';
import { s3OptionsFromPrefect } from '../../src/steps/storage/aws-credentials.js';
import { azureOptionsFromPrefect } from '../../src/steps/storage/azure-credentials.js';
import { gcsOptionsFromPrefect } from '../../src/steps/storage/gcp-credentials.js';

const warnings: string[] = [];
const log = { info: () => {}, warn: (m: string) => warnings.push(m) };

describe('AWS credentials → S3 options', () => {
  it.each<[string, unknown, unknown, Record<string, string>, object]>([
    ['nothing given, nothing in env: SDK defaults', undefined, undefined, {}, {}],
    ['access keys, session token, region', { aws_access_key_id: 'AKIA1', aws_secret_access_key: 'sk-1234', aws_session_token: 'st-5678', region_name: 'eu-west-1' }, undefined, {}, { credentials: { accessKeyId: 'AKIA1', secretAccessKey: 'sk-1234', sessionToken: 'st-5678' }, region: 'eu-west-1' }],
    ['MinIO root user/password', { minio_root_user: 'minio', minio_root_password: 'minio-pass' }, undefined, {}, { credentials: { accessKeyId: 'minio', secretAccessKey: 'minio-pass' } }],
    ['profile and region from client_parameters when the credentials lack them', {}, { profile_name: 'dev', region_name: 'us-west-2' }, {}, { profile: 'dev', region: 'us-west-2' }],
    ['endpoint from the credentials\' aws_client_parameters', { aws_client_parameters: { endpoint_url: 'http://minio:9000' } }, undefined, {}, { endpoint: 'http://minio:9000' }],
    ['client_parameters used when the credentials have no aws_client_parameters', { region_name: 'x-1' }, { endpoint_url: 'http://from-step:9000' }, {}, { region: 'x-1', endpoint: 'http://from-step:9000' }],
    ['client_parameters ignored when the credentials have aws_client_parameters (as Prefect)', { aws_client_parameters: { endpoint_url: null } }, { endpoint_url: 'http://ignored:9000' }, {}, {}],
    ['verify: false turns TLS checking off', { aws_client_parameters: { endpoint_url: 'https://s3.local', verify: false } }, undefined, {}, { endpoint: 'https://s3.local', tls: { rejectUnauthorized: false } }],
    ['verify as a CA bundle path', {}, { verify: '/etc/ca.pem' }, {}, { tls: { caFile: '/etc/ca.pem' } }],
    ['verify_cert_path', {}, { verify_cert_path: '/etc/ca2.pem' }, {}, { tls: { caFile: '/etc/ca2.pem' } }],
    ['addressing_style path', {}, { config: { s3: { addressing_style: 'path' } } }, {}, { forcePathStyle: true }],
    ['environment of the steps: keys, region, endpoint, CA bundle', undefined, undefined,
      { AWS_ACCESS_KEY_ID: 'AKIAENV', AWS_SECRET_ACCESS_KEY: 'env-secret', AWS_DEFAULT_REGION: 'ap-south-1', AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9', AWS_CA_BUNDLE: '/ca.pem' },
      { credentials: { accessKeyId: 'AKIAENV', secretAccessKey: 'env-secret' }, region: 'ap-south-1', endpoint: 'http://127.0.0.1:9', tls: { caFile: '/ca.pem' } }],
    ['AWS_PROFILE from the environment', undefined, undefined, { AWS_PROFILE: 'ops' }, { profile: 'ops' }],
    ['explicit endpoint wins over the environment\'s', { aws_client_parameters: { endpoint_url: 'http://block:1' } }, undefined, { AWS_ENDPOINT_URL: 'http://env:2' }, { endpoint: 'http://block:1' }],
    ['AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', undefined, undefined, { AWS_ENDPOINT_URL: 'http://env:2', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' }, {}],
  ])('%s', (_rule, creds, clientParameters, env, expected) => {
    expect(s3OptionsFromPrefect(creds, clientParameters, env, log, 'step')).toEqual(expected);
  });

  it('a key id without a secret (or the reverse) is an error', () => {
    expect(() => s3OptionsFromPrefect({ aws_access_key_id: 'AKIA1' }, undefined, {}, log, 'step')).toThrow(/access key id without a secret access key/);
    expect(() => s3OptionsFromPrefect({ aws_secret_access_key: 'only-secret' }, undefined, {}, log, 'step')).toThrow(/secret access key without an access key id/);
  });

  it('secret key and session token are registered for scrubbing', () => {
    clearSecrets();
    s3OptionsFromPrefect({ aws_access_key_id: 'AKIA1', aws_secret_access_key: 'very-secret-key', aws_session_token: 'session-tok' }, undefined, {}, log, 'step');
    expect(scrubSecrets('very-secret-key session-tok')).toBe('*** ***');
  });

  it('assume_role_arn and unsigned requests are not supported: warned, not silently dropped', () => {
    warnings.length = 0;
    s3OptionsFromPrefect({ assume_role_arn: 'arn:aws:iam::1:role/x', aws_client_parameters: { config: { signature_version: 'unsigned' } } }, undefined, {}, log, 'step');
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/assume_role_arn is not supported/);
    expect(warnings[1]).toMatch(/unsigned/);
  });
});

describe('Azure credentials → Azure options', () => {
  it('connection_string', async () => {
    expect(await azureOptionsFromPrefect({ connection_string: 'UseDevelopmentStorage=true', account_url: 'ignored' }, {}, 'step')).toEqual({ connectionString: 'UseDevelopmentStorage=true', env: {} });
  });

  it('account_url with tenant_id, client_id and client_secret: a client secret credential', async () => {
    const o = await azureOptionsFromPrefect({ account_url: 'https://acct.blob.core.windows.net', tenant_id: 't', client_id: 'c', client_secret: 'cs-secret' }, {}, 'step');
    expect(o).toEqual({ accountUrl: 'https://acct.blob.core.windows.net', tenantId: 't', clientId: 'c', clientSecret: 'cs-secret', env: {} });
    expect(scrubSecrets('cs-secret')).toBe('***');
  });

  it('account_url alone (or with part of the client secret trio): DefaultAzureCredential', async () => {
    const o = await azureOptionsFromPrefect({ account_url: 'https://acct.blob.core.windows.net', client_id: 'c' }, {}, 'step');
    expect(o.accountUrl).toBe('https://acct.blob.core.windows.net');
    expect((o.credential as object).constructor.name).toBe('DefaultAzureCredential');
    expect(o.clientId).toBeUndefined();
  });

  it('neither connection_string nor account_url: a clear error', async () => {
    const err = await azureOptionsFromPrefect({ tenant_id: 't' }, {}, 'step').catch((e: unknown) => e);
    expect(isFlowsyncError(err, 'INVALID_INPUT')).toBe(true);
    expect((err as Error).message).toMatch(/need either connection_string or account_url/);
  });
});

describe('GCP credentials → GCS options', () => {
  const info = { type: 'service_account', project_id: 'p1', private_key: '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n', client_email: 'sa@p1.iam.gserviceaccount.com' };
  it.each<[string, unknown, unknown, Record<string, string>, object]>([
    ['nothing: default credentials', undefined, undefined, {}, {}],
    ['service_account_info dict', { service_account_info: info }, undefined, {}, { credentials: info }],
    ['service_account_info as JSON text', { service_account_info: JSON.stringify(info) }, undefined, {}, { credentials: info }],
    ['service_account_info wins over service_account_file', { service_account_info: info, service_account_file: '/k.json' }, undefined, {}, { credentials: info }],
    ['service_account_file', { service_account_file: '/keys/sa.json' }, undefined, {}, { keyFilename: '/keys/sa.json' }],
    ['project from the credentials wins', { project: 'from-block' }, 'from-step', {}, { projectId: 'from-block' }],
    ['project from the step when the credentials have none (Prefect drops it: bug not kept)', {}, 'from-step', {}, { projectId: 'from-step' }],
    ['STORAGE_EMULATOR_HOST of the steps\' environment', undefined, undefined, { STORAGE_EMULATOR_HOST: 'http://127.0.0.1:4443' }, { endpoint: 'http://127.0.0.1:4443' }],
  ])('%s', (_rule, creds, project, env, expected) => {
    expect(gcsOptionsFromPrefect(creds, project, env, 'step')).toEqual(expected);
  });

  it('the private key is registered for scrubbing', () => {
    clearSecrets();
    gcsOptionsFromPrefect({ service_account_info: info }, undefined, {}, 'step');
    expect(scrubSecrets(`key: ${info.private_key}`)).toBe('key: ***');
  });

  it('service_account_info text that is not JSON is a clear error', () => {
    expect(() => gcsOptionsFromPrefect({ service_account_info: '{not json' }, undefined, {}, 'step')).toThrow(/service_account_info is text but not JSON/);
  });
});
