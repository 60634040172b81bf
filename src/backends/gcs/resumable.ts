/**
 * GCS resumable upload sessions: one session is one MultipartWriter (sequential parts, whole
 * 256 KiB units). Plain node:http(s) with the shared agents rather than the SDK or fetch: fetch
 * copies every request body (a 16 MiB copy per part), and the SDK's upload stream re-hashes.
 */
import http from 'node:http';
import https from 'node:https';
import type { FileMetadata } from '@google-cloud/storage';
import { FlowsyncError, throwIfAborted } from '../../errors.js';
import { agentFor } from '../../util/http.js';
import type { MultipartInfo, MultipartWriter } from '../types.js';
import { gcsError, type ErrorContext } from './errors.js';
import { infoOf } from './metadata.js';

/** GCS resumable uploads take every chunk but the last in whole units of 256 KiB. */
export const GCS_CHUNK_UNIT = 256 * 1024;


interface SessionResponse {
  status: number;
  range: string | null;
  text: string;
}

/**
 * One request to a resumable session URI. The URI itself authorises the upload (GCS hands it out
 * to an authenticated caller), so no credentials go with it. Plain node:http(s) rather than
 * fetch: fetch copies every request body, which costs a 16 MiB copy per part.
 */
function sessionRequest(uri: string, method: 'PUT' | 'DELETE', headers: Record<string, string>, body: Uint8Array, signal?: AbortSignal): Promise<SessionResponse> {
  const url = new URL(uri);
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const options = { method, agent: agentFor(url), headers: { ...headers, 'Content-Length': String(body.length) }, ...(signal ? { signal } : {}) };
    const req = transport.request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const range = res.headers['range'];
        resolve({ status: res.statusCode ?? 0, range: typeof range === 'string' ? range : null, text: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * One GCS resumable session as a MultipartWriter. Bytes are sent in whole 256 KiB units as parts
 * arrive; the tail of the object is held until complete(), which sends the final chunk with the
 * total and X-Goog-Hash (the engine's md5 of the whole object), so GCS refuses corrupted content
 * and nothing is visible before complete().
 */
export function resumableWriter(uri: string, key: string, w: MultipartInfo, ctx: (action: string) => ErrorContext): MultipartWriter {
  let sent = 0; // bytes the session holds
  let received = 0; // bytes handed to writePart
  let held: Buffer = Buffer.alloc(0); // received but not sent yet
  let nextPart = 1;
  let state: 'open' | 'done' | 'aborted' = 'open';
  let resync = false; // a PUT failed: ask the session where it stands before sending again
  let chain: Promise<unknown> = Promise.resolve();
  const gone = () => new FlowsyncError('NOT_FOUND', `Upload of gs://…/${key} was aborted or has expired; start it again.`);

  async function put(body: Uint8Array, contentRange: string, extra: Record<string, string>, signal?: AbortSignal): Promise<SessionResponse> {
    try {
      return await sessionRequest(uri, 'PUT', { 'Content-Range': contentRange, ...extra }, body, signal);
    } catch (err) {
      throw gcsError(err, { ...ctx('upload'), ...(signal ? { signal } : {}) });
    }
  }

  const fail = (r: SessionResponse, action: string, signal?: AbortSignal): FlowsyncError => {
    if (r.status === 404 || r.status === 410) return gone();
    return gcsError({ code: r.status, message: r.text || `HTTP ${r.status}` }, { ...ctx(action), ...(signal ? { signal } : {}) });
  };
  const persistedOf = (range: string | null) => (range ? Number(/bytes=0-(\d+)/.exec(range)?.[1] ?? -1) + 1 : 0);

  /** Ask the session how many bytes it holds (after a failed PUT), and drop those from `held`. */
  async function resynchronise(signal?: AbortSignal): Promise<void> {
    const r = await put(new Uint8Array(0), 'bytes */*', {}, signal);
    if (r.status !== 308) throw fail(r, 'resume the upload of', signal);
    const persisted = persistedOf(r.range);
    if (persisted < sent || persisted > sent + held.length) {
      throw new FlowsyncError('INTERNAL', `Upload of ${key}: the session holds ${persisted} bytes, expected ${sent}..${sent + held.length}.`);
    }
    held = held.subarray(persisted - sent);
    sent = persisted;
    resync = false;
  }

  /** Send the whole 256 KiB units of `held`, keeping at least `reserve` bytes back. */
  async function sendUnits(reserve: number, signal?: AbortSignal): Promise<void> {
    const n = Math.floor(Math.max(0, held.length - reserve) / GCS_CHUNK_UNIT) * GCS_CHUNK_UNIT;
    if (n === 0) return;
    const r = await put(held.subarray(0, n), `bytes ${sent}-${sent + n - 1}/*`, {}, signal).catch((err: unknown) => {
      resync = true;
      throw err;
    });
    if (r.status !== 308) {
      resync = r.status >= 500 || r.status === 429 || r.status === 408;
      throw fail(r, 'upload a part of', signal);
    }
    const persisted = persistedOf(r.range);
    held = held.subarray(persisted - sent);
    sent = persisted;
  }

  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn, fn);
    chain = run.catch(() => {});
    return run;
  };

  return {
    writePart(n, data, _info, o) {
      return serial(async () => {
        throwIfAborted(o?.signal);
        if (state !== 'open') throw gone();
        if (resync) await resynchronise(o?.signal);
        if (n > nextPart) {
          throw new FlowsyncError('INTERNAL', `Upload of ${key}: part ${n} arrived before part ${nextPart}; GCS resumable uploads need parts in order.`);
        }
        // n < nextPart: a retry of a part already taken in (its bytes are held); just send on.
        if (n === nextPart) {
          if (w.size !== undefined && received + data.length > w.size) throw new FlowsyncError('INTERNAL', `Upload of ${key}: parts add up to more than ${w.size} bytes.`);
          // A view of the caller's bytes: sent now, or copied below before writePart returns.
          held = held.length ? Buffer.concat([held, data]) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
          received += data.length;
          nextPart++;
        }
        try {
          // The last byte(s) stay held until complete(): the object is committed only then.
          // Holding back just the tail (< 256 KiB + 1 B) keeps complete() cheap; with the total
          // unknown (a stream), one whole unit stays held so complete() always has bytes to send.
          await sendUnits(received === w.size ? 1 : w.size === undefined ? GCS_CHUNK_UNIT : 0, o?.signal);
        } finally {
          // The caller may reuse its buffer once writePart returns.
          if (held.length) held = Buffer.from(held);
        }
      });
    },

    complete(done, o) {
      return serial(async () => {
        throwIfAborted(o?.signal);
        if (state !== 'open') throw gone();
        if (received !== done.size) throw new FlowsyncError('INTERNAL', `Upload of ${key}: ${received} bytes were written, complete() says ${done.size}.`);
        if (resync) await resynchronise(o?.signal);
        const range = done.size === 0 ? 'bytes */0' : `bytes ${sent}-${done.size - 1}/${done.size}`;
        const hash: Record<string, string> = done.digest ? { 'X-Goog-Hash': `md5=${Buffer.from(done.digest).toString('base64')}` } : {};
        const r = await put(held, range, hash, o?.signal).catch((err: unknown) => {
          resync = true;
          throw err;
        });
        if (r.status !== 200 && r.status !== 201) {
          if (r.status >= 500 || r.status === 429 || r.status === 408) resync = true;
          throw fail(r, 'finish the upload of', o?.signal);
        }
        state = 'done';
        held = Buffer.alloc(0);
        return infoOf(key, JSON.parse(r.text) as FileMetadata);
      });
    },

    async abort() {
      if (state !== 'open') return;
      state = 'aborted';
      held = Buffer.alloc(0);
      // GCS answers 499 to a cancelled session; 404/410 mean it is gone already. Best effort:
      // an unreachable session expires by itself within a week.
      await sessionRequest(uri, 'DELETE', {}, new Uint8Array(0)).catch(() => {});
    },
  };
}

