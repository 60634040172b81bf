/**
 * GETs and plain PUTs without the SDK's middleware stack. A GetObject through the AWS SDK v3
 * costs ≈0.77 ms of CPU here and a PutObject ≈1.08 ms; the same requests signed with the SDK's
 * own SigV4 signer and sent with node:http ≈0.23 and ≈0.45 ms (bench/experiments/sdk-overhead.ts).
 * On a push or pull of thousands of small files that CPU is what the client takes from the
 * server it shares the machine with, or from the files' own reads and writes.
 *
 * Nothing about the request is invented here: the client's first request naming a key goes
 * through the SDK, and a middleware records where it went (scheme, host, port, the path before
 * the key) and how it was to be signed (SigV4, signing name and region, from the SDK's endpoint
 * rules). Later requests reuse that target with the SDK's signer, its credential provider
 * (refreshes included) and the client's own keep-alive agents. Only plain success is handled
 * here: any other answer (404, 403, 301, 503, ...) or a connection failure returns null and the
 * caller asks the SDK again, so error mapping, redirects and messages stay the SDK's (a PUT's
 * body is in memory, so sending it again is safe; conditional PUTs always go through the SDK).
 * If the recorded request does not look as expected (another auth scheme, a query the key
 * cannot explain), the lean path stays off for this backend.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { SignatureV4 } from '@smithy/signature-v4';
import { abortError } from '../../errors.js';
import type { Agents } from '../../util/http.js';

/** What the SDK's first GET showed about where and how to send GETs of this bucket. */
interface Target {
  protocol: 'http:' | 'https:';
  hostname: string;
  port: number | undefined;
  /** The request path up to the key, e.g. "/bucket/" (path style) or "/" (virtual-hosted). */
  prefix: string;
  signer: SignatureV4;
}

export interface LeanGetAnswer {
  body: IncomingMessage;
  contentRange: string | undefined;
  contentLength: number | undefined;
}

type Bytes = string | ArrayBuffer | ArrayBufferView;
type CredentialProvider = ConstructorParameters<typeof SignatureV4>[0]['credentials'];

const EMPTY_SHA256 = createHash('sha256').digest('hex');
// Idle time on a connected socket before it counts as dead, as the SDK's request handler has.
const SOCKET_TIMEOUT_MS = 60_000;

function toBuffer(d: Bytes): Buffer {
  if (typeof d === 'string') return Buffer.from(d);
  if (d instanceof ArrayBuffer) return Buffer.from(d);
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}

/** node:crypto behind the hash interface the SDK's signer takes (also the bench's raw client's). */
export class NodeSha256 {
  private h!: Hash | Hmac;
  private readonly secret: Buffer | undefined;
  constructor(secret?: Bytes) {
    this.secret = secret === undefined ? undefined : toBuffer(secret);
    this.reset();
  }
  update(d: Bytes): void {
    this.h.update(toBuffer(d));
  }
  async digest(): Promise<Uint8Array> {
    return this.h.digest();
  }
  reset(): void {
    this.h = this.secret ? createHmac('sha256', this.secret) : createHash('sha256');
  }
}

/** A key as the SDK puts it in a path: each segment URI-encoded, !'()* too. */
export function encodeKeyPath(key: string): string {
  return key
    .split('/')
    .map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');
}

interface BuiltRequest {
  protocol?: string;
  hostname?: string;
  port?: number;
  path?: string;
  query?: Record<string, unknown>;
}

interface SdkContext {
  endpointV2?: { properties?: { authSchemes?: { name?: string; signingName?: string; signingRegion?: string }[] } };
}

type Middleware = (next: (args: { input: unknown; request: unknown }) => Promise<unknown>, context: SdkContext) => (args: { input: unknown; request: unknown }) => Promise<unknown>;

export interface LeanPut {
  body: Uint8Array;
  /** Hex sha256 of the body: the signature's payload hash (S3 checks the body against it). */
  payloadSha256: string;
  /** x-amz-checksum-sha256 (base64): S3 stores it and checks it too. */
  checksumSha256: string;
  metadata: Record<string, string>;
  contentType?: string | undefined;
}

export class LeanS3 {
  private target: Target | null = null;
  /** Set once a recorded request did not fit: the SDK then sends everything. */
  private off = false;

  constructor(
    private readonly bucket: string,
    private readonly agents: Agents,
    private readonly credentials: () => CredentialProvider,
    /** The SDK's correction for this machine's clock (set after a RequestTimeTooSkewed answer), in ms. */
    private readonly clockOffsetMs: () => number = () => 0,
  ) {}

  get ready(): boolean {
    return this.target !== null;
  }

  /** Record the target from the client's first request that names a key of this bucket (built, not yet signed). */
  install(client: { middlewareStack: { add: (m: never, o: { step: 'build'; name: string; priority: 'low' }) => void } }): void {
    const middleware: Middleware = (next, context) => async (args) => {
      const input = args.input as { Bucket?: unknown; Key?: unknown; UploadId?: unknown };
      if (!this.target && !this.off && input?.Bucket === this.bucket && typeof input.Key === 'string' && input.UploadId === undefined) {
        this.learn(input.Key, args.request as BuiltRequest, context);
      }
      return next(args);
    };
    client.middlewareStack.add(middleware as never, { step: 'build', name: 'flowsyncLeanRecorder', priority: 'low' });
  }

  private learn(key: string, r: BuiltRequest, context: SdkContext): void {
    const scheme = context.endpointV2?.properties?.authSchemes?.[0];
    const tail = encodeKeyPath(key);
    const queryKeys = Object.keys(r.query ?? {}).filter((k) => k !== 'x-id');
    const fits =
      scheme?.name === 'sigv4' &&
      typeof scheme.signingName === 'string' &&
      typeof scheme.signingRegion === 'string' &&
      (r.protocol === 'http:' || r.protocol === 'https:') &&
      typeof r.hostname === 'string' &&
      typeof r.path === 'string' &&
      r.path.endsWith(tail) &&
      queryKeys.length === 0;
    if (!fits) {
      this.off = true;
      return;
    }
    this.target = {
      protocol: r.protocol as 'http:' | 'https:',
      hostname: r.hostname!,
      port: r.port,
      prefix: r.path!.slice(0, r.path!.length - tail.length),
      signer: new SignatureV4({
        service: scheme.signingName!,
        region: scheme.signingRegion!,
        credentials: this.credentials(),
        sha256: NodeSha256,
        uriEscapePath: false,
        applyChecksum: false,
      }),
    };
  }

  /** The object's body on a 200/206 answer; null when the SDK should be asked instead. */
  async get(key: string, range: [number, number] | undefined, signal?: AbortSignal): Promise<LeanGetAnswer | null> {
    const headers: Record<string, string> = { 'x-amz-content-sha256': EMPTY_SHA256 };
    if (range) headers['range'] = `bytes=${range[0]}-${range[1] - 1}`;
    const res = await this.send('GET', key, headers, undefined, signal);
    if (!res) return null;
    const length = res.headers['content-length'];
    return { body: res, contentRange: res.headers['content-range'], contentLength: length === undefined ? undefined : Number(length) };
  }

  /** A PUT without conditions; the object's ETag on a 200 answer, null when the SDK should send it instead. */
  async put(key: string, p: LeanPut, signal?: AbortSignal): Promise<{ etag: string | undefined } | null> {
    const headers: Record<string, string> = {
      'content-length': String(p.body.length),
      'x-amz-content-sha256': p.payloadSha256,
      'x-amz-checksum-sha256': p.checksumSha256,
      ...(p.contentType ? { 'content-type': p.contentType } : {}),
    };
    for (const [k, v] of Object.entries(p.metadata)) {
      // Header values must be printable ASCII: anything else goes through the SDK, as before.
      if (!/^[\x20-\x7e]*$/.test(v) || !/^[a-z0-9-]+$/.test(k)) return null;
      headers[`x-amz-meta-${k}`] = v;
    }
    const res = await this.send('PUT', key, headers, p.body, signal);
    if (!res) return null;
    res.resume();
    const etag = res.headers['etag'];
    return { etag: typeof etag === 'string' ? etag : undefined };
  }

  /** One signed request; the response on 200/206, null on any other answer or a connection failure. */
  private async send(method: 'GET' | 'PUT', key: string, extra: Record<string, string>, body: Uint8Array | undefined, signal?: AbortSignal): Promise<IncomingMessage | null> {
    const t = this.target;
    if (!t) return null;
    const host = t.port === undefined ? t.hostname : `${t.hostname}:${t.port}`;
    const request = { method, protocol: t.protocol, hostname: t.hostname, ...(t.port !== undefined ? { port: t.port } : {}), path: t.prefix + encodeKeyPath(key), query: {}, headers: { host, ...extra } };
    const signed = await t.signer.sign(request, { signingDate: new Date(Date.now() + this.clockOffsetMs()) });
    if (signal?.aborted) throw abortError(signal);
    return new Promise((resolve, reject) => {
      const transport = t.protocol === 'https:' ? https : http;
      const req = transport.request(
        {
          agent: t.protocol === 'https:' ? this.agents.https : this.agents.http,
          method,
          hostname: t.hostname,
          ...(t.port !== undefined ? { port: t.port } : {}),
          path: signed.path,
          headers: signed.headers,
          ...(signal ? { signal } : {}),
        },
        (res) => {
          const status = res.statusCode ?? 0;
          if (status === 200 || status === 206) return resolve(res);
          res.resume(); // drained, so the socket goes back to the pool
          resolve(null);
        },
      );
      req.setTimeout(SOCKET_TIMEOUT_MS, () => req.destroy(Object.assign(new Error('socket timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', () => (signal?.aborted ? reject(abortError(signal)) : resolve(null)));
      req.end(body);
    });
  }
}
