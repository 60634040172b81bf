/**
 * A client for one registry (the OCI distribution API): manifests and blobs, the Bearer and
 * Basic challenges, plain HTTP only where Docker allows it. Each operation is retried as a
 * whole through the engine's one retry helper (a streamed upload restarts its session). It
 * counts its requests, so tests and the bench can see what a push cost.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { FlowsyncError, isFlowsyncError } from '../../errors.js';
import { registerSecret } from '../../secrets.js';
import { withRetry } from '../../backends/retrying.js';
import { isLoopbackRegistry } from '../reference.js';
import { MANIFEST_ACCEPT, MAX_MANIFEST_BYTES, type Logger } from '../types.js';
import { basicHeader, parseChallenge, tokenUrl, type Challenge } from './auth.js';
import { findCredentials, type RegistryCredentials } from './credentials.js';
import { classifyResponse, networkError } from './errors.js';
import { httpRequest, readBody, type HttpRequest, type HttpResponse } from './http.js';

export interface RegistryClientOptions {
  /** Allow plain HTTP and unverified TLS for a registry that is not on loopback. */
  insecure?: boolean;
  env?: NodeJS.ProcessEnv;
  credentials?: { username?: string; password?: string };
  signal?: AbortSignal;
  log?: Logger;
}

export interface RequestStats {
  requests: number;
  byMethod: Record<string, number>;
  /** Blobs whose bytes were sent (mounts not included). */
  blobsUploaded: number;
  bytesUploaded: number;
  mounted: number;
}

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

interface CallOptions {
  scopes: string[];
  headers?: Record<string, string>;
  body?: () => Buffer | Readable;
  /** Statuses the caller handles itself (everything else becomes an error). */
  ok: number[];
  what: string;
}

/** Uploads up to this size are first tried as one POST carrying the bytes (2 requests less). */
const SINGLE_POST_MAX = 1024 * 1024;

export class RegistryClient {
  readonly stats: RequestStats = { requests: 0, byMethod: {}, blobsUploaded: 0, bytesUploaded: 0, mounted: 0 };
  private origin: string | undefined;
  private originProbe: Promise<string> | undefined;
  private readonly pendingTokens = new Map<string, Promise<void>>();
  private basic: string | undefined;
  private readonly tokens = new Map<string, string>();
  private creds: RegistryCredentials | null | undefined;
  private singlePost = true;

  constructor(
    readonly registry: string,
    private readonly o: RegistryClientOptions = {},
  ) {}

  private get allowPlain(): boolean {
    return Boolean(this.o.insecure) || isLoopbackRegistry(this.registry);
  }

  /** HTTPS first; plain HTTP only for loopback or --insecure when the server does not speak TLS. */
  private resolveOrigin(): Promise<string> {
    // Concurrent first calls (a pool of HEADs) share one probe.
    this.originProbe ??= this.probeOrigin().catch((err: unknown) => {
      this.originProbe = undefined;
      throw err;
    });
    return this.originProbe;
  }

  private async probeOrigin(): Promise<string> {
    if (this.origin) return this.origin;
    const tryOrigin = async (origin: string) => {
      const res = await this.send({ method: 'GET', url: `${origin}/v2/` });
      res.body.resume();
      return res;
    };
    try {
      await tryOrigin(`https://${this.registry}`);
      this.origin = `https://${this.registry}`;
    } catch (err) {
      if (!this.allowPlain || !speaksPlainHttp(err)) throw networkError(err, this.registry, this.allowPlain);
      try {
        await tryOrigin(`http://${this.registry}`);
      } catch (err2) {
        throw networkError(err2, this.registry, true);
      }
      this.origin = `http://${this.registry}`;
    }
    return this.origin;
  }

  private async send(req: Omit<HttpRequest, 'insecure' | 'signal'>): Promise<HttpResponse> {
    this.stats.requests++;
    this.stats.byMethod[req.method] = (this.stats.byMethod[req.method] ?? 0) + 1;
    return httpRequest({ ...req, ...(this.o.insecure ? { insecure: true } : {}), ...(this.o.signal ? { signal: this.o.signal } : {}) });
  }

  private async credentials(): Promise<RegistryCredentials | null> {
    if (this.creds === undefined) this.creds = await findCredentials(this.registry, this.o.env ?? process.env, this.o.credentials);
    return this.creds;
  }

  private authFor(scopes: string[]): string | undefined {
    return this.tokens.get(scopes.join(' ')) ?? this.basic;
  }

  /** One request with authentication: on a 401, answer the challenge and send it once more. */
  private async call(method: HttpRequest['method'], pathOrUrl: string, c: CallOptions): Promise<HttpResponse> {
    const origin = await this.resolveOrigin();
    const url = /^https?:\/\//.test(pathOrUrl) ? pathOrUrl : `${origin}${pathOrUrl}`;
    let answered = false;
    for (;;) {
      const auth = this.authFor(c.scopes);
      const headers = { ...c.headers, ...(auth ? { Authorization: auth } : {}) };
      let res: HttpResponse;
      try {
        res = await this.send({ method, url, headers, ...(c.body ? { body: c.body() } : {}) });
      } catch (err) {
        throw isFlowsyncError(err) ? err : networkError(err, this.registry, this.allowPlain);
      }
      if (res.status === 401 && !answered) {
        res.body.resume();
        answered = true;
        const key = c.scopes.join(' ');
        // Requests of the same scope that meet the challenge together wait for one token.
        let pending = this.pendingTokens.get(key);
        if (!pending) {
          pending = this.answer(parseChallenge(header(res, 'www-authenticate')), c.scopes).finally(() => this.pendingTokens.delete(key));
          this.pendingTokens.set(key, pending);
        }
        await pending;
        continue;
      }
      if (c.ok.includes(res.status)) return res;
      const body = method === 'HEAD' ? null : await readBody(res, 64 * 1024).catch(() => null);
      throw classifyResponse(res.status, body, { registry: this.registry, what: c.what, creds: this.creds ?? null, retryAfter: header(res, 'retry-after') });
    }
  }

  private async answer(challenge: Challenge | null, scopes: string[]): Promise<void> {
    const creds = await this.credentials();
    if (challenge?.scheme === 'basic') {
      if (!creds) throw needsCredentials(this.registry);
      this.basic = basicHeader(creds.username, creds.password);
      return;
    }
    if (challenge?.scheme !== 'bearer') throw new FlowsyncError('AUTH', `${this.registry} asked for authentication flowsync does not know (${challenge ? challenge.scheme : 'no WWW-Authenticate header'}).`);
    const url = tokenUrl(challenge, scopes);
    if (!url) throw new FlowsyncError('AUTH', `${this.registry} sent a Bearer challenge without a realm; it cannot be answered.`);
    let res: HttpResponse;
    try {
      res = await this.send({ method: 'GET', url, headers: creds ? { Authorization: basicHeader(creds.username, creds.password) } : {} });
    } catch (err) {
      throw networkError(err, new URL(url).host, false);
    }
    const body = await readBody(res, 1024 * 1024);
    if (res.status === 401 || res.status === 403) {
      throw creds ? refusedCredentials(this.registry, creds) : needsCredentials(this.registry);
    }
    let token: string | undefined;
    try {
      const parsed = JSON.parse(body?.toString('utf8') ?? '') as { token?: string; access_token?: string };
      token = parsed.token ?? parsed.access_token;
    } catch {
      token = undefined;
    }
    if (res.status !== 200 || !token) throw new FlowsyncError('AUTH', `The token service of ${this.registry} (${new URL(url).host}) answered ${res.status} without a token.`);
    registerSecret(token);
    this.tokens.set(scopes.join(' '), `Bearer ${token}`);
  }

  private retry<T>(fn: () => Promise<T>): Promise<T> {
    return withRetry(fn, {
      ...(this.o.signal ? { signal: this.o.signal } : {}),
      onRetry: (err, attempt) => this.o.log?.info(`retrying ${this.registry} (attempt ${attempt + 1}): ${(err as Error).message}`),
    });
  }

  async getManifest(repo: string, reference: string, what = `${repo}:${reference}`): Promise<FetchedManifest> {
    try {
      return await this.fetchManifest(repo, reference, what);
    } catch (err) {
      if (isFlowsyncError(err, 'NOT_FOUND')) throw await this.explainMissing(repo, reference, what, err);
      throw err;
    }
  }

  /** A missing manifest: is the repository unknown, or only the tag? (One request, on the error path.) */
  private async explainMissing(repo: string, reference: string, what: string, original: FlowsyncError): Promise<FlowsyncError> {
    try {
      const res = await this.call('GET', `/v2/${repo}/tags/list?n=20`, { scopes: [pull(repo)], ok: [200, 404], what: `the tags of ${repo}` });
      const body = await readBody(res, 256 * 1024);
      if (res.status === 404) {
        return new FlowsyncError('NOT_FOUND', `${what} was not found on ${this.registry}: the repository ${repo} does not exist. Check the name (and push it first if it is yours).`, { cause: original });
      }
      const tags = (JSON.parse(body?.toString('utf8') ?? '{}') as { tags?: string[] | null }).tags ?? [];
      return new FlowsyncError('NOT_FOUND', `${what} was not found on ${this.registry}: ${repo} has no ${reference.startsWith('sha256:') ? 'manifest' : 'tag'} ${reference}${tags.length ? ` (it has: ${tags.slice(0, 10).join(', ')}${tags.length > 10 ? ', …' : ''})` : ''}.`, { cause: original });
    } catch {
      return original;
    }
  }

  private async fetchManifest(repo: string, reference: string, what: string): Promise<FetchedManifest> {
    return this.retry(async () => {
      const res = await this.call('GET', `/v2/${repo}/manifests/${reference}`, { scopes: [pull(repo)], headers: { Accept: MANIFEST_ACCEPT }, ok: [200], what });
      const bytes = await readBody(res, MAX_MANIFEST_BYTES);
      if (!bytes) throw tooBig(what);
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      if (reference.startsWith('sha256:') && digest !== reference) {
        throw new FlowsyncError('CHECKSUM_MISMATCH', `${this.registry} sent a manifest for ${what} whose digest is ${digest}.`);
      }
      const mediaType = header(res, 'content-type')?.split(';')[0]?.trim() || (JSON.parse(bytes.toString('utf8')) as { mediaType?: string }).mediaType || '';
      return { bytes, mediaType, digest };
    });
  }

  /** The digest a tag points to now, or null when the tag does not exist. */
  async headManifest(repo: string, reference: string): Promise<string | null> {
    return this.retry(async () => {
      const res = await this.call('HEAD', `/v2/${repo}/manifests/${reference}`, { scopes: [pull(repo)], headers: { Accept: MANIFEST_ACCEPT }, ok: [200, 404], what: `${repo}:${reference}` });
      res.body.resume();
      return res.status === 200 ? (header(res, 'docker-content-digest') ?? null) : null;
    });
  }

  async putManifest(repo: string, reference: string, bytes: Buffer, mediaType: string): Promise<void> {
    if (bytes.length > MAX_MANIFEST_BYTES) throw tooBig(`${repo}:${reference}`);
    await this.retry(async () => {
      const res = await this.call('PUT', `/v2/${repo}/manifests/${reference}`, {
        scopes: [push(repo)],
        headers: { 'Content-Type': mediaType, 'Content-Length': String(bytes.length) },
        body: () => bytes,
        ok: [200, 201, 202],
        what: `the manifest ${repo}:${reference}`,
      });
      res.body.resume();
    });
  }

  async hasBlob(repo: string, digest: string): Promise<boolean> {
    return this.retry(async () => {
      const res = await this.call('HEAD', `/v2/${repo}/blobs/${digest}`, { scopes: [push(repo)], ok: [200, 404], what: `blob ${digest} in ${repo}` });
      res.body.resume();
      return res.status === 200;
    });
  }

  /** Cross-repository mount: true when the registry linked the blob (201). */
  async mountBlob(repo: string, digest: string, from: string): Promise<boolean> {
    return this.retry(async () => {
      const res = await this.call('POST', `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`, {
        scopes: [push(repo), pull(from)],
        headers: { 'Content-Length': '0' },
        ok: [201, 202],
        what: `mounting ${digest} from ${from} into ${repo}`,
      });
      res.body.resume();
      if (res.status === 201) this.stats.mounted++;
      else await this.cancelUpload(res, repo);
      return res.status === 201;
    });
  }

  private async cancelUpload(res: HttpResponse, repo: string): Promise<void> {
    const location = header(res, 'location');
    if (!location) return;
    const url = new URL(location, await this.resolveOrigin()).toString();
    await this.call('DELETE', url, { scopes: [push(repo)], ok: [200, 202, 204, 404], what: 'cancelling an upload' }).then((r) => r.body.resume(), () => {});
  }

  /**
   * Upload a blob: one POST with the bytes where the registry takes it (small blobs; a registry
   * that answers 202 instead is not asked again), else POST for a session and one PUT with the
   * bytes. `open` gives a fresh body for each attempt.
   */
  async uploadBlob(repo: string, digest: string, size: number, open: () => Buffer | Readable): Promise<void> {
    await this.retry(async () => {
      const single = this.singlePost && size <= SINGLE_POST_MAX;
      const started = await this.call('POST', `/v2/${repo}/blobs/uploads/${single ? `?digest=${encodeURIComponent(digest)}` : ''}`, {
        scopes: [push(repo)],
        headers: single ? { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) } : { 'Content-Length': '0' },
        ...(single ? { body: open } : {}),
        ok: [201, 202],
        what: `starting the upload of ${digest} to ${repo}`,
      });
      started.body.resume();
      if (started.status === 201) return this.counted(size);
      if (single) this.singlePost = false;
      const location = header(started, 'location');
      if (!location) throw new FlowsyncError('TRANSIENT', `${this.registry} started an upload without a Location header.`);
      const url = new URL(location, await this.resolveOrigin());
      url.searchParams.set('digest', digest);
      const res = await this.call('PUT', url.toString(), {
        scopes: [push(repo)],
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) },
        body: open,
        ok: [201, 204],
        what: `uploading ${digest} to ${repo}`,
      });
      res.body.resume();
      this.counted(size);
    });
  }

  private counted(size: number): void {
    this.stats.blobsUploaded++;
    this.stats.bytesUploaded += size;
  }

  /** A blob's bytes as a stream (redirects to storage followed). */
  async openBlob(repo: string, digest: string): Promise<Readable> {
    return this.retry(async () => {
      const res = await this.call('GET', `/v2/${repo}/blobs/${digest}`, { scopes: [pull(repo)], ok: [200], what: `blob ${digest} of ${repo}` });
      return res.body;
    });
  }

  /** A small blob (a config) read whole and checked against its digest. */
  async readBlob(repo: string, digest: string, max: number): Promise<Buffer> {
    return this.retry(async () => {
      const res = await this.call('GET', `/v2/${repo}/blobs/${digest}`, { scopes: [pull(repo)], ok: [200], what: `blob ${digest} of ${repo}` });
      const bytes = await readBody(res, max);
      if (!bytes) throw new FlowsyncError('INVALID_INPUT', `The blob ${digest} of ${repo} is larger than ${max} bytes, which no image config is.`);
      if (`sha256:${createHash('sha256').update(bytes).digest('hex')}` !== digest) throw new FlowsyncError('CHECKSUM_MISMATCH', `${this.registry} sent bytes for ${digest} that do not match it.`);
      return bytes;
    });
  }
}

function pull(repo: string): string {
  return `repository:${repo}:pull`;
}
function push(repo: string): string {
  return `repository:${repo}:pull,push`;
}

function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** A TLS handshake answered by a plain-HTTP server fails this way. */
function speaksPlainHttp(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException & { reason?: string };
  return e?.code === 'EPROTO' || e?.code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|packet length too long/i.test(String(e?.message));
}

function needsCredentials(registry: string): FlowsyncError {
  return new FlowsyncError('AUTH', `${registry} needs credentials: run 'docker login ${registry}', or set FLOWSYNC_REGISTRY_USERNAME and FLOWSYNC_REGISTRY_PASSWORD.`);
}

export function refusedCredentials(registry: string, creds: RegistryCredentials): FlowsyncError {
  return new FlowsyncError('AUTH', `${registry} refused the credentials of user "${creds.username}" (from ${creds.source}). Check the user name and password (docker login ${registry}).`);
}

function tooBig(what: string): FlowsyncError {
  return new FlowsyncError('INVALID_INPUT', `The manifest of ${what} is larger than ${MAX_MANIFEST_BYTES / 1024 / 1024} MiB, the limit registries enforce; it was not read or sent. Use fewer layers or a smaller index.`);
}
