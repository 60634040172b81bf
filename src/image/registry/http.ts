/**
 * The registry client's HTTP: node:http/https with keep-alive agents from the shared HTTP module
 * (util/http.ts). HTTPS trusts Node's CA list, the system bundle (SSL_CERT_FILE or the
 * distribution's) and NODE_EXTRA_CA_CERTS; `insecure`
 * also accepts any certificate (Docker's insecure-registries). Redirects (blob downloads often
 * go to object storage) are followed without the Authorization header when the host changes.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { abortError } from '../../errors.js';
import { agentFor, createAgents, type Agents } from '../../util/http.js';

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  /** A buffer, or a stream with its length in headers['Content-Length']. */
  body?: Buffer | Readable;
  insecure?: boolean;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  url: string;
  body: http.IncomingMessage;
}

const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem'];
const MAX_REDIRECTS = 5;

/** The system's CA bundle (SSL_CERT_FILE, else the distribution's), added to Node's roots and NODE_EXTRA_CA_CERTS. */
function systemBundle(): string | undefined {
  return process.env.SSL_CERT_FILE || SYSTEM_BUNDLES.find((f) => fs.existsSync(f));
}

// One set of agents per trust mode, from the shared HTTP module.
const agentSets = new Map<boolean, Agents>();
function agentsFor(insecure: boolean): Agents {
  let a = agentSets.get(insecure);
  if (!a) {
    const bundle = systemBundle();
    a = createAgents({ maxSockets: 16, ...(insecure ? { rejectUnauthorized: false } : bundle ? { caFile: bundle, caFileSource: 'the system CA bundle' } : {}) });
    agentSets.set(insecure, a);
  }
  return a;
}

/** Close idle keep-alive sockets so a finished command exits at once. */
export function closeAgents(): void {
  for (const a of agentSets.values()) {
    a.http.destroy();
    a.https.destroy();
  }
  agentSets.clear();
}

export async function httpRequest(req: HttpRequest): Promise<HttpResponse> {
  let url = req.url;
  let headers = { ...req.headers };
  const firstHost = new URL(url).host;
  for (let hop = 0; ; hop++) {
    const res = await once(req, url, headers);
    const location = res.headers.location;
    const redirect = [301, 302, 303, 307, 308].includes(res.status) && location && (req.method === 'GET' || req.method === 'HEAD');
    if (!redirect || hop >= MAX_REDIRECTS) return res;
    res.body.resume();
    url = new URL(location, url).toString();
    if (new URL(url).host !== firstHost) {
      headers = { ...headers };
      delete headers['Authorization'];
    }
  }
}

function once(req: HttpRequest, url: string, headers: Record<string, string>): Promise<HttpResponse> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    if (req.signal?.aborted) return reject(abortError(req.signal));
    const r = mod.request(u, { method: req.method, headers, agent: agentFor(u, agentsFor(Boolean(req.insecure))) }, (res) => {
      cleanup();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, url, body: res });
    });
    const onAbort = () => r.destroy(abortError(req.signal));
    const cleanup = () => req.signal?.removeEventListener('abort', onAbort);
    req.signal?.addEventListener('abort', onAbort, { once: true });
    r.on('error', (err) => {
      cleanup();
      reject(err);
    });
    const body = req.body;
    if (body === undefined) r.end();
    else if (Buffer.isBuffer(body)) r.end(body);
    else {
      body.on('error', (err) => r.destroy(err));
      body.pipe(r);
    }
  });
}

/** Read a response body whole, refusing more than `max` bytes. Returns null when it is longer. */
export async function readBody(res: HttpResponse, max: number): Promise<Buffer | null> {
  const declared = Number(res.headers['content-length'] ?? NaN);
  if (declared > max) {
    res.body.destroy();
    return null;
  }
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res.body) {
    n += (c as Buffer).length;
    if (n > max) {
      res.body.destroy();
      return null;
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}
