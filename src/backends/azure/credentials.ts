/**
 * Azure client set-up and credentials: explicit options, then AZURE_STORAGE_CONNECTION_STRING,
 * then account URL + key / SAS / Azure AD (DefaultAzureCredential, loaded only when needed).
 * Every secret of one resolution is registered (scrubbed from all output) right here, once.
 * The SDK does not retry (maxTries 1): the retry decorator does.
 */
import {
  AnonymousCredential,
  ContainerClient,
  StorageSharedKeyCredential,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import { FlowsyncError } from '../../errors.js';
import { registerSecret } from '../../secrets.js';
import { AZURE_CREDENTIAL_HELP } from './errors.js';
import type { AzureBackendOptions } from './options.js';

// The storage emulator's fixed, publicly documented development account.
const DEV_ACCOUNT = 'devstoreaccount1';
const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

const PIPELINE_OPTIONS: StoragePipelineOptions = {
  // One try per call: the retry decorator (../retrying.ts) retries with backoff, and retries on
  // both levels would multiply (the SDK's 2 times the engine's 5 under a flaky link).
  retryOptions: { maxTries: 1 },
  userAgentOptions: { userAgentPrefix: 'flowsync' },
};

export interface ResolvedClient {
  client: ContainerClient;
  /** Account name or endpoint host, for messages. */
  account: string;
  /** Blob batch needs Shared Key or Azure AD; a SAS client deletes one blob per request. */
  batchDelete: boolean;
}

// Client resolution: explicit options, then AZURE_STORAGE_CONNECTION_STRING, then account URL +
// key / SAS / Azure AD (DefaultAzureCredential, loaded only when needed).

interface ConnectionStringParts {
  accountName?: string;
  accountKey?: string;
  sas?: string;
  blobEndpoint?: string;
}

export async function resolveClient(o: AzureBackendOptions): Promise<ResolvedClient> {
  if (o.client) return { client: o.client, account: o.client.accountName || hostOf(o.client.url), batchDelete: !hasSas(o.client.url) };
  const env = o.env ?? process.env;
  for (const s of [o.connectionString, o.accountKey, o.sasToken, o.clientSecret]) registerSecret(s);
  registerSasSignature(o.sasToken);

  const explicit = Boolean(o.connectionString || o.accountKey || o.sasToken || o.credential || o.clientSecret);
  const envConnectionString = explicit ? undefined : env.AZURE_STORAGE_CONNECTION_STRING;
  registerSecret(envConnectionString);
  const cs = parseConnectionString(o.connectionString ?? envConnectionString);

  const baseUrl = o.endpoint ?? o.accountUrl ?? cs?.blobEndpoint ?? accountUrlFromName(o.accountName ?? cs?.accountName ?? env.AZURE_STORAGE_ACCOUNT);
  if (!baseUrl) {
    throw new FlowsyncError('AUTH', `No Azure storage account to connect to for container "${o.container}". ${AZURE_CREDENTIAL_HELP}`);
  }
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch (err) {
    throw new FlowsyncError('USAGE', `Invalid Azure Blob endpoint ${JSON.stringify(baseUrl)}: give a URL like https://<account>.blob.core.windows.net.`, { cause: err });
  }
  registerSasSignature(url.search);
  const accountName = o.accountName ?? cs?.accountName ?? env.AZURE_STORAGE_ACCOUNT ?? accountNameFromUrl(url);
  const account = accountName || url.host;
  const containerUrl = (sas?: string): string => {
    const u = new URL(url);
    u.pathname = `${u.pathname.replace(/\/+$/, '')}/${encodeURIComponent(o.container)}`;
    if (sas) u.search = mergeQuery(u.search, sas);
    return u.toString();
  };

  const needsTls = () => {
    // The SDK refuses bearer tokens over plain http with an unhelpful message; say what to do.
    if (url.protocol !== 'https:') {
      throw new FlowsyncError('AUTH', `Azure AD sign-in needs an https endpoint, and ${url.host} is http. For an http endpoint (Azurite), give an account key, SAS token or connection string.`);
    }
  };
  if (o.credential) {
    needsTls();
    return { client: new ContainerClient(containerUrl(), o.credential, PIPELINE_OPTIONS), account, batchDelete: true };
  }
  if (o.clientSecret && !(o.tenantId && o.clientId)) {
    throw new FlowsyncError('AUTH', 'An Azure client secret was given without tenantId and clientId: give all three (or AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET).');
  }
  if (o.tenantId && o.clientId && o.clientSecret) {
    needsTls();
    const { ClientSecretCredential } = await import('@azure/identity');
    const credential = new ClientSecretCredential(o.tenantId, o.clientId, o.clientSecret);
    return { client: new ContainerClient(containerUrl(), credential, PIPELINE_OPTIONS), account, batchDelete: true };
  }
  const key = o.accountKey ?? cs?.accountKey ?? (explicit || cs ? undefined : env.AZURE_STORAGE_KEY);
  registerSecret(key);
  if (key) {
    if (!accountName) {
      throw new FlowsyncError('AUTH', `An Azure account key was given without an account name. Set AZURE_STORAGE_ACCOUNT (or accountName).`);
    }
    const credential = new StorageSharedKeyCredential(accountName, key);
    return { client: new ContainerClient(containerUrl(), credential, PIPELINE_OPTIONS), account, batchDelete: true };
  }
  const sas = o.sasToken ?? cs?.sas ?? (explicit || cs ? undefined : env.AZURE_STORAGE_SAS_TOKEN);
  registerSecret(sas);
  registerSasSignature(sas);
  if (sas || hasSas(url.search)) {
    return { client: new ContainerClient(containerUrl(sas), new AnonymousCredential(), PIPELINE_OPTIONS), account, batchDelete: false };
  }
  // No key and no SAS: Azure AD through the standard chain (environment, managed identity, az login).
  needsTls();
  registerSecret(env.AZURE_CLIENT_SECRET);
  const { DefaultAzureCredential } = await import('@azure/identity');
  return { client: new ContainerClient(containerUrl(), new DefaultAzureCredential(), PIPELINE_OPTIONS), account, batchDelete: true };
}

function parseConnectionString(cs: string | undefined): ConnectionStringParts | undefined {
  if (!cs) return undefined;
  const fields = new Map<string, string>();
  for (const part of cs.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  if (fields.get('usedevelopmentstorage')?.toLowerCase() === 'true') {
    return { accountName: DEV_ACCOUNT, accountKey: DEV_KEY, blobEndpoint: `http://127.0.0.1:10000/${DEV_ACCOUNT}` };
  }
  const accountName = fields.get('accountname');
  const protocol = fields.get('defaultendpointsprotocol') ?? 'https';
  const suffix = fields.get('endpointsuffix') ?? 'core.windows.net';
  const blobEndpoint = fields.get('blobendpoint') ?? (accountName ? `${protocol}://${accountName}.blob.${suffix}` : undefined);
  if (!blobEndpoint) {
    throw new FlowsyncError('AUTH', 'The Azure connection string names neither AccountName nor BlobEndpoint. Copy it again from the portal (Access keys → Connection string).');
  }
  const parts: ConnectionStringParts = { blobEndpoint };
  if (accountName) parts.accountName = accountName;
  const key = fields.get('accountkey');
  if (key) parts.accountKey = key;
  const sas = fields.get('sharedaccesssignature');
  if (sas) parts.sas = sas;
  return parts;
}

function accountUrlFromName(name: string | undefined): string | undefined {
  return name ? `https://${name}.blob.core.windows.net` : undefined;
}

/** acct.blob.core.windows.net → acct; emulator style http://127.0.0.1:10000/acct → acct. */
function accountNameFromUrl(url: URL): string | undefined {
  if (/\.blob\./i.test(url.hostname)) return url.hostname.split('.')[0];
  return url.pathname.split('/').find((s) => s !== '') ?? undefined;
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

export function hasSas(urlOrQuery: string): boolean {
  return /[?&]sig=/.test(urlOrQuery.startsWith('?') || urlOrQuery.includes('://') ? urlOrQuery : `?${urlOrQuery}`);
}

/** The signature is the secret part of a SAS; it can appear alone (decoded or encoded) in a URL. */
function registerSasSignature(sas: string | undefined): void {
  if (!sas) return;
  const query = sas.includes('?') ? sas.slice(sas.indexOf('?') + 1) : sas;
  const sig = new URLSearchParams(query).get('sig');
  if (sig) {
    registerSecret(sig);
    registerSecret(query);
  }
}

function mergeQuery(existing: string, sas: string): string {
  const add = sas.replace(/^\?/, '');
  const base = existing.replace(/^\?/, '');
  return base ? `?${base}&${add}` : `?${add}`;
}

export function checkContainerName(name: string): void {
  // Azure's rule; checked here so a typo fails with a clear message before any request.
  if (name === '$root' || name === '$web' || /^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/.test(name)) return;
  throw new FlowsyncError('USAGE', `Invalid Azure container name ${JSON.stringify(name)}: use 3-63 lower-case letters, digits and single '-' (not first or last).`);
}

