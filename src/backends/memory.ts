/** An in-memory backend with every feature, for unit tests and as a reference for the conformance suite. */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { FlowsyncError, throwIfAborted } from '../errors.js';
import {
  SHA256_METADATA_KEY,
  type Backend,
  type MultipartWriter,
  type ObjectInfo,
  type Op,
  type ReadOptions,
  type WriteInfo,
} from './types.js';

interface StoredObject {
  data: Buffer;
  etag: string;
  metadata: Record<string, string>;
  lastModified: Date;
}

export interface MemoryBackend extends Backend {
  /** The stored objects, for tests to inspect or tamper with. */
  readonly objects: Map<string, StoredObject>;
  /** Multipart uploads begun and neither completed nor aborted. */
  readonly pendingUploads: Set<string>;
}

export function createMemoryBackend(): MemoryBackend {
  const objects = new Map<string, StoredObject>();
  const pendingUploads = new Set<string>();

  const info = (key: string, o: StoredObject): ObjectInfo => ({
    key,
    size: o.data.length,
    etag: o.etag,
    lastModified: o.lastModified,
    metadata: { ...o.metadata },
    ...(o.metadata[SHA256_METADATA_KEY] ? { sha256: o.metadata[SHA256_METADATA_KEY] } : {}),
  });

  const store = (key: string, data: Buffer, w: Omit<WriteInfo, 'size'>): ObjectInfo => {
    const current = objects.get(key);
    if (w.ifNoneMatch === '*' && current) {
      throw new FlowsyncError('PRECONDITION_FAILED', `${key} already exists.`);
    }
    if (w.ifMatch !== undefined && current?.etag !== w.ifMatch) {
      throw new FlowsyncError('PRECONDITION_FAILED', `${key} changed since it was read.`);
    }
    const metadata: Record<string, string> = { ...w.metadata };
    if (w.sha256) metadata[SHA256_METADATA_KEY] = w.sha256;
    const o: StoredObject = { data, etag: randomUUID(), metadata, lastModified: new Date() };
    objects.set(key, o);
    return info(key, o);
  };

  return {
    name: 'memory',
    features: { multipart: true, conditionalWrite: true, rangeRead: true, metadata: true, transportDigest: null },
    limits: { deleteBatch: 1000, multipart: { minPartSize: 1, maxPartSize: 5 * 1024 ** 3, maxParts: 10_000 } },
    tuning: { concurrency: 8, multipartThreshold: 8 * 1024 * 1024, partSize: 8 * 1024 * 1024 },
    objects,
    pendingUploads,

    async stat(key, o?: Op) {
      throwIfAborted(o?.signal);
      const obj = objects.get(key);
      return obj ? info(key, obj) : null;
    },

    async *list(prefix, o?: Op) {
      throwIfAborted(o?.signal); // also when nothing matches
      for (const [key, obj] of [...objects.entries()]) {
        throwIfAborted(o?.signal);
        if (key.startsWith(prefix)) yield info(key, obj);
      }
    },

    async read(key, o?: ReadOptions) {
      throwIfAborted(o?.signal);
      const obj = objects.get(key);
      if (!obj) throw new FlowsyncError('NOT_FOUND', `No object at ${key}.`);
      const data = o?.range ? obj.data.subarray(o.range[0], Math.min(o.range[1], obj.data.length)) : obj.data;
      return Readable.from([Buffer.from(data)]);
    },

    async write(key, body, w, o?: Op) {
      throwIfAborted(o?.signal);
      return store(key, Buffer.from(body), w);
    },

    async delete(keys, o?: Op) {
      throwIfAborted(o?.signal);
      for (const k of keys) objects.delete(k);
    },

    async openMultipart(key, w, o?: Op): Promise<MultipartWriter> {
      throwIfAborted(o?.signal);
      const id = randomUUID();
      pendingUploads.add(id);
      const parts = new Map<number, Buffer>();
      return {
        async writePart(n, data, _info, po) {
          throwIfAborted(po?.signal);
          if (!pendingUploads.has(id)) throw new FlowsyncError('NOT_FOUND', `Upload of ${key} was aborted.`);
          parts.set(n, Buffer.from(data));
        },
        async complete(_done, po) {
          throwIfAborted(po?.signal);
          if (!pendingUploads.has(id)) throw new FlowsyncError('NOT_FOUND', `Upload of ${key} was aborted.`);
          const numbers = [...parts.keys()].sort((a, b) => a - b);
          numbers.forEach((n, i) => {
            if (n !== i + 1) throw new FlowsyncError('INTERNAL', `Upload of ${key} is missing part ${i + 1}.`);
          });
          const result = store(key, Buffer.concat(numbers.map((n) => parts.get(n)!)), w);
          pendingUploads.delete(id);
          return result;
        },
        async abort() {
          pendingUploads.delete(id);
          parts.clear();
        },
      };
    },
  };
}
