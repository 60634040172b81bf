/**
 * Blocks and variables from the Prefect REST API (`PREFECT_API_URL`, bearer `PREFECT_API_KEY`),
 * the same two reads Prefect's own client makes:
 *   GET {api}/block_types/slug/{slug}/block_documents/name/{name}?include_secrets=true → .data
 *   GET {api}/block_documents/{id}?include_secrets=true                               → .data
 *   GET {api}/variables/name/{name}                                                   → .value
 * 404 means "not here"; anything else that is not 2xx is an error that says what to check.
 */
import { FlowsyncError } from '../../errors.js';
import { registerSecret } from '../../secrets.js';
import type { BlockSource } from './types.js';

const TIMEOUT_MS = 30_000;

export interface PrefectApiOptions {
  url: string;
  apiKey?: string;
  signal?: AbortSignal;
}

export function prefectApiSource(o: PrefectApiOptions): BlockSource {
  const base = o.url.replace(/\/+$/, '');
  registerSecret(o.apiKey);

  async function getJson(route: string, what: string): Promise<Record<string, unknown> | null> {
    const url = `${base}${route}`;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (o.apiKey) headers['authorization'] = `Bearer ${o.apiKey}`;
    const timeout = AbortSignal.timeout(TIMEOUT_MS);
    const signal = o.signal ? AbortSignal.any([o.signal, timeout]) : timeout;
    let res: Response;
    try {
      res = await fetch(url, { headers, signal });
    } catch (err) {
      if (o.signal?.aborted) throw new FlowsyncError('ABORTED', 'Operation cancelled.', { cause: err });
      const reason = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new FlowsyncError(
        'UNREACHABLE',
        `Cannot reach the Prefect API at ${base} to read ${what}: ${reason?.code ?? reason?.message ?? (err as Error).message}. ` +
          'Check PREFECT_API_URL, or unset it and pass the block with --blocks FILE.',
        { cause: err },
      );
    }
    if (res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    const body = await res.text();
    if (res.status === 401 || res.status === 403) {
      throw new FlowsyncError(
        res.status === 401 ? 'AUTH' : 'PERMISSION',
        `The Prefect API at ${base} refused to give ${what} (HTTP ${res.status}). Check PREFECT_API_KEY and that the key may read blocks and variables.`,
      );
    }
    if (!res.ok) {
      throw new FlowsyncError(
        res.status >= 500 || res.status === 429 ? 'TRANSIENT' : 'INVALID_INPUT',
        `The Prefect API at ${base} answered HTTP ${res.status} when asked for ${what}: ${body.slice(0, 300)}`,
      );
    }
    try {
      const parsed = JSON.parse(body) as unknown;
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
      return parsed as Record<string, unknown>;
    } catch (err) {
      throw new FlowsyncError('INVALID_INPUT', `The Prefect API at ${base} gave an unreadable answer for ${what}: ${(err as Error).message}. Is PREFECT_API_URL the API URL (…/api)?`, { cause: err });
    }
  }

  function dataOf(doc: Record<string, unknown> | null, what: string): Record<string, unknown> | null {
    if (doc === null) return null;
    const data = doc['data'];
    if (data === null || typeof data !== 'object' || Array.isArray(data)) {
      throw new FlowsyncError('INVALID_INPUT', `The Prefect API gave ${what} without a "data" mapping. Is PREFECT_API_URL the API URL (…/api)?`);
    }
    return data as Record<string, unknown>;
  }

  const seg = encodeURIComponent;
  return {
    description: `Prefect API ${base}`,
    async readBlock(slug, name) {
      const what = `block ${slug}/${name}`;
      return dataOf(await getJson(`/block_types/slug/${seg(slug)}/block_documents/name/${seg(name)}?include_secrets=true`, what), what);
    },
    async readBlockById(id) {
      const what = `block document ${id}`;
      return dataOf(await getJson(`/block_documents/${seg(id)}?include_secrets=true`, what), what);
    },
    async readVariable(name) {
      const doc = await getJson(`/variables/name/${seg(name)}`, `variable ${name}`);
      return doc === null ? null : { value: doc['value'] };
    },
  };
}
