/**
 * A counting pass-through proxy in front of the object store: every contender talks to it, so
 * the harness can report how many requests each one sent (over a real WAN, round trips are what
 * costs). It forwards bytes untouched (the Host header included: SigV4 signs it, and s3rver does
 * not check signatures anyway) and counts requests by method and bytes each way.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RequestCounts {
  total: number;
  byMethod: Record<string, number>;
  bytesUp: number;
  bytesDown: number;
  /** Requests the proxy could not forward (connection errors): should stay 0. */
  proxyErrors: number;
}

export interface CountingProxy {
  endpoint: string;
  port: number;
  /** Counts since the last reset. */
  snapshot(): RequestCounts;
  reset(): void;
  close(): Promise<void>;
}

function emptyCounts(): RequestCounts {
  return { total: 0, byMethod: {}, bytesUp: 0, bytesDown: 0, proxyErrors: 0 };
}

export async function startCountingProxy(targetPort: number): Promise<CountingProxy> {
  let counts = emptyCounts();
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const server = http.createServer((req, res) => {
    const c = counts;
    c.total++;
    c.byMethod[req.method ?? '?'] = (c.byMethod[req.method ?? '?'] ?? 0) + 1;
    const headers = { ...req.headers };
    // Node already answered "100 Continue" to the client; the body follows at once upstream.
    delete headers.expect;
    const upstream = http.request(
      { host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers, agent },
      (ures) => {
        res.writeHead(ures.statusCode ?? 502, ures.statusMessage, ures.rawHeaders);
        ures.on('data', (chunk: Buffer) => (c.bytesDown += chunk.length));
        ures.pipe(res);
        ures.on('error', () => res.destroy());
      },
    );
    upstream.on('error', () => {
      c.proxyErrors++;
      if (!res.headersSent) res.writeHead(502);
      res.destroy();
    });
    req.on('data', (chunk: Buffer) => (c.bytesUp += chunk.length));
    req.pipe(upstream);
    req.on('error', () => upstream.destroy());
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
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
