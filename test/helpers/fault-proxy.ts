/**
 * A seeded fault-injecting HTTP proxy for tests, between flowsync and a real store server
 * (s3rver, Azurite). Loopback only. Per request it may, by a seeded draw:
 * - `reset`: forward the request, let the server act on it, then reset the client connection
 *   before any reply (a lost reply: the write happened, the client cannot know);
 * - `error`: answer 500 or 503 with the store's own error body (S3 XML, Azure XML plus its
 *   x-ms-error-code header), without forwarding;
 * - `truncate`: forward, then send only part of the response body and cut the connection;
 * - `delay`: hold the request a few milliseconds first.
 * Faults are bounded: one request (method + URL) is faulted at most `maxFaultsPerRequest` times,
 * so an engine retrying at least that many times more always gets through; a test that fails
 * then shows a real bug, not an unlucky draw. Explicit `rules` inject a fault on chosen requests.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { prng } from './tree.js';

export type FaultKind = 'reset' | 'error' | 'truncate' | 'delay';
export type StoreDialect = 's3' | 'azure';

export interface FaultRule {
  /** Which requests: method and URL (path + query) tested together as "METHOD url". */
  match: RegExp;
  fault: Exclude<FaultKind, 'delay'>;
  /** How many matching requests get the fault (default 1). */
  times?: number;
}

export interface FaultProxyOptions {
  target: { host: string; port: number };
  dialect: StoreDialect;
  seed: number;
  /** Probability of each random fault per request (default 0: only rules apply). */
  rates?: Partial<Record<FaultKind, number>>;
  maxFaultsPerRequest?: number;
  rules?: FaultRule[];
}

export interface FaultProxy {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  port: number;
  /** Faults injected so far, by kind. */
  injected: Record<FaultKind, number>;
  requests: number;
  /** Turn random faults off or on (rules still apply). */
  setEnabled(on: boolean): void;
  close(): Promise<void>;
}

function errorReply(dialect: StoreDialect, status: 500 | 503): { headers: Record<string, string>; body: string } {
  if (dialect === 's3') {
    const code = status === 503 ? 'SlowDown' : 'InternalError';
    const message = status === 503 ? 'Please reduce your request rate.' : 'We encountered an internal error. Please try again.';
    return {
      headers: { 'content-type': 'application/xml', 'x-amz-request-id': 'FAULTPROXY' },
      body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>FAULTPROXY</RequestId></Error>`,
    };
  }
  const code = status === 503 ? 'ServerBusy' : 'InternalError';
  const message = status === 503 ? 'The server is currently unable to receive requests. Please retry your request.' : 'The server encountered an internal error. Please retry the request.';
  return {
    headers: { 'content-type': 'application/xml', 'x-ms-error-code': code, 'x-ms-request-id': 'faultproxy' },
    body: `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}\nRequestId:faultproxy</Message></Error>`,
  };
}

export async function startFaultProxy(o: FaultProxyOptions): Promise<FaultProxy> {
  const random = prng(o.seed);
  const rates = o.rates ?? {};
  const maxFaults = o.maxFaultsPerRequest ?? 2;
  const faultsOf = new Map<string, number>();
  const ruleUses = new Map<FaultRule, number>();
  const injected: Record<FaultKind, number> = { reset: 0, error: 0, truncate: 0, delay: 0 };
  let enabled = true;
  const state = { requests: 0 };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  const pick = (req: http.IncomingMessage): FaultKind | null => {
    const line = `${req.method} ${req.url}`;
    for (const r of o.rules ?? []) {
      const used = ruleUses.get(r) ?? 0;
      if (used < (r.times ?? 1) && r.match.test(line)) {
        ruleUses.set(r, used + 1);
        return r.fault;
      }
    }
    if (!enabled) return null;
    const seen = faultsOf.get(line) ?? 0;
    const draw = random();
    let acc = 0;
    for (const kind of ['reset', 'error', 'truncate', 'delay'] as FaultKind[]) {
      acc += rates[kind] ?? 0;
      if (draw < acc) {
        if (kind !== 'delay') {
          if (seen >= maxFaults) return null;
          faultsOf.set(line, seen + 1);
        }
        return kind;
      }
    }
    return null;
  };

  const server = http.createServer((req, res) => {
    state.requests++;
    const fault = pick(req);
    if (fault) injected[fault]++;
    if (fault === 'error') {
      req.resume();
      const status = random() < 0.5 ? 500 : 503;
      const { headers, body } = errorReply(o.dialect, status);
      req.on('end', () => res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body) }).end(body));
      return;
    }
    const forward = () => {
      const upstream = http.request(
        { host: o.target.host, port: o.target.port, method: req.method, path: req.url, headers: req.headers, agent },
        (up) => {
          if (fault === 'reset') {
            // The server has acted on the request; the client never hears of it.
            up.resume();
            req.socket.destroy();
            return;
          }
          if (fault === 'truncate') {
            const declared = Number(up.headers['content-length'] ?? 0);
            res.writeHead(up.statusCode ?? 502, up.headers);
            let sent = 0;
            const cut = Math.floor(declared / 2);
            up.on('data', (chunk: Buffer) => {
              if (sent >= cut) return;
              const part = chunk.subarray(0, cut - sent);
              sent += part.length;
              res.write(part);
              if (sent >= cut) {
                up.destroy();
                req.socket.destroy();
              }
            });
            up.on('end', () => req.socket.destroy());
            return;
          }
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', () => req.socket.destroy());
      req.pipe(upstream);
    };
    if (fault === 'delay') setTimeout(forward, 1 + Math.floor(random() * 20));
    else forward();
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    injected,
    get requests() {
      return state.requests;
    },
    setEnabled: (on) => {
      enabled = on;
    },
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
