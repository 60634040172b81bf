/**
 * GETs without the SDK's middleware stack. A GetObject through the AWS SDK v3 costs ≈0.77 ms of
 * CPU here, a GET signed with the SDK's own SigV4 signer and sent with node:http ≈0.23 ms
 * (bench/experiments/sdk-overhead.ts); on a pull of thousands of small files that CPU is what the
 * client takes from the server it shares the machine with, or from the files' own writes.
 *
 * Nothing about the request is invented here: the first read goes through the SDK, and a
 * middleware records where that request went (scheme, host, port, the path before the key) and
 * how it was to be signed (SigV4, signing name and region, from the SDK's endpoint rules). Later
 * reads reuse that target with the SDK's signer, its credential provider (refreshes included)
 * and the client's own keep-alive agents. Only plain success is handled here: any other answer
 * (404, 403, 301, 503, ...) or a connection failure returns null and the caller asks the SDK
 * again, so error mapping, redirects and messages stay the SDK's. If the recorded request does
 * not look as expected (another auth scheme, a query the key cannot explain), the lean path
 * stays off for this backend.
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

export interface LeanAnswer {
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

/** node:crypto behind the hash interface the signer takes. */
class NodeSha256 {
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

export class LeanGet {
  private target: Target | null = null;
  /** Set once a recorded request did not fit: the SDK then does every read. */
  private off = false;

  constructor(
    private readonly agents: Agents,
    private readonly credentials: () => CredentialProvider,
  ) {}

  get ready(): boolean {
    return this.target !== null;
  }

  /**
   * A middleware for one SDK GetObject of `key`: it records the target from the built request
   * (before signing) and lets the request go on unchanged.
   */
  recorder(key: string): { middleware: (next: (args: { request: unknown }) => Promise<unknown>, context: SdkContext) => (args: { request: unknown }) => Promise<unknown>; options: { step: 'build'; name: string; priority: 'low' } } {
    return {
      middleware: (next, context) => async (args) => {
        if (!this.target && !this.off) this.learn(key, args.request as BuiltRequest, context);
        return next(args);
      },
      options: { step: 'build', name: 'flowsyncLeanGetRecorder', priority: 'low' },
    };
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
  async get(key: string, range: [number, number] | undefined, signal?: AbortSignal): Promise<LeanAnswer | null> {
    const t = this.target;
    if (!t) return null;
    const host = t.port === undefined ? t.hostname : `${t.hostname}:${t.port}`;
    const headers: Record<string, string> = { host, 'x-amz-content-sha256': EMPTY_SHA256 };
    if (range) headers['range'] = `bytes=${range[0]}-${range[1] - 1}`;
    const signed = await t.signer.sign({ method: 'GET', protocol: t.protocol, hostname: t.hostname, ...(t.port !== undefined ? { port: t.port } : {}), path: t.prefix + encodeKeyPath(key), query: {}, headers });
    if (signal?.aborted) throw abortError(signal);
    return new Promise((resolve, reject) => {
      const transport = t.protocol === 'https:' ? https : http;
      const req = transport.request(
        {
          agent: t.protocol === 'https:' ? this.agents.https : this.agents.http,
          method: 'GET',
          hostname: t.hostname,
          ...(t.port !== undefined ? { port: t.port } : {}),
          path: signed.path,
          headers: signed.headers,
          ...(signal ? { signal } : {}),
        },
        (res) => {
          const status = res.statusCode ?? 0;
          if (status !== 200 && status !== 206) {
            res.resume(); // drained, so the socket goes back to the pool
            resolve(null);
            return;
          }
          const length = res.headers['content-length'];
          resolve({ body: res, contentRange: res.headers['content-range'], contentLength: length === undefined ? undefined : Number(length) });
        },
      );
      req.setTimeout(SOCKET_TIMEOUT_MS, () => req.destroy(Object.assign(new Error('socket timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', () => (signal?.aborted ? reject(abortError(signal)) : resolve(null)));
      req.end();
    });
  }
}
