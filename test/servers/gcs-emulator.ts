/**
 * A small, in-memory Google Cloud Storage JSON-API emulator for tests and benchmarks. No GCS
 * emulator runs offline here, so this one implements what @google-cloud/storage v7 sends with
 * `apiEndpoint: http://127.0.0.1:P` (observed by logging its requests): buckets, simple and
 * multipart uploads, resumable sessions, listing with pagination and delimiters, media reads
 * with ranges and `x-goog-hash`, metadata, deletes and generation preconditions.
 *
 * It checks what real GCS checks where that keeps the client honest: md5Hash/crc32c sent with an
 * upload must match the data (400), `ifGenerationMatch`/`ifGenerationNotMatch` (412), resumable
 * chunks must continue where the session stands, and only whole 256 KiB units of a non-final
 * chunk are persisted.
 *
 * Dependencies: node only, so it can also run as a child process:
 *   node gcs-emulator.js --port 0 --bucket a --bucket b   (prints one JSON line: {"endpoint", "port"})
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';

// ---------------------------------------------------------------- crc32c (Castagnoli)

const CASTAGNOLI_REFLECTED = 0x82f63b78;
/** Slicing-by-8 tables: T[0] is the classic byte table, T[k] advances a byte k more positions. */
const CRC32C_TABLES = (() => {
  const t = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ CASTAGNOLI_REFLECTED : c >>> 1;
    t[0]![n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 8; k++) t[k]![n] = (t[k - 1]![n]! >>> 8) ^ t[0]![t[k - 1]![n]! & 0xff]!;
  }
  return t as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];
})();

/** CRC-32C of `data`, continuing from `crc` (the value of the bytes before it). */
export function crc32c(data: Uint8Array, crc = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC32C_TABLES;
  let c = ~crc >>> 0;
  let i = 0;
  // Eight bytes per step (slicing-by-8): several times faster than a byte at a time.
  for (const end = data.length - 7; i < end; i += 8) {
    const lo = (c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))) >>> 0;
    c =
      t7[lo & 0xff]! ^ t6[(lo >>> 8) & 0xff]! ^ t5[(lo >>> 16) & 0xff]! ^ t4[lo >>> 24]! ^
      t3[data[i + 4]!]! ^ t2[data[i + 5]!]! ^ t1[data[i + 6]!]! ^ t0[data[i + 7]!]!;
  }
  for (; i < data.length; i++) c = t0[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** GCS encodes crc32c as base64 of the big-endian 4 bytes. */
export function crc32cBase64(data: Uint8Array): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc32c(data));
  return b.toString('base64');
}

const md5Base64 = (data: Uint8Array): string => createHash('md5').update(data).digest('base64');

// ---------------------------------------------------------------- state

/** Resumable uploads persist only whole units of this size from a non-final chunk, as GCS does. */
export const RESUMABLE_UNIT = 256 * 1024;

export interface StoredObject {
  name: string;
  data: Buffer;
  generation: number;
  metageneration: number;
  contentType: string;
  contentEncoding?: string;
  cacheControl?: string;
  metadata: Record<string, string>;
  md5: string;
  crc32c: string;
  timeCreated: Date;
  updated: Date;
}

interface Bucket {
  name: string;
  timeCreated: Date;
  objects: Map<string, StoredObject>;
  /** Names sorted by UTF-8 bytes, rebuilt lazily after a change. */
  sorted: string[] | null;
}

export interface Session {
  id: string;
  bucket: string;
  name: string;
  resource: Record<string, unknown>;
  preconditions: URLSearchParams;
  declaredSize?: number;
  chunks: Buffer[];
  persisted: number;
  state: 'open' | 'done' | 'failed';
  result?: StoredObject;
}

export interface Fault {
  /** HTTP status to answer with, or 'reset' to destroy the connection without a response. */
  status: number | 'reset';
  /** With 'reset': carry the request out, then drop the connection instead of answering (a lost response). */
  afterProcessing?: boolean;
  /** How many matching requests fail (default 1). */
  count?: number;
  /** Which requests: method and a substring of the path (both optional). */
  method?: string;
  pathIncludes?: string;
}

export interface GcsEmulatorOptions {
  port?: number;
  host?: string;
  /** Buckets that exist from the start. */
  buckets?: string[];
  /** Answer 401 to requests without an Authorization header (session PUTs excepted, as in GCS). */
  requireAuth?: boolean;
  /** Called with one line per request: `METHOD path?query -> status`. */
  log?: (line: string) => void;
}

export interface GcsEmulatorState {
  buckets: Map<string, Bucket>;
  sessions: Map<string, Session>;
  faults: Fault[];
  requests: number;
  /** Flip one byte of the next uploaded object's data before it is checked (simulates corruption in transit). */
  corruptNextUpload: boolean;
}

// ---------------------------------------------------------------- helpers

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason: string,
  ) {
    super(message);
  }
}

const notFoundBucket = () => new HttpError(404, 'The specified bucket does not exist.', 'notFound');
const notFoundObject = (b: string, n: string) => new HttpError(404, `No such object: ${b}/${n}`, 'notFound');
const badRequest = (message: string, reason = 'invalid') => new HttpError(400, message, reason);
const preconditionFailed = () =>
  new HttpError(412, 'At least one of the pre-conditions you specified did not hold.', 'conditionNotMet');

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

let generationCounter = 0;
/** Generations grow strictly, like GCS's microsecond timestamps. */
function nextGeneration(): number {
  generationCounter = Math.max(generationCounter + 1, Date.now() * 1000);
  return generationCounter;
}

function objectResource(bucket: string, o: StoredObject, base: string): Record<string, unknown> {
  const enc = encodeURIComponent(o.name);
  return {
    kind: 'storage#object',
    id: `${bucket}/${o.name}/${o.generation}`,
    selfLink: `${base}/storage/v1/b/${bucket}/o/${enc}`,
    mediaLink: `${base}/download/storage/v1/b/${bucket}/o/${enc}?generation=${o.generation}&alt=media`,
    name: o.name,
    bucket,
    generation: String(o.generation),
    metageneration: String(o.metageneration),
    contentType: o.contentType,
    ...(o.contentEncoding ? { contentEncoding: o.contentEncoding } : {}),
    ...(o.cacheControl ? { cacheControl: o.cacheControl } : {}),
    storageClass: 'STANDARD',
    size: String(o.data.length),
    md5Hash: o.md5,
    crc32c: o.crc32c,
    etag: Buffer.from(`${o.generation}/${o.metageneration}`).toString('base64'),
    timeCreated: o.timeCreated.toISOString(),
    updated: o.updated.toISOString(),
    timeStorageClassUpdated: o.timeCreated.toISOString(),
    ...(Object.keys(o.metadata).length ? { metadata: { ...o.metadata } } : {}),
  };
}

function bucketResource(b: Bucket, base: string): Record<string, unknown> {
  return {
    kind: 'storage#bucket',
    id: b.name,
    selfLink: `${base}/storage/v1/b/${b.name}`,
    name: b.name,
    projectNumber: '0',
    metageneration: '1',
    location: 'US',
    storageClass: 'STANDARD',
    etag: 'CAE=',
    timeCreated: b.timeCreated.toISOString(),
    updated: b.timeCreated.toISOString(),
  };
}

/** Apply generation preconditions of a write (or delete) to the current object. */
function checkWritePreconditions(q: URLSearchParams, current: StoredObject | undefined): void {
  const match = q.get('ifGenerationMatch');
  if (match !== null && (current ? String(current.generation) !== match : match !== '0')) throw preconditionFailed();
  const notMatch = q.get('ifGenerationNotMatch');
  if (notMatch !== null && (current ? String(current.generation) === notMatch : notMatch === '0')) throw preconditionFailed();
  const metaMatch = q.get('ifMetagenerationMatch');
  if (metaMatch !== null && (!current || String(current.metageneration) !== metaMatch)) throw preconditionFailed();
}

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

function parseJson(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* fall through */
  }
  throw badRequest('Invalid JSON payload.', 'parseError');
}

/** Parse a multipart/related body: returns each part's headers and bytes. */
export function parseMultipartRelated(body: Buffer, contentType: string): { headers: Record<string, string>; data: Buffer }[] {
  const m = /boundary="?([^";]+)"?/i.exec(contentType);
  if (!m) throw badRequest('Missing multipart boundary.');
  const delimiter = Buffer.from(`--${m[1]}`);
  const parts: { headers: Record<string, string>; data: Buffer }[] = [];
  let pos = body.indexOf(delimiter);
  if (pos < 0) throw badRequest('Malformed multipart body.');
  for (;;) {
    pos += delimiter.length;
    if (body.subarray(pos, pos + 2).toString() === '--') break; // closing delimiter
    if (body.subarray(pos, pos + 2).toString() === '\r\n') pos += 2;
    const headerEnd = body.indexOf('\r\n\r\n', pos);
    if (headerEnd < 0) throw badRequest('Malformed multipart part.');
    const headers: Record<string, string> = {};
    for (const line of body.subarray(pos, headerEnd).toString('utf8').split('\r\n')) {
      const i = line.indexOf(':');
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), headerEnd + 4);
    if (next < 0) throw badRequest('Multipart body has no closing delimiter.');
    parts.push({ headers, data: body.subarray(headerEnd + 4, next) });
    pos = next + 2;
  }
  return parts;
}

/**
 * Parse `Content-Range: bytes a-b/T`, `bytes a-*\/T`, `bytes *\/T` (T may be `*`). An open end
 * (`a-*`) means "the rest of the object": the SDK sends it when it streams everything in one PUT.
 */
function parseContentRange(v: string | undefined): { start?: number; end?: number; openEnd?: boolean; total?: number } | null {
  if (!v) return null;
  const m = /^bytes (?:(\d+)-(\d+|\*)|\*)\/(\d+|\*)$/.exec(v.trim());
  if (!m) throw badRequest(`Invalid Content-Range ${v}.`);
  return {
    ...(m[1] !== undefined ? { start: Number(m[1]) } : {}),
    ...(m[2] !== undefined && m[2] !== '*' ? { end: Number(m[2]) } : {}),
    ...(m[2] === '*' ? { openEnd: true } : {}),
    ...(m[3] !== '*' ? { total: Number(m[3]) } : {}),
  };
}

// ---------------------------------------------------------------- the server

export function createGcsEmulatorServer(opts: GcsEmulatorOptions = {}): { server: http.Server; state: GcsEmulatorState } {
  const state: GcsEmulatorState = { buckets: new Map(), sessions: new Map(), faults: [], requests: 0, corruptNextUpload: false };
  for (const name of opts.buckets ?? []) createBucket(state, name);

  const server = http.createServer((req, res) => {
    state.requests++;
    const url = new URL(req.url ?? '/', 'http://x');
    const base = `http://${req.headers.host ?? '127.0.0.1'}`;
    const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
      opts.log?.(`${req.method} ${url.pathname}${url.search} -> ${status}`);
      if (body === undefined || status === 204 || status === 304) {
        res.writeHead(status, headers).end();
        return;
      }
      const text = JSON.stringify(body);
      res.writeHead(status, { 'Content-Type': 'application/json; charset=UTF-8', 'Content-Length': Buffer.byteLength(text), ...headers });
      res.end(text);
    };
    const fault = takeFault(state, req.method ?? '', url.pathname);
    if (fault?.status === 'reset' && fault.afterProcessing) {
      opts.log?.(`${req.method} ${url.pathname}${url.search} -> fault: answer lost`);
      // Whatever the route answers never leaves: the connection drops at the first write.
      res.writeHead = (() => {
        req.socket.destroy();
        return res;
      }) as typeof res.writeHead;
      res.end = (() => res) as typeof res.end;
    } else if (fault) {
      opts.log?.(`${req.method} ${url.pathname}${url.search} -> fault ${fault.status}`);
      if (fault.status === 'reset') {
        req.socket.destroy();
        return;
      }
      req.resume();
      send(fault.status, { error: { code: fault.status, message: 'Injected fault.', errors: [{ message: 'Injected fault.', domain: 'global', reason: 'backendError' }] } });
      return;
    }
    route(state, req, res, url, base, send, opts).catch((err: unknown) => {
      const e = err instanceof HttpError ? err : new HttpError(500, `Emulator error: ${(err as Error)?.message ?? String(err)}`, 'backendError');
      if (!res.headersSent) send(e.status, { error: { code: e.status, message: e.message, errors: [{ message: e.message, domain: 'global', reason: e.reason }] } });
      else res.destroy();
    });
  });
  // stop() closes idle keep-alive sockets itself (closeAllConnections).
  server.keepAliveTimeout = 5_000;
  return { server, state };
}

function createBucket(state: GcsEmulatorState, name: string): Bucket {
  const b: Bucket = { name, timeCreated: new Date(), objects: new Map(), sorted: null };
  state.buckets.set(name, b);
  return b;
}

function takeFault(state: GcsEmulatorState, method: string, path: string): Fault | null {
  const i = state.faults.findIndex((f) => (!f.method || f.method === method) && (!f.pathIncludes || path.includes(f.pathIncludes)));
  if (i < 0) return null;
  const f = state.faults[i]!;
  f.count = (f.count ?? 1) - 1;
  if (f.count <= 0) state.faults.splice(i, 1);
  return f;
}

type Send = (status: number, body?: unknown, headers?: Record<string, string>) => void;

async function route(
  state: GcsEmulatorState,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: URL,
  base: string,
  send: Send,
  opts: GcsEmulatorOptions,
): Promise<void> {
  const method = req.method ?? 'GET';
  const q = url.searchParams;
  let path = url.pathname;

  if (path.startsWith('/_emulator/')) return control(state, req, path, q, send);

  const isSessionPut = path.startsWith('/upload/') && q.has('upload_id');
  if (opts.requireAuth && !isSessionPut && !req.headers.authorization) {
    req.resume();
    throw new HttpError(401, 'Anonymous caller does not have storage.objects.get access.', 'required');
  }

  if (path.startsWith('/upload/storage/v1/')) return upload(state, req, path.slice('/upload/storage/v1'.length), q, base, send);
  // The SDK puts /storage/v1 after apiEndpoint, but uses STORAGE_EMULATOR_HOST as the base as is.
  if (path.startsWith('/storage/v1/')) path = path.slice('/storage/v1'.length);
  if (path.startsWith('/download/storage/v1/')) path = path.slice('/download/storage/v1'.length);

  if (path === '/b' || path === '/b/') {
    if (method === 'POST') {
      const body = parseJson(await readBody(req));
      const name = String(body['name'] ?? '');
      if (!/^[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]$/.test(name)) throw badRequest(`Invalid bucket name: '${name}'`);
      if (state.buckets.has(name)) throw new HttpError(409, 'Your previous request to create the named bucket succeeded and you already own it.', 'conflict');
      return send(200, bucketResource(createBucket(state, name), base));
    }
    if (method === 'GET') return send(200, { kind: 'storage#buckets', items: [...state.buckets.values()].map((b) => bucketResource(b, base)) });
  }

  // /b/{bucket}[/o[/{object...}]]: the object name is the rest of the path, URL-decoded once.
  const m = /^\/b\/([^/]+)(?:\/o(?:\/(.+))?)?$/.exec(path);
  const hasO = /^\/b\/[^/]+\/o(\/|$)/.test(path);
  if (!m) throw new HttpError(404, `Not Found: ${path}`, 'notFound');
  const bucketName = decodeURIComponent(m[1]!);
  const objectName = m[2] !== undefined ? decodeURIComponent(m[2]) : undefined;
  const bucket = state.buckets.get(bucketName);

  if (!hasO) {
    if (!bucket) throw notFoundBucket();
    if (method === 'GET') return send(200, bucketResource(bucket, base));
    if (method === 'DELETE') {
      if (bucket.objects.size) throw new HttpError(409, 'The bucket you tried to delete is not empty.', 'conflict');
      state.buckets.delete(bucketName);
      return send(204);
    }
    throw new HttpError(405, `Method ${method} not supported on a bucket.`, 'notSupported');
  }
  if (!bucket) throw notFoundBucket();

  if (objectName === undefined) {
    if (method === 'GET') return send(200, listObjects(bucket, q, base));
    throw new HttpError(405, `Method ${method} not supported on a listing.`, 'notSupported');
  }

  const current = bucket.objects.get(objectName);
  switch (method) {
    case 'GET': {
      if (!current) throw notFoundObject(bucketName, objectName);
      const gen = q.get('generation');
      if (gen !== null && gen !== String(current.generation)) throw notFoundObject(bucketName, objectName);
      const match = q.get('ifGenerationMatch');
      if (match !== null && match !== String(current.generation)) throw preconditionFailed();
      const notMatch = q.get('ifGenerationNotMatch');
      if (notMatch !== null && notMatch === String(current.generation)) return send(304);
      if (q.get('alt') === 'media') return sendMedia(req, res, current, (status) => opts.log?.(`${method} ${url.pathname}${url.search} -> ${status}`));
      return send(200, objectResource(bucketName, current, base));
    }
    case 'DELETE': {
      if (!current) throw notFoundObject(bucketName, objectName);
      checkWritePreconditions(q, current);
      bucket.objects.delete(objectName);
      bucket.sorted = null;
      return send(204);
    }
    case 'PATCH': {
      if (!current) throw notFoundObject(bucketName, objectName);
      checkWritePreconditions(q, current);
      const body = parseJson(await readBody(req));
      applyResource(current, body, true);
      current.metageneration++;
      current.updated = new Date();
      return send(200, objectResource(bucketName, current, base));
    }
    default:
      throw new HttpError(405, `Method ${method} not supported on an object.`, 'notSupported');
  }
}

function listObjects(bucket: Bucket, q: URLSearchParams, base: string): Record<string, unknown> {
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  const maxResults = Math.min(Math.max(Number(q.get('maxResults') ?? 1000) || 1000, 1), 1000);
  const pageToken = q.get('pageToken');
  const startAfter = pageToken ? Buffer.from(pageToken, 'base64url').toString('utf8') : null;
  const startOffset = q.get('startOffset');
  const endOffset = q.get('endOffset');

  bucket.sorted ??= [...bucket.objects.keys()].sort(compareUtf8);
  const names = bucket.sorted;
  // Binary search for the first name >= the later of prefix and the page start.
  const from = [prefix, startOffset ?? ''].reduce((a, b) => (compareUtf8(a, b) >= 0 ? a : b));
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareUtf8(names[mid]!, from) < 0) lo = mid + 1;
    else hi = mid;
  }

  const items: Record<string, unknown>[] = [];
  const prefixes: string[] = [];
  let last: string | null = null;
  let more = false;
  for (let i = lo; i < names.length; i++) {
    const name = names[i]!;
    if (!name.startsWith(prefix)) break;
    if (endOffset !== null && compareUtf8(name, endOffset) >= 0) break;
    if (startAfter !== null && compareUtf8(name, startAfter) <= 0) continue;
    let entry: string | null = null;
    if (delimiter) {
      const d = name.indexOf(delimiter, prefix.length);
      if (d >= 0) entry = name.slice(0, d + delimiter.length);
    }
    if (entry !== null && entry === prefixes[prefixes.length - 1]) {
      last = name; // still inside a prefix already reported
      continue;
    }
    if (items.length + prefixes.length >= maxResults) {
      more = true;
      break;
    }
    if (entry !== null) prefixes.push(entry);
    else items.push(objectResource(bucket.name, bucket.objects.get(name)!, base));
    last = name;
  }
  return {
    kind: 'storage#objects',
    ...(items.length ? { items } : {}),
    ...(prefixes.length ? { prefixes } : {}),
    ...(more && last !== null ? { nextPageToken: Buffer.from(last, 'utf8').toString('base64url') } : {}),
  };
}

function sendMedia(req: http.IncomingMessage, res: http.ServerResponse, o: StoredObject, log: (status: number) => void): void {
  const headers: Record<string, string> = {
    'Content-Type': o.contentType,
    'x-goog-hash': `crc32c=${o.crc32c},md5=${o.md5}`,
    'x-goog-generation': String(o.generation),
    'x-goog-metageneration': String(o.metageneration),
    // The SDK validates hashes only when it sees this header (stored as-is, no gzip).
    'x-goog-stored-content-encoding': o.contentEncoding ?? 'identity',
    'x-goog-stored-content-length': String(o.data.length),
    ETag: `"${o.md5}"`,
    'Last-Modified': o.updated.toUTCString(),
    'Accept-Ranges': 'bytes',
  };
  let status = 200;
  let body = o.data;
  const range = req.headers.range;
  if (range && o.data.length > 0) {
    const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
    if (m && (m[1] !== '' || m[2] !== '')) {
      const size = o.data.length;
      let start: number;
      let end: number;
      if (m[1] === '') {
        start = Math.max(0, size - Number(m[2])); // suffix: the last N bytes
        end = size - 1;
      } else {
        start = Number(m[1]);
        end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
      }
      if (start >= size || end < start) {
        throw new HttpError(416, 'The requested range cannot be satisfied.', 'requestedRangeNotSatisfiable');
      }
      status = 206;
      body = o.data.subarray(start, end + 1);
      headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    }
  }
  headers['Content-Length'] = String(body.length);
  log(status);
  res.writeHead(status, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** Copy the writable fields of an object resource from a request. */
function applyResource(o: StoredObject, r: Record<string, unknown>, patch: boolean): void {
  if (typeof r['contentType'] === 'string') o.contentType = r['contentType'];
  if (typeof r['contentEncoding'] === 'string') o.contentEncoding = r['contentEncoding'];
  if (typeof r['cacheControl'] === 'string') o.cacheControl = r['cacheControl'];
  const meta = r['metadata'];
  if (meta && typeof meta === 'object') {
    const next: Record<string, string> = patch ? { ...o.metadata } : {};
    for (const [k, v] of Object.entries(meta as Record<string, unknown>)) {
      if (v === null) delete next[k];
      else next[k] = typeof v === 'string' ? v : JSON.stringify(v);
    }
    o.metadata = next;
  } else if (meta === null && patch) {
    o.metadata = {};
  }
}

/** Store an uploaded object after checking the hashes the client declared and the preconditions. */
function commitObject(
  state: GcsEmulatorState,
  bucket: Bucket,
  name: string,
  data: Buffer,
  resource: Record<string, unknown>,
  q: URLSearchParams,
  declaredHashes: { md5?: string; crc32c?: string },
): StoredObject {
  if (!name) throw badRequest('Required parameter: name', 'required');
  if (state.corruptNextUpload && data.length > 0) {
    state.corruptNextUpload = false;
    data = Buffer.from(data);
    const mid = data.length >> 1;
    data[mid] = data[mid]! ^ 0xff;
  }
  const md5 = md5Base64(data);
  const crc = crc32cBase64(data);
  const wantMd5 = declaredHashes.md5 ?? (typeof resource['md5Hash'] === 'string' ? resource['md5Hash'] : undefined);
  const wantCrc = declaredHashes.crc32c ?? (typeof resource['crc32c'] === 'string' ? resource['crc32c'] : undefined);
  if (wantMd5 !== undefined && wantMd5 !== md5) {
    throw badRequest(`Provided MD5 hash "${wantMd5}" doesn't match calculated MD5 hash "${md5}".`);
  }
  if (wantCrc !== undefined && wantCrc !== crc) {
    throw badRequest(`Provided CRC32C "${wantCrc}" doesn't match calculated CRC32C "${crc}".`);
  }
  const current = bucket.objects.get(name);
  checkWritePreconditions(q, current);
  const now = new Date();
  const o: StoredObject = {
    name,
    data,
    generation: nextGeneration(),
    metageneration: 1,
    contentType: 'application/octet-stream',
    metadata: {},
    md5,
    crc32c: crc,
    timeCreated: now,
    updated: now,
  };
  applyResource(o, resource, false);
  if (!current) bucket.sorted = null;
  bucket.objects.set(name, o);
  return o;
}

/** `X-Goog-Hash: crc32c=...,md5=...` as sent with a final resumable chunk. */
function hashesFromHeader(v: string | string[] | undefined): { md5?: string; crc32c?: string } {
  const out: { md5?: string; crc32c?: string } = {};
  for (const part of (Array.isArray(v) ? v.join(',') : (v ?? '')).split(',')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    const k = part.slice(0, i).trim().toLowerCase();
    if (k === 'md5' || k === 'crc32c') out[k] = part.slice(i + 1).trim();
  }
  return out;
}

async function upload(state: GcsEmulatorState, req: http.IncomingMessage, path: string, q: URLSearchParams, base: string, send: Send): Promise<void> {
  const m = /^\/b\/([^/]+)\/o\/?$/.exec(path);
  if (!m) throw new HttpError(404, `Not Found: /upload/storage/v1${path}`, 'notFound');
  const bucketName = decodeURIComponent(m[1]!);
  const method = req.method ?? 'POST';
  const uploadId = q.get('upload_id');

  if (uploadId !== null) return resumableChunk(state, req, uploadId, base, send);

  const body = await readBody(req);
  const bucket = state.buckets.get(bucketName);
  if (!bucket) throw notFoundBucket();
  if (method !== 'POST') throw new HttpError(405, `Method ${method} not supported for uploads.`, 'notSupported');
  const uploadType = q.get('uploadType') ?? 'media';

  if (uploadType === 'multipart') {
    const parts = parseMultipartRelated(body, String(req.headers['content-type'] ?? ''));
    if (parts.length !== 2) throw badRequest(`A multipart upload needs 2 parts, got ${parts.length}.`);
    const resource = parseJson(parts[0]!.data);
    if (resource['contentType'] === undefined && parts[1]!.headers['content-type']) resource['contentType'] = parts[1]!.headers['content-type'];
    const name = q.get('name') ?? String(resource['name'] ?? '');
    const o = commitObject(state, bucket, name, Buffer.from(parts[1]!.data), resource, q, hashesFromHeader(req.headers['x-goog-hash']));
    return send(200, objectResource(bucketName, o, base));
  }
  if (uploadType === 'media') {
    const resource: Record<string, unknown> = {};
    if (req.headers['content-type']) resource['contentType'] = req.headers['content-type'];
    const o = commitObject(state, bucket, q.get('name') ?? '', body, resource, q, hashesFromHeader(req.headers['x-goog-hash']));
    return send(200, objectResource(bucketName, o, base));
  }
  if (uploadType === 'resumable') {
    const resource = parseJson(body);
    const name = q.get('name') ?? String(resource['name'] ?? '');
    if (!name) throw badRequest('Required parameter: name', 'required');
    if (resource['contentType'] === undefined && req.headers['x-upload-content-type']) resource['contentType'] = req.headers['x-upload-content-type'];
    // Preconditions are checked when the session starts (fail fast) and again when it finishes.
    checkWritePreconditions(q, bucket.objects.get(name));
    const preconditions = new URLSearchParams();
    for (const k of ['ifGenerationMatch', 'ifGenerationNotMatch', 'ifMetagenerationMatch']) {
      const v = q.get(k);
      if (v !== null) preconditions.set(k, v);
    }
    const declared = req.headers['x-upload-content-length'];
    const id = randomBytes(16).toString('hex');
    state.sessions.set(id, {
      id,
      bucket: bucketName,
      name,
      resource,
      preconditions,
      ...(declared !== undefined ? { declaredSize: Number(declared) } : {}),
      chunks: [],
      persisted: 0,
      state: 'open',
    });
    const location = `${base}/upload/storage/v1/b/${encodeURIComponent(bucketName)}/o?uploadType=resumable&name=${encodeURIComponent(name)}&upload_id=${id}`;
    return send(200, {}, { Location: location });
  }
  throw badRequest(`Invalid upload type: ${uploadType}`);
}

async function resumableChunk(state: GcsEmulatorState, req: http.IncomingMessage, id: string, base: string, send: Send): Promise<void> {
  const body = await readBody(req);
  const s = state.sessions.get(id);
  if (!s) throw new HttpError(404, 'No such upload session (it was cancelled, finished long ago, or never existed).', 'notFound');
  const method = req.method ?? 'PUT';
  if (method === 'DELETE') {
    // GCS answers a cancelled session with 499 "Client Closed Request".
    state.sessions.delete(id);
    return send(499, { error: { code: 499, message: 'Upload cancelled.', errors: [{ message: 'Upload cancelled.', domain: 'global', reason: 'clientClosedRequest' }] } });
  }
  if (method !== 'PUT' && method !== 'POST') throw new HttpError(405, `Method ${method} not supported on an upload session.`, 'notSupported');
  if (s.state === 'done') return send(200, objectResource(s.bucket, s.result!, base));
  if (s.state === 'failed') throw new HttpError(410, 'The upload session failed earlier; start a new one.', 'gone');

  // No Content-Range: the whole object in one request.
  const range = parseContentRange(req.headers['content-range']) ?? { start: 0, openEnd: true };
  const rangeHeader = (): Record<string, string> => (s.persisted > 0 ? { Range: `bytes=0-${s.persisted - 1}` } : {});
  if (range.start !== undefined) {
    const end = range.end ?? range.start + body.length - 1;
    if (range.openEnd) {
      if (range.total !== undefined && range.total !== end + 1) throw badRequest(`Content-Range declares ${range.total} bytes but the upload ends at ${end + 1}.`);
      range.total = end + 1;
    }
    if (end - range.start + 1 !== body.length) throw badRequest(`Content-Range covers ${end - range.start + 1} bytes but the body has ${body.length}.`);
    if (range.start > s.persisted) throw badRequest(`Chunk starts at ${range.start} but the session holds ${s.persisted} bytes.`);
    // Bytes the session already holds are skipped, as GCS does for a resent chunk.
    const fresh = body.subarray(Math.min(body.length, s.persisted - range.start));
    let keep = fresh.length;
    const final = range.total !== undefined && end + 1 === range.total;
    if (!final) keep = Math.floor((s.persisted + fresh.length) / RESUMABLE_UNIT) * RESUMABLE_UNIT - s.persisted;
    if (keep > 0) {
      s.chunks.push(fresh.subarray(0, keep)); // a view: the request body buffer is ours alone
      s.persisted += keep;
    }
  }
  if (range.total === undefined || s.persisted < range.total) return send(308, undefined, rangeHeader());
  if (s.persisted > range.total) throw badRequest(`The session holds ${s.persisted} bytes, more than the declared total ${range.total}.`);
  if (s.declaredSize !== undefined && s.declaredSize !== range.total) {
    throw badRequest(`Upload declared ${s.declaredSize} bytes (X-Upload-Content-Length) but finished with ${range.total}.`);
  }
  const bucket = state.buckets.get(s.bucket);
  if (!bucket) throw notFoundBucket();
  try {
    const o = commitObject(state, bucket, s.name, Buffer.concat(s.chunks), s.resource, s.preconditions, hashesFromHeader(req.headers['x-goog-hash']));
    s.state = 'done';
    s.result = o;
    s.chunks = [];
    return send(200, objectResource(s.bucket, o, base));
  } catch (err) {
    s.state = 'failed';
    s.chunks = [];
    throw err;
  }
}

/** A tiny control API so an out-of-process emulator can be inspected and steered. */
async function control(state: GcsEmulatorState, req: http.IncomingMessage, path: string, q: URLSearchParams, send: Send): Promise<void> {
  const body = await readBody(req);
  switch (path) {
    case '/_emulator/stats':
      return send(200, { requests: state.requests, pendingUploads: pendingUploads(state), buckets: [...state.buckets.keys()] });
    case '/_emulator/reset':
      for (const b of state.buckets.values()) {
        b.objects.clear();
        b.sorted = null;
      }
      state.sessions.clear();
      state.faults.length = 0;
      return send(204);
    case '/_emulator/fault': {
      const f = parseJson(body) as unknown as Fault;
      state.faults.push(f);
      return send(204);
    }
    case '/_emulator/corrupt-next-upload':
      state.corruptNextUpload = q.get('off') === null;
      return send(204);
    default:
      throw new HttpError(404, `Unknown control path ${path}.`, 'notFound');
  }
}

function pendingUploads(state: GcsEmulatorState): number {
  let n = 0;
  for (const s of state.sessions.values()) if (s.state === 'open') n++;
  return n;
}

// ---------------------------------------------------------------- start / stop

export interface GcsEmulator {
  /** `http://127.0.0.1:P` */
  endpoint: string;
  port: number;
  state: GcsEmulatorState;
  /** Requests served so far. */
  requests(): number;
  /** Resumable sessions started and neither finished nor cancelled. */
  pendingUploads(): number;
  /** Make the next matching request(s) fail. */
  injectFault(f: Fault): void;
  /** Replace the stored bytes of an object without touching its recorded hashes (bit rot). */
  tamper(bucket: string, name: string, edit: (data: Buffer) => Buffer): void;
  stop(): Promise<void>;
}

export async function startGcsEmulator(opts: GcsEmulatorOptions = {}): Promise<GcsEmulator> {
  const { server, state } = createGcsEmulatorServer(opts);
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://${host}:${port}`,
    port,
    state,
    requests: () => state.requests,
    pendingUploads: () => pendingUploads(state),
    injectFault: (f) => void state.faults.push({ ...f }),
    tamper(bucket, name, edit) {
      const o = state.buckets.get(bucket)?.objects.get(name);
      if (!o) throw new Error(`tamper: no object ${bucket}/${name}`);
      o.data = edit(Buffer.from(o.data));
    },
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

// ---------------------------------------------------------------- command line

function parseArgs(argv: string[]): GcsEmulatorOptions {
  const opts: GcsEmulatorOptions = { buckets: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--port') opts.port = Number(value());
    else if (a === '--host') opts.host = value();
    else if (a === '--bucket') opts.buckets!.push(value());
    else if (a === '--require-auth') opts.requireAuth = true;
    else if (a === '--log') opts.log = (line) => process.stderr.write(line + '\n');
    else throw new Error(`Unknown option ${a}. Usage: gcs-emulator [--port P] [--host H] [--bucket NAME]... [--require-auth] [--log]`);
  }
  return opts;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    const emu = await startGcsEmulator(parseArgs(process.argv.slice(2)));
    process.stdout.write(JSON.stringify({ endpoint: emu.endpoint, port: emu.port, pid: process.pid }) + '\n');
    const shutdown = () => void emu.stop().finally(() => process.exit(0));
    process.on('SIGTERM', shutdown);
    process.on('SIGINT', shutdown);
  } catch (err) {
    process.stderr.write(`gcs-emulator: ${(err as Error).message}\n`);
    process.exit(2);
  }
}
