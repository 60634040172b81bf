/**
 * Azure Blob Storage backend (block blobs). Moves bytes only: the engine owns concurrency,
 * retries, part sizes and progress, so the SDK's own retry is off (one try per call).
 *
 * Integrity: every Put Blob and Put Block carries the MD5 of its bytes, which Azure (and
 * Azurite) check on arrival; the content sha256 travels as metadata `sha256`.
 *
 * Metadata names on Azure must be C# identifiers (no '-'), while flowsync metadata keys are
 * lower-case letters, digits and '-'. Keys are stored with '-' as '_' and read back with '_' as
 * '-'; the mapping is one-to-one for flowsync's keys because they never contain '_'.
 */
import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import {
  AnonymousCredential,
  ContainerClient,
  StorageSharedKeyCredential,
  type BlobHTTPHeaders,
  type BlobRequestConditions,
  type BlockBlobClient,
  type BlockBlobUploadOptions,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import type { TokenCredential } from '@azure/identity';
import { FlowsyncError, abortError, throwIfAborted } from '../errors.js';
import { registerSecret } from '../secrets.js';
import { collect } from '../util/streams.js';
import { AZURE_CREDENTIAL_HELP, azureError, statusOf, storageErrorCode, type AzureErrorContext } from './azure-errors.js';
import {
  SHA256_METADATA_KEY,
  type Backend,
  type MultipartWriter,
  type ObjectInfo,
  type Op,
  type ReadOptions,
  type WriteInfo,
} from './types.js';

export interface AzureBackendOptions {
  container: string;
  connectionString?: string;
  /** Blob service URL, e.g. https://acct.blob.core.windows.net (may carry a SAS query). */
  accountUrl?: string;
  accountName?: string;
  accountKey?: string;
  sasToken?: string;
  credential?: TokenCredential;
  tenantId?: string;
  clientId?: string;
  clientSecret?: string;
  /** A ready-made client for the container; every other option is then ignored. */
  client?: ContainerClient;
  /** Blob service URL overriding accountUrl and the connection string's BlobEndpoint (Azurite). */
  endpoint?: string;
  /** Environment to read AZURE_STORAGE_* from (default process.env); for tests. */
  env?: Record<string, string | undefined>;
}

const MiB = 1024 * 1024;
/** A Readable body up to this size is buffered and sent as one Put Blob with its MD5. */
const SINGLE_PUT_MAX = 16 * MiB;
/** Block size for Readable bodies bigger than SINGLE_PUT_MAX. */
const STREAM_BLOCK_SIZE = 8 * MiB;
const MAX_BLOCKS = 50_000;
/** Out-of-order parts kept (copied) at most, to hash a multipart upload in order. */
const VERIFY_RETAIN_BYTES = 64 * MiB;
const BATCH_MAX = 256; // Azure's limit of sub-requests per blob batch
const DELETE_CONCURRENCY = 8;
const BATCHES_IN_FLIGHT = 4;

// The storage emulator's fixed, publicly documented development account.
const DEV_ACCOUNT = 'devstoreaccount1';
const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

const PIPELINE_OPTIONS: StoragePipelineOptions = {
  // The engine retries TRANSIENT/THROTTLED failures with backoff itself. The SDK keeps one
  // immediate retry (its first retry has no delay) for network errors and 500/503: it absorbs a
  // connection reset on a reused keep-alive socket, which Azurite does now and then under load,
  // without delaying fast failures (a refused connection is refused again in milliseconds).
  retryOptions: { maxTries: 2 },
  userAgentOptions: { userAgentPrefix: 'flowsync' },
};

interface ResolvedClient {
  client: ContainerClient;
  /** Account name or endpoint host, for messages. */
  account: string;
  /** Blob batch needs Shared Key or Azure AD; a SAS client deletes one blob per request. */
  batchDelete: boolean;
}

export function createAzureBackend(options: AzureBackendOptions): Backend {
  const container = options.container;
  if (!options.client) checkContainerName(container);
  let resolved: Promise<ResolvedClient> | undefined;
  let batchDelete = true;
  const connect = async (): Promise<ResolvedClient> => {
    const r = await (resolved ??= resolveClient(options));
    batchDelete &&= r.batchDelete;
    return r;
  };
  const ctx = (r: ResolvedClient | undefined, action: string, key?: string, signal?: AbortSignal): AzureErrorContext => ({
    action,
    container,
    ...(key === undefined ? {} : { key }),
    ...(r ? { account: r.account } : {}),
    ...(signal ? { signal } : {}),
  });

  async function putWhole(r: ResolvedClient, key: string, data: Uint8Array, w: WriteInfo, o?: Op): Promise<ObjectInfo> {
    checkBytes(key, data, w);
    const md5 = md5Of(data);
    // blobContentMD5 is stored as the blob's Content-MD5 (what other tools verify);
    // transactionalContentMD5 (not in the typed options, passed through at run time) is the
    // Content-MD5 request header that Azure checks on arrival. Azurite checks either.
    const uploadOptions: BlockBlobUploadOptions & { transactionalContentMD5?: Uint8Array } = {
      blobHTTPHeaders: headersFor(w, md5),
      metadata: toAzureMetadata(w),
      conditions: conditionsFor(w),
      transactionalContentMD5: md5,
      ...(o?.signal ? { abortSignal: o.signal } : {}),
    };
    try {
      const res = await r.client.getBlockBlobClient(key).upload(data, data.length, uploadOptions);
      return writtenInfo(key, data.length, w, res.etag, res.lastModified);
    } catch (err) {
      throw azureError(err, ctx(r, 'upload', key, o?.signal));
    }
  }

  async function putStreamInBlocks(r: ResolvedClient, key: string, body: Readable, w: WriteInfo, o?: Op): Promise<ObjectInfo> {
    const blob = r.client.getBlockBlobClient(key);
    const tag = uploadTag();
    const ids: string[] = [];
    const sha = createHash('sha256');
    const md5 = createHash('md5');
    let size = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    // Blocks are staged one at a time: memory stays at one block, and big files take the
    // engine's multipart path (parallel parts) anyway; this path serves plain Readable bodies.
    const stage = async (block: Buffer) => {
      if (ids.length >= MAX_BLOCKS) throw new FlowsyncError('INVALID_INPUT', `az://${container}/${key}: more than ${MAX_BLOCKS} blocks of ${STREAM_BLOCK_SIZE} bytes; the object is too big for one streamed write.`);
      const id = blockId(tag, ids.length + 1);
      ids.push(id);
      try {
        await blob.stageBlock(id, block, block.length, { transactionalContentMD5: md5Of(block), ...(o?.signal ? { abortSignal: o.signal } : {}) });
      } catch (err) {
        throw azureError(err, ctx(r, `upload block ${ids.length} of`, key, o?.signal));
      }
    };
    const onAbort = () => body.destroy(abortError(o?.signal));
    o?.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
        sha.update(buf);
        md5.update(buf);
        size += buf.length;
        pending.push(buf);
        pendingBytes += buf.length;
        while (pendingBytes >= STREAM_BLOCK_SIZE) {
          const all = Buffer.concat(pending);
          await stage(all.subarray(0, STREAM_BLOCK_SIZE));
          pending = [all.subarray(STREAM_BLOCK_SIZE)];
          pendingBytes = all.length - STREAM_BLOCK_SIZE;
        }
      }
      if (pendingBytes > 0) await stage(Buffer.concat(pending));
    } catch (err) {
      throwIfAborted(o?.signal);
      throw err;
    } finally {
      o?.signal?.removeEventListener('abort', onAbort);
    }
    if (size !== w.size) throw new FlowsyncError('CHECKSUM_MISMATCH', `az://${container}/${key}: received ${size} bytes, expected ${w.size}.`);
    if (w.sha256 && sha.digest('hex') !== w.sha256) {
      throw new FlowsyncError('CHECKSUM_MISMATCH', `az://${container}/${key}: content does not match its sha256 (the source changed while it was read).`);
    }
    return commitBlocks(r, key, ids, size, w, md5.digest(), o);
  }

  async function commitBlocks(r: ResolvedClient, key: string, ids: string[], size: number, w: WriteInfo, md5: Uint8Array | undefined, o?: Op): Promise<ObjectInfo> {
    try {
      const res = await r.client.getBlockBlobClient(key).commitBlockList(ids, {
        blobHTTPHeaders: headersFor(w, md5),
        metadata: toAzureMetadata(w),
        conditions: conditionsFor(w),
        ...(o?.signal ? { abortSignal: o.signal } : {}),
      });
      return writtenInfo(key, size, w, res.etag, res.lastModified);
    } catch (err) {
      throw azureError(err, ctx(r, 'commit the blocks of', key, o?.signal));
    }
  }

  /** HEAD has no body, so a 403 there cannot say whether the key or the permission is wrong; a 1-byte GET can. */
  async function explainForbidden(blob: BlockBlobClient, err: unknown, c: AzureErrorContext): Promise<FlowsyncError> {
    try {
      await blob.download(0, 1, c.signal ? { abortSignal: c.signal } : {});
    } catch (again) {
      if (statusOf(again) === 403) return azureError(again, c);
    }
    return azureError(err, c);
  }

  async function deleteOne(r: ResolvedClient, key: string, signal?: AbortSignal): Promise<void> {
    try {
      await r.client.getBlobClient(key).deleteIfExists({ deleteSnapshots: 'include', ...(signal ? { abortSignal: signal } : {}) });
    } catch (err) {
      throw azureError(err, ctx(r, 'delete', key, signal));
    }
  }

  async function deleteBatch(r: ResolvedClient, keys: string[], signal?: AbortSignal): Promise<void> {
    const res = await r.client.getBlobBatchClient().deleteBlobs(
      keys.map((k) => r.client.getBlobClient(k)),
      { deleteSnapshots: 'include', ...(signal ? { abortSignal: signal } : {}) },
    );
    res.subResponses.forEach((sub, i) => {
      if (sub.status < 300) return;
      // A blob that is already gone is what delete wants.
      if (sub.status === 404 && (sub.errorCode === undefined || sub.errorCode === 'BlobNotFound')) return;
      const asError = { statusCode: sub.status, code: sub.errorCode, message: sub.statusMessage };
      throw azureError(asError, ctx(r, 'delete', keys[i], signal));
    });
  }

  const backend: Backend = {
    name: 'azure',
    features: { multipart: true, conditionalWrite: true, rangeRead: true, metadata: true },
    tuning: { concurrency: 16, multipartThreshold: 16 * MiB, partSize: 8 * MiB },
    multipartLimits: { minPartSize: 1, maxPartSize: 4000 * MiB, maxParts: MAX_BLOCKS },

    async stat(key, o?: Op) {
      throwIfAborted(o?.signal);
      const r = await connect();
      const blob = r.client.getBlockBlobClient(key);
      try {
        const p = await blob.getProperties(o?.signal ? { abortSignal: o.signal } : {});
        return objectInfo(key, p.contentLength ?? 0, p.etag, p.lastModified, p.metadata);
      } catch (err) {
        const code = storageErrorCode(err);
        if (statusOf(err) === 404 && code !== 'ContainerNotFound' && code !== 'ContainerBeingDeleted') return null;
        if (statusOf(err) === 403) throw await explainForbidden(blob, err, ctx(r, 'stat', key, o?.signal));
        throw azureError(err, ctx(r, 'stat', key, o?.signal));
      }
    },

    async *list(prefix, o?: Op) {
      throwIfAborted(o?.signal);
      const r = await connect();
      const pages = r.client
        .listBlobsFlat({ includeMetadata: true, ...(prefix ? { prefix } : {}), ...(o?.signal ? { abortSignal: o.signal } : {}) })
        .byPage({ maxPageSize: 5000 });
      const iterator = pages[Symbol.asyncIterator]();
      for (;;) {
        let page;
        try {
          page = await iterator.next();
        } catch (err) {
          throw azureError(err, ctx(r, `list "${prefix}" in`, undefined, o?.signal));
        }
        if (page.done) return;
        for (const item of page.value.segment.blobItems) {
          // Folder placeholders: "dir/" blobs, and ADLS Gen2 directories (hdi_isfolder=true).
          if (item.name.endsWith('/') || isFolderMarker(item.metadata)) continue;
          const p = item.properties;
          yield objectInfo(item.name, p.contentLength ?? 0, p.etag, p.lastModified, item.metadata);
        }
      }
    },

    async read(key, o?: ReadOptions) {
      throwIfAborted(o?.signal);
      const r = await connect();
      const c = ctx(r, 'read', key, o?.signal);
      const range = o?.range;
      if (range && range[1] <= range[0]) {
        // The SDK reads "to the end" for a count of 0, so an empty range is answered here.
        if (!(await backend.stat(key, o))) throw azureError({ statusCode: 404, code: 'BlobNotFound' }, c);
        return Readable.from([]);
      }
      let res;
      try {
        res = await r.client.getBlobClient(key).download(range?.[0] ?? 0, range ? range[1] - range[0] : undefined, {
          // The SDK's resume of a cut body never fires on Node >= 16 (a cut connection reaches it
          // as an abort), so it is off: a cut body fails the stream with TRANSIENT and the engine
          // reads again. The SDK still checks that the body has the announced length.
          maxRetryRequests: 0,
          ...(o?.signal ? { abortSignal: o.signal } : {}),
        });
      } catch (err) {
        // A range that starts past the end of an existing blob reads as empty, as elsewhere.
        if (statusOf(err) === 416) return Readable.from([]);
        throw azureError(err, c);
      }
      const body = res.readableStreamBody as Readable | undefined;
      if (!body) throw new FlowsyncError('INTERNAL', `Cannot read az://${container}/${key}: Azure returned no body.`);
      return mapStreamErrors(body, c, o?.signal);
    },

    async write(key, body, w, o?: Op) {
      throwIfAborted(o?.signal);
      const r = await connect();
      if (body instanceof Uint8Array) return putWhole(r, key, body, w, o);
      // Errors of the source stream itself reach the caller as they are.
      if (w.size <= SINGLE_PUT_MAX) return putWhole(r, key, await collect(body, o?.signal), w, o);
      return putStreamInBlocks(r, key, body, w, o);
    },

    async delete(keys, o?: Op) {
      throwIfAborted(o?.signal);
      const unique = [...new Set(keys)];
      if (unique.length === 0) return;
      const r = await connect();
      if (batchDelete && unique.length > 1) {
        try {
          await forEachLimited(chunk(unique, BATCH_MAX), BATCHES_IN_FLIGHT, (batch) => deleteBatch(r, batch, o?.signal));
          return;
        } catch (err) {
          if (!batchUnsupported(err)) throw azureError(err, ctx(r, `delete ${unique.length} blobs from`, undefined, o?.signal));
          // Some accounts (and proxies) do not offer blob batch: delete one by one from now on.
          batchDelete = false;
        }
      }
      await forEachLimited(unique, DELETE_CONCURRENCY, (k) => deleteOne(r, k, o?.signal));
    },

    async openMultipart(key, w, o?: Op): Promise<MultipartWriter> {
      throwIfAborted(o?.signal);
      const r = await connect();
      const blob = r.client.getBlockBlobClient(key);
      const tag = uploadTag();
      const partSizes = new Map<number, number>();
      const hasher = w.sha256 ? new InOrderSha256(VERIFY_RETAIN_BYTES) : undefined;
      let state: 'open' | 'aborted' | 'completed' = 'open';
      const assertOpen = () => {
        if (state !== 'open') throw new FlowsyncError('NOT_FOUND', `Upload of az://${container}/${key} was ${state}.`);
      };
      return {
        partSize: w.partSize,
        maxParts: MAX_BLOCKS,
        async writePart(n, data, po) {
          throwIfAborted(po?.signal);
          assertOpen();
          if (!Number.isInteger(n) || n < 1 || n > MAX_BLOCKS) {
            throw new FlowsyncError('INTERNAL', `Part number ${n} of az://${container}/${key} is outside 1..${MAX_BLOCKS}.`);
          }
          // Hashed as the part comes in, not when it is staged: the engine hands parts over in
          // order, while uploads finish in any order and would make InOrderSha256 hold copies.
          hasher?.add(n, data);
          try {
            await blob.stageBlock(blockId(tag, n), data, data.length, {
              transactionalContentMD5: md5Of(data),
              ...(po?.signal ? { abortSignal: po.signal } : {}),
            });
          } catch (err) {
            throw azureError(err, ctx(r, `upload part ${n} of`, key, po?.signal));
          }
          partSizes.set(n, data.length);
        },
        async complete(po) {
          throwIfAborted(po?.signal);
          assertOpen();
          const count = partSizes.size;
          let total = 0;
          for (let n = 1; n <= count; n++) {
            const size = partSizes.get(n);
            if (size === undefined) throw new FlowsyncError('INTERNAL', `Upload of az://${container}/${key} is missing part ${n}.`);
            total += size;
          }
          if (total !== w.size) {
            throw new FlowsyncError('CHECKSUM_MISMATCH', `az://${container}/${key}: parts add up to ${total} bytes, expected ${w.size}.`);
          }
          // Azure cannot hash what it stores, so the declared sha256 is checked here, before the
          // commit makes the blob visible (when the parts could be hashed in order, see InOrderSha256).
          const digest = hasher?.digest(count);
          if (digest !== undefined && digest !== w.sha256) {
            throw new FlowsyncError('CHECKSUM_MISMATCH', `az://${container}/${key}: the uploaded parts do not match the declared sha256; upload it again.`);
          }
          const ids = Array.from({ length: count }, (_, i) => blockId(tag, i + 1));
          const info = await commitBlocks(r, key, ids, total, w, undefined, po);
          state = 'completed';
          return info;
        },
        // Uncommitted blocks cannot be deleted one by one: Azure discards them when the blob is
        // next committed, or after a week. Nothing to do server-side; the writer just closes.
        async abort() {
          if (state === 'open') state = 'aborted';
        },
      };
    },
  };
  return backend;
}

// ---------------------------------------------------------------------------------------------
// Client resolution: explicit options, then AZURE_STORAGE_CONNECTION_STRING, then account URL +
// key / SAS / Azure AD (DefaultAzureCredential, loaded only when needed).

interface ConnectionStringParts {
  accountName?: string;
  accountKey?: string;
  sas?: string;
  blobEndpoint?: string;
}

async function resolveClient(o: AzureBackendOptions): Promise<ResolvedClient> {
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

function hasSas(urlOrQuery: string): boolean {
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

function checkContainerName(name: string): void {
  // Azure's rule; checked here so a typo fails with a clear message before any request.
  if (name === '$root' || name === '$web' || /^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/.test(name)) return;
  throw new FlowsyncError('USAGE', `Invalid Azure container name ${JSON.stringify(name)}: use 3-63 lower-case letters, digits and single '-' (not first or last).`);
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function md5Of(data: Uint8Array): Buffer {
  return createHash('md5').update(data).digest();
}

function checkBytes(key: string, data: Uint8Array, w: WriteInfo): void {
  if (data.length !== w.size) throw new FlowsyncError('CHECKSUM_MISMATCH', `${key}: received ${data.length} bytes, expected ${w.size}.`);
  if (w.sha256 && createHash('sha256').update(data).digest('hex') !== w.sha256) {
    throw new FlowsyncError('CHECKSUM_MISMATCH', `${key}: content does not match its sha256 (the source changed while it was read).`);
  }
}

/** A random tag per upload keeps two concurrent uploads of one blob from mixing their blocks. */
function uploadTag(): string {
  return randomBytes(4).toString('hex');
}

/** Block ids of one blob must all have the same length: fixed-width tag and number. */
function blockId(tag: string, n: number): string {
  return Buffer.from(`flowsync-${tag}-${String(n).padStart(6, '0')}`).toString('base64');
}

function headersFor(w: WriteInfo, md5: Uint8Array | undefined): BlobHTTPHeaders {
  return {
    ...(w.contentType ? { blobContentType: w.contentType } : {}),
    ...(md5 ? { blobContentMD5: md5 } : {}),
  };
}

function conditionsFor(w: WriteInfo): BlobRequestConditions {
  return {
    ...(w.ifMatch !== undefined ? { ifMatch: w.ifMatch } : {}),
    ...(w.ifNoneMatch === '*' ? { ifNoneMatch: '*' } : {}),
  };
}

function toAzureMetadata(w: WriteInfo): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(w.metadata ?? {})) {
    const name = k.replace(/-/g, '_');
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new FlowsyncError('INVALID_INPUT', `Metadata key ${JSON.stringify(k)} cannot be stored on Azure: use letters, digits and '-', starting with a letter.`);
    }
    out[name] = v;
  }
  if (w.sha256) out[SHA256_METADATA_KEY] = w.sha256;
  return out;
}

function fromAzureMetadata(m: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m ?? {})) out[k.toLowerCase().replace(/_/g, '-')] = v;
  return out;
}

function isFolderMarker(m: Record<string, string> | undefined): boolean {
  if (!m) return false;
  return Object.entries(m).some(([k, v]) => k.toLowerCase() === 'hdi_isfolder' && v.toLowerCase() === 'true');
}

function objectInfo(key: string, size: number, etag: string | undefined, lastModified: Date | undefined, raw: Record<string, string> | undefined): ObjectInfo {
  const metadata = fromAzureMetadata(raw);
  const sha256 = metadata[SHA256_METADATA_KEY];
  return {
    key,
    size,
    ...(etag ? { etag } : {}),
    ...(lastModified ? { lastModified } : {}),
    metadata,
    ...(sha256 ? { sha256 } : {}),
  };
}

function writtenInfo(key: string, size: number, w: WriteInfo, etag: string | undefined, lastModified: Date | undefined): ObjectInfo {
  const metadata: Record<string, string> = { ...w.metadata };
  if (w.sha256) metadata[SHA256_METADATA_KEY] = w.sha256;
  return {
    key,
    size,
    ...(etag ? { etag } : {}),
    ...(lastModified ? { lastModified } : {}),
    metadata,
    ...(w.sha256 ? { sha256: w.sha256 } : {}),
  };
}

/** Pass the body through, turning SDK and socket errors (and an abort) into FlowsyncErrors. */
function mapStreamErrors(body: Readable, c: AzureErrorContext, signal: AbortSignal | undefined): Readable {
  const out = new PassThrough({ highWaterMark: 1024 * 1024 });
  body.on('error', (err) => out.destroy(azureError(err, c)));
  const onAbort = () => out.destroy(abortError(signal));
  signal?.addEventListener('abort', onAbort, { once: true });
  // A consumer that stops early (or fails) must release the connection.
  out.on('close', () => {
    signal?.removeEventListener('abort', onAbort);
    if (!body.readableEnded) body.destroy();
  });
  body.pipe(out);
  return out;
}

/**
 * The sha256 of a multipart upload, computed as parts arrive. Parts come in any order; one that
 * arrives ahead of its turn is copied and kept until the gap before it fills. If more than
 * `retainLimit` bytes would have to wait (a part stuck in retries while others stream past), it
 * gives up rather than hold memory the engine no longer counts: `digest` is then undefined and
 * the check is left to the engine, which hashes every part in order as it reads the file.
 */
class InOrderSha256 {
  private readonly hash = createHash('sha256');
  private next = 1;
  private readonly waiting = new Map<number, Buffer>();
  private waitingBytes = 0;
  private gaveUp = false;
  private result: string | undefined;

  constructor(private readonly retainLimit: number) {}

  add(n: number, data: Uint8Array): void {
    if (this.gaveUp || n < this.next || this.waiting.has(n)) return; // already counted (a retried part)
    if (n !== this.next) {
      if (this.waitingBytes + data.length > this.retainLimit) {
        this.gaveUp = true;
        this.waiting.clear();
        return;
      }
      // A copy: the caller may reuse its buffer once writePart resolves.
      this.waiting.set(n, Buffer.from(data));
      this.waitingBytes += data.length;
      return;
    }
    this.hash.update(data);
    this.next++;
    for (let part = this.waiting.get(this.next); part; part = this.waiting.get(this.next)) {
      this.hash.update(part);
      this.waiting.delete(this.next);
      this.waitingBytes -= part.length;
      this.next++;
    }
  }

  /** Hex digest if exactly parts 1..parts were hashed, else undefined. */
  digest(parts: number): string | undefined {
    if (this.gaveUp || this.next !== parts + 1) return undefined;
    this.result ??= this.hash.digest('hex'); // complete() may be retried
    return this.result;
  }
}

/** Whole-batch failures that mean "this account or endpoint has no blob batch". */
function batchUnsupported(err: unknown): boolean {
  const status = statusOf(err);
  const code = storageErrorCode(err);
  if (code === 'ContainerNotFound' || code === 'AuthenticationFailed') return false;
  return status === 400 || status === 404 || status === 405 || status === 409 || status === 501 || code === 'FeatureNotSupported';
}

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Run `fn` over items with at most `limit` in flight; the first failure stops new starts and is thrown. */
async function forEachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
