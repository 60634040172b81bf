/**
 * A counting pass-through proxy in front of an object store: every contender talks to it, so
 * the harness can report how many requests each one sent (over a real WAN, round trips are what
 * costs). It forwards bytes untouched (the Host header included: SigV4 and Azure SharedKey sign
 * it or the path, and the emulators do not mind) and counts requests by method and bytes each way.
 *
 * It can also model a cloud region (`setNetwork`), on loopback only:
 * - latency: one round trip per request, half before the request goes upstream and half before
 *   the response headers come back; the first request on a new connection pays one more round
 *   trip (the TCP handshake), so a client without keep-alive pays what it would pay over a WAN;
 * - bandwidth: an optional cap on the bytes per second each way, shared by all connections
 *   (a token bucket), as a site's uplink would be.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';

export interface RequestCounts {
  total: number;
  byMethod: Record<string, number>;
  bytesUp: number;
  bytesDown: number;
  /** New TCP connections the clients opened (each one a handshake over a real network). */
  connections: number;
  /** Requests the proxy could not forward (connection errors): should stay 0. */
  proxyErrors: number;
}

export interface NetworkModel {
  /** Round trip added to every request, in ms (0: plain loopback). */
  latencyMs: number;
  /** Bytes per second each way, all connections together (null: no cap). */
  bandwidthBps: number | null;
}

export const LOOPBACK: NetworkModel = { latencyMs: 0, bandwidthBps: null };

export interface CountingProxy {
  endpoint: string;
  port: number;
  /** Counts since the last reset. */
  snapshot(): RequestCounts;
  reset(): void;
  /** Change the modelled network (applies to requests that start from now on). */
  setNetwork(model: NetworkModel): void;
  close(): Promise<void>;
}

function emptyCounts(): RequestCounts {
  return { total: 0, byMethod: {}, bytesUp: 0, bytesDown: 0, connections: 0, proxyErrors: 0 };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A token bucket: take(n) resolves when n bytes may pass at `rate` bytes per second. */
class Bucket {
  private nextFree = 0;
  constructor(readonly rate: number) {}
  async take(n: number): Promise<void> {
    const now = performance.now();
    const start = Math.max(now, this.nextFree);
    this.nextFree = start + (n / this.rate) * 1000;
    // Let a burst of up to 5 ms of traffic through at once: timers are not finer than that.
    const wait = this.nextFree - now - 5;
    if (wait > 0) await sleep(wait);
  }
}

/** Counts the bytes that pass and, with a bucket, holds them back to its rate. */
function meter(count: (n: number) => void, bucket: Bucket | null): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      count(chunk.length);
      if (!bucket) return done(null, chunk);
      bucket.take(chunk.length).then(() => done(null, chunk), done);
    },
  });
}

export async function startCountingProxy(targetPort: number): Promise<CountingProxy> {
  let counts = emptyCounts();
  let model: NetworkModel = LOOPBACK;
  let up: Bucket | null = null;
  let down: Bucket | null = null;
  const fresh = new WeakSet<Socket>();
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const server = http.createServer((req, res) => {
    const c = counts;
    const m = model;
    c.total++;
    c.byMethod[req.method ?? '?'] = (c.byMethod[req.method ?? '?'] ?? 0) + 1;
    const handshake = fresh.has(req.socket) ? m.latencyMs : 0;
    fresh.delete(req.socket);
    const headers = { ...req.headers };
    // Node already answered "100 Continue" to the client; the body follows at once upstream.
    delete headers.expect;
    const forward = () => {
      const upstream = http.request({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers, agent }, (ures) => {
        const reply = () => {
          res.writeHead(ures.statusCode ?? 502, ures.statusMessage, ures.rawHeaders);
          ures.pipe(meter((n) => (c.bytesDown += n), down)).pipe(res);
        };
        ures.on('error', () => res.destroy());
        if (m.latencyMs > 0) setTimeout(reply, m.latencyMs / 2);
        else reply();
      });
      upstream.on('error', () => {
        c.proxyErrors++;
        if (!res.headersSent) res.writeHead(502);
        res.destroy();
      });
      req.pipe(meter((n) => (c.bytesUp += n), up)).pipe(upstream);
    };
    req.on('error', () => res.destroy());
    const delay = handshake + m.latencyMs / 2;
    if (delay > 0) {
      // The body waits in the socket until then (paused), as it would still be on the wire.
      req.pause();
      setTimeout(forward, delay);
    } else forward();
  });
  server.on('connection', (socket: Socket) => {
    counts.connections++;
    fresh.add(socket);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    snapshot: () => ({ ...counts, byMethod: { ...counts.byMethod } }),
    reset: () => {
      counts = emptyCounts();
    },
    setNetwork: (next) => {
      model = next;
      up = next.bandwidthBps ? new Bucket(next.bandwidthBps) : null;
      down = next.bandwidthBps ? new Bucket(next.bandwidthBps) : null;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
