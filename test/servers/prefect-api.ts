/**
 * A tiny stand-in for the Prefect REST API on 127.0.0.1: just the reads flowsync's steps make.
 *   GET /api/block_types/slug/{slug}/block_documents/name/{name}?include_secrets=true → {data}
 *   GET /api/block_documents/{id}?include_secrets=true                               → {data}
 *   GET /api/variables/name/{name}                                                   → {value}
 * Unknown names answer 404 as Prefect does. With `apiKey`, requests without
 * `Authorization: Bearer <apiKey>` get 401. Every request is recorded for assertions.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface PrefectApiState {
  /** blocks[slug][name] = data */
  blocks: Record<string, Record<string, Record<string, unknown>>>;
  /** block documents by id (for {"$ref": {"block_document_id": id}}) */
  blockDocuments: Record<string, Record<string, unknown>>;
  variables: Record<string, unknown>;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: string;
  authorization: string | undefined;
}

export interface PrefectApiServer {
  /** e.g. http://127.0.0.1:41234/api — what PREFECT_API_URL holds. */
  url: string;
  state: PrefectApiState;
  requests: RecordedRequest[];
  stop(): Promise<void>;
}

export async function startPrefectApi(initial: Partial<PrefectApiState> = {}, opts: { apiKey?: string } = {}): Promise<PrefectApiServer> {
  const state: PrefectApiState = { blocks: {}, blockDocuments: {}, variables: {}, ...initial };
  const requests: RecordedRequest[] = [];

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    requests.push({ method: req.method ?? '', path: url.pathname, query: url.search, authorization: req.headers.authorization });
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (opts.apiKey && req.headers.authorization !== `Bearer ${opts.apiKey}`) return send(401, { detail: 'Unauthorized' });
    if (req.method !== 'GET') return send(405, { detail: 'Method Not Allowed' });
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    // /api/block_types/slug/{slug}/block_documents/name/{name}
    if (parts.length === 7 && parts[0] === 'api' && parts[1] === 'block_types' && parts[2] === 'slug' && parts[4] === 'block_documents' && parts[5] === 'name') {
      const data = state.blocks[parts[3]!]?.[parts[6]!];
      if (!data) return send(404, { detail: 'Block document not found' });
      // Prefect hides secret values unless include_secrets=true.
      if (url.searchParams.get('include_secrets') !== 'true') return send(200, { name: parts[6], data: maskAll(data) });
      return send(200, { id: `id-${parts[6]}`, name: parts[6], block_type: { slug: parts[3] }, data });
    }
    if (parts.length === 3 && parts[0] === 'api' && parts[1] === 'block_documents') {
      const data = state.blockDocuments[parts[2]!];
      if (!data) return send(404, { detail: 'Block document not found' });
      return send(200, { id: parts[2], data: url.searchParams.get('include_secrets') === 'true' ? data : maskAll(data) });
    }
    if (parts.length === 4 && parts[0] === 'api' && parts[1] === 'variables' && parts[2] === 'name') {
      if (!Object.prototype.hasOwnProperty.call(state.variables, parts[3]!)) return send(404, { detail: 'Variable not found' });
      return send(200, { name: parts[3], value: state.variables[parts[3]!] });
    }
    return send(404, { detail: 'Not Found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api`,
    state,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function maskAll(data: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.keys(data).map((k) => [k, '**********']));
}
