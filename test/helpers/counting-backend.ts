/**
 * A real backend wrapped to count its calls (requests, for request budgets) and, optionally, to
 * hold a call until a test lets it go (to put a race or a gc exactly where a test wants it).
 */
import type { Backend, MultipartInfo, ObjectInfo, Op, ReadOptions, WriteInfo } from '../../src/backends/types.js';
import type { Readable } from 'node:stream';

export interface Counted extends Backend {
  calls: { method: string; key: string; range?: [number, number] }[];
  reset(): void;
  count(method?: string, keyPart?: string): number;
}

export function counting(inner: Backend, hooks: { beforeWrite?: (key: string, info: WriteInfo) => Promise<void> | void } = {}): Counted {
  const calls: Counted['calls'] = [];
  const b: Counted = {
    name: inner.name,
    features: inner.features,
    tuning: inner.tuning,
    limits: inner.limits,
    calls,
    reset: () => void calls.splice(0),
    count: (method, keyPart) => calls.filter((c) => (!method || c.method === method) && (!keyPart || c.key.includes(keyPart))).length,
    stat(key: string, o?: Op): Promise<ObjectInfo | null> {
      calls.push({ method: 'stat', key });
      return inner.stat(key, o);
    },
    list(prefix: string, o?: Op) {
      calls.push({ method: 'list', key: prefix });
      return inner.list(prefix, o);
    },
    read(key: string, o?: ReadOptions): Promise<Readable> {
      calls.push({ method: 'read', key, ...(o?.range ? { range: o.range } : {}) });
      return inner.read(key, o);
    },
    async write(key: string, body: Uint8Array, info: WriteInfo, o?: Op) {
      calls.push({ method: 'write', key });
      await hooks.beforeWrite?.(key, info);
      return inner.write(key, body, info, o);
    },
    delete(keys: string[], o?: Op) {
      calls.push({ method: 'delete', key: keys.join(',') });
      return inner.delete(keys, o);
    },
    ...(inner.openMultipart
      ? {
          openMultipart(key: string, info: MultipartInfo, o?: Op) {
            calls.push({ method: 'multipart', key });
            return inner.openMultipart!(key, info, o);
          },
        }
      : {}),
    ...(inner.close ? { close: () => inner.close!() } : {}),
  };
  return b;
}
