/**
 * The conformance cases. Each case works in its own folder `<prefix>/<case id>/` so cases do not
 * see each other's objects. Ids are stable: backend test files name them in `knownGaps`.
 */
import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import { expect } from 'vitest';
import { SHA256_METADATA_KEY, type Backend, type BackendFeatures, type WriteInfo } from '../../src/backends/types.js';
import type { TransferContext } from '../../src/transfer/context.js';
import {
  KiB,
  MiB,
  chunkedReadable,
  digestOf,
  expectCode,
  expectListing,
  expectSameBytes,
  listAll,
  readAll,
  seededBytes,
  sha256Hex,
} from './data.js';
import { completeInfo, enginePartSize, engineUsesMultipart, openWriter, partInfo, partOf, smallPartSize, uploadInParts } from './multipart.js';
import { ByteBudget } from '../../src/transfer/budget.js';
import { deleteKeys } from '../../src/transfer/delete.js';
import { uploadStream } from '../../src/transfer/stream-parts.js';
import { Progress } from '../../src/util/progress.js';
import { RETRY_CASES } from './retry-cases.js';

export interface CaseContext {
  backend: Backend;
  /** This case's own folder, no trailing slash. */
  dir: string;
  /** The run's folder, no trailing slash. */
  root: string;
  pendingUploads?: () => Promise<number>;
  shared: SharedData;
  /** Leaves a visible note on the test result (e.g. which path a case took). */
  note: (message: string) => Promise<void>;
}

export interface ConformanceCase {
  id: string;
  title: string;
  /** Features the case cannot run without; it is skipped visibly when one is missing. */
  needs?: (keyof BackendFeatures)[];
  timeoutMs?: number;
  run: (c: CaseContext) => Promise<void>;
}

/** Data made once per suite run and shared by cases, so the big buffers are generated once. */
export class SharedData {
  private big?: Buffer;
  private pagingKeys?: Promise<Map<string, number>>;

  constructor(
    private readonly backend: Backend,
    private readonly root: string,
  ) {}

  /** 50 MB of seeded bytes; smaller cases take slices at different offsets. */
  bigData(): Buffer {
    this.big ??= seededBytes(50_000_000, 'flowsync-conformance');
    return this.big;
  }

  slice(offset: number, size: number): Buffer {
    return this.bigData().subarray(offset, offset + size);
  }

  /** 1,100 small objects under `<root>/paging/` (some in sub-folders), written 32 at once; key -> size. */
  paging(): Promise<Map<string, number>> {
    this.pagingKeys ??= (async () => {
      const keys = new Map<string, number>();
      for (let i = 0; i < PAGING_COUNT; i++) {
        const sub = i % 10 === 0 ? `d${i % 3}/` : '';
        keys.set(`${this.root}/paging/${sub}k-${String(i).padStart(5, '0')}`, i % 13);
      }
      await pLimit(32).map([...keys], ([key, size]) => this.backend.write(key, Buffer.alloc(size, key.length + size), { size }));
      return keys;
    })();
    return this.pagingKeys;
  }
}

const PAGING_COUNT = 1_100;

/** Writes `data` with its sha256, then checks write's answer, stat and read. */
async function roundTrip(c: CaseContext, key: string, data: Uint8Array, what: string): Promise<void> {
  const sha256 = sha256Hex(data);
  const written = await c.backend.write(key, data, { size: data.length, sha256 });
  expect({ key: written.key, size: written.size }, `${what}: write() answer`).toEqual({ key, size: data.length });
  await expectStored(c, key, data, what);
}

/** stat and read agree with `data`; stat carries its sha256 when the backend keeps metadata. */
async function expectStored(c: CaseContext, key: string, data: Uint8Array, what: string): Promise<void> {
  const st = await c.backend.stat(key);
  expect(st, `${what}: stat`).not.toBeNull();
  expect(st!.size, `${what}: stat size`).toBe(data.length);
  if (c.backend.features.metadata) expect(st!.sha256, `${what}: stat sha256`).toBe(sha256Hex(data));
  expectSameBytes(await readAll(c.backend, key), data, `${what}: read`);
}

async function pendingNow(c: CaseContext): Promise<number | undefined> {
  return c.pendingUploads ? c.pendingUploads() : undefined;
}

async function expectPendingBack(c: CaseContext, before: number | undefined, what: string): Promise<void> {
  if (before === undefined) return;
  expect(await pendingNow(c), `${what}: multipart uploads still pending on the server`).toBe(before);
}

const BASIC_CASES: readonly ConformanceCase[] = [
  {
    id: 'stat-missing',
    title: 'stat of a missing key (and of a "folder" key) is null',
    async run(c) {
      expect(await c.backend.stat(`${c.dir}/no-such-object`)).toBeNull();
      await c.backend.write(`${c.dir}/folder/inner`, Buffer.from('x'), { size: 1 });
      expect(await c.backend.stat(`${c.dir}/folder`), 'a key that is only a folder of other keys').toBeNull();
    },
  },
  {
    id: 'read-missing',
    title: 'read of a missing key fails with NOT_FOUND',
    async run(c) {
      await expectCode(() => readAll(c.backend, `${c.dir}/no-such-object`), 'NOT_FOUND', 'read missing key');
      await c.backend.write(`${c.dir}/folder/inner`, Buffer.from('x'), { size: 1 });
      await expectCode(() => readAll(c.backend, `${c.dir}/folder`), 'NOT_FOUND', 'read a key that is only a folder');
    },
  },
  {
    id: 'roundtrip-0b',
    title: 'write/stat/read round trip of an empty object',
    async run(c) {
      await roundTrip(c, `${c.dir}/empty`, Buffer.alloc(0), '0 B');
    },
  },
  {
    id: 'roundtrip-1b',
    title: 'write/stat/read round trip of 1 byte',
    async run(c) {
      await roundTrip(c, `${c.dir}/one`, Buffer.from([0xa7]), '1 B');
    },
  },
  {
    id: 'roundtrip-1mib',
    title: 'write/stat/read round trip of 1 MiB',
    async run(c) {
      await roundTrip(c, `${c.dir}/one-mib`, c.shared.slice(7_000_000, MiB), '1 MiB');
    },
  },
  {
    id: 'stream-upload',
    title: "the engine's uploadStream of a Readable of unknown length (3 MiB + 123 B in 64 KiB chunks; parts when it needs more than one)",
    async run(c) {
      const data = c.shared.slice(9_000_000, 3 * MiB + 123);
      const key = `${c.dir}/streamed`;
      // A 1 MiB preferred part size (raised to the service minimum) makes it multipart wherever the service allows.
      const ctx = streamContext(c.backend, MiB);
      const result = await uploadStream(ctx, key, chunkedReadable(data, 64 * KiB));
      expect({ size: result.size, sha256: result.sha256, objectSize: result.info.size }).toEqual({ size: data.length, sha256: sha256Hex(data), objectSize: data.length });
      // Parts are opened before the sha256 is known, so a streamed multipart object may carry none (S3, GCS
      // set metadata at open); if it carries one, it is right. The one-part stream below must carry it.
      const st = await c.backend.stat(key);
      expect(st?.size, 'stat size of the streamed object').toBe(data.length);
      if (st?.sha256 !== undefined) expect(st.sha256, 'sha256 metadata of the streamed object').toBe(sha256Hex(data));
      expectSameBytes(await readAll(c.backend, key), data, 'streamed body: read');
      const small = Buffer.from('fits in one part');
      const one = await uploadStream(streamContext(c.backend), `${c.dir}/one-part`, chunkedReadable(small, 4));
      expect(one.size).toBe(small.length);
      await expectStored(c, `${c.dir}/one-part`, small, 'one-part stream');
    },
  },
  {
    id: 'multipart-6mb',
    title: 'multipart upload of 6 MB with a small part size',
    needs: ['multipart'],
    async run(c) {
      const data = c.shared.slice(1_234_567, 6_000_000);
      const key = `${c.dir}/six-mb`;
      const before = await pendingNow(c);
      const partSize = smallPartSize(c.backend);
      const { object, parts } = await uploadInParts(c.backend, key, data, { size: data.length, sha256: sha256Hex(data) }, { partSize });
      await c.note(`${parts} parts of ${partSize} B`);
      expect(parts, 'a multipart upload of more than one part').toBeGreaterThan(1);
      expect({ key: object.key, size: object.size }, 'complete() answer').toEqual({ key, size: data.length });
      await expectStored(c, key, data, '6 MB multipart');
      await expectPendingBack(c, before, 'after complete()');
    },
  },
  {
    id: 'multipart-50mb',
    title: 'upload of 50 MB the way the engine does it (part size from tuning/limits)',
    timeoutMs: 180_000,
    async run(c) {
      const data = c.shared.bigData();
      const key = `${c.dir}/fifty-mb`;
      const info: WriteInfo = { size: data.length, sha256: sha256Hex(data) };
      if (c.backend.features.multipart) {
        const before = await pendingNow(c);
        const partSize = enginePartSize(c.backend, data.length);
        const concurrency = c.backend.tuning.concurrency;
        const { object, parts } = await uploadInParts(c.backend, key, data, info, { partSize, concurrency });
        const engineWould = engineUsesMultipart(c.backend, data.length) ? '' : ' (forced: below the multipart threshold the engine would use one write)';
        await c.note(`multipart: ${parts} parts of ${partSize} B, ${c.backend.limits.multipart?.sequential ? 'sequential' : `${concurrency} at once`}${engineWould}`);
        expect(object.size).toBe(data.length);
        await expectPendingBack(c, before, 'after complete()');
      } else {
        await c.note('single write: backend lacks multipart');
        await c.backend.write(key, data, info);
      }
      await expectStored(c, key, data, '50 MB');
      await c.backend.delete([key]); // frees memory-backed servers early
    },
  },
  {
    id: 'multipart-out-of-order',
    title: 'multipart parts written out of order (2, 3, 1; sequential backends: in order)',
    needs: ['multipart'],
    async run(c) {
      const partSize = smallPartSize(c.backend);
      const data = c.shared.slice(20_000_000, 2 * partSize + Math.floor(partSize / 2));
      const key = `${c.dir}/three-parts`;
      const sequential = c.backend.limits.multipart?.sequential === true;
      const plan = sequential ? { partSize } : { partSize, order: (n: number) => [...Array.from({ length: n - 1 }, (_, i) => i + 2), 1] };
      await c.note(sequential ? 'sequential backend: parts written in order' : 'parts written in the order 2, 3, 1');
      const { parts } = await uploadInParts(c.backend, key, data, { size: data.length, sha256: sha256Hex(data) }, plan);
      expect(parts).toBe(3);
      await expectStored(c, key, data, 'parts out of order');
    },
  },
  {
    id: 'multipart-abort',
    title: 'multipart abort leaves no object, no pending upload, and an older object untouched',
    needs: ['multipart'],
    async run(c) {
      const partSize = smallPartSize(c.backend);
      const data = c.shared.slice(30_000_000, 2 * partSize + 100);
      const before = await pendingNow(c);

      const fresh = `${c.dir}/never-completed`;
      const writer = await openWriter(c.backend, fresh, { size: data.length, partSize });
      await writer.writePart(1, partOf(data, partSize, 1), partInfo(c.backend, partOf(data, partSize, 1)));
      if (before !== undefined) {
        // Proves the pending-upload count can see an upload at all, so the checks below mean something.
        expect(await pendingNow(c), 'pending uploads while one is open').toBeGreaterThan(before);
      }
      await writer.abort();
      await writer.abort(); // safe to call twice
      expect(await c.backend.stat(fresh), 'object after abort').toBeNull();
      await expectPendingBack(c, before, 'after abort()');

      const existing = `${c.dir}/existing`;
      const old = Buffer.from('the object that was here before');
      await c.backend.write(existing, old, { size: old.length, sha256: sha256Hex(old) });
      const writer2 = await openWriter(c.backend, existing, { size: data.length, partSize });
      await writer2.writePart(1, partOf(data, partSize, 1), partInfo(c.backend, partOf(data, partSize, 1)));
      await writer2.abort();
      await expectStored(c, existing, old, 'older object after an aborted upload to its key');
      await expectPendingBack(c, before, 'after the second abort()');
    },
  },
  {
    id: 'metadata-sha256',
    title: 'stat returns the sha256 of WriteInfo, and `sha256` metadata round trips with extra user metadata',
    needs: ['metadata'],
    async run(c) {
      const data = Buffer.from('metadata carrier');
      const sha256 = sha256Hex(data);
      const key = `${c.dir}/with-metadata`;
      const extra = { 'flowsync-mode': '493', 'x-note': 'plain ascii value' };
      await c.backend.write(key, data, { size: data.length, sha256, contentType: 'text/plain', metadata: extra });
      const st = await c.backend.stat(key);
      expect(st?.sha256).toBe(sha256);
      expect(st?.metadata).toMatchObject({ ...extra, [SHA256_METADATA_KEY]: sha256 });
    },
  },
  {
    id: 'range-read',
    title: 'range reads: first byte, middle, to the end, whole',
    needs: ['rangeRead'],
    async run(c) {
      const data = c.shared.slice(40_000_000, MiB + 17);
      const key = `${c.dir}/ranged`;
      await c.backend.write(key, data, { size: data.length });
      const ranges: [number, number][] = [
        [0, 1],
        [1000, 300_000],
        [data.length - 777, data.length],
        [0, data.length],
      ];
      for (const range of ranges) {
        expectSameBytes(await readAll(c.backend, key, { range }), data.subarray(range[0], range[1]), `range [${range[0]}, ${range[1]})`);
      }
    },
  },
  {
    id: 'list-paging',
    title: 'list pages through 1,100 keys, each exactly once with its size',
    timeoutMs: 120_000,
    async run(c) {
      const keys = await c.shared.paging();
      expectListing(await listAll(c.backend, `${c.root}/paging/`), keys, 'listing 1,100 keys');
    },
  },
  {
    id: 'list-prefix-boundary',
    title: 'listing `data/` never returns `data2/x`, `data-x` or `data.x`',
    async run(c) {
      const inside = [`${c.dir}/data/a`, `${c.dir}/data/sub/b`];
      const outside = [`${c.dir}/data2/x`, `${c.dir}/data-x`, `${c.dir}/data.x`];
      await Promise.all([...inside, ...outside].map((k) => c.backend.write(k, Buffer.from(k), { size: Buffer.byteLength(k) })));
      const sizes = (ks: string[]) => new Map(ks.map((k) => [k, Buffer.byteLength(k)]));
      expectListing(await listAll(c.backend, `${c.dir}/data/`), sizes(inside), 'list data/');
      // A prefix is a plain string prefix: without the slash the siblings match too.
      expectListing(await listAll(c.backend, `${c.dir}/data`), sizes([...inside, ...outside]), 'list data (no slash)');
    },
  },
  {
    id: 'special-keys',
    title: 'keys with spaces, unicode, emoji, # % + ? & = and a leading dash round trip',
    async run(c) {
      const names = [
        'with space.txt',
        'a b.txt',
        'a+b.txt', // must not turn into a space
        'dir with space/inner file.txt',
        'caf\u00e9.txt', // NFC é
        '\u00fcber/\u65e5\u672c\u8a9e.txt',
        'rocket \u{1F680}.txt', // outside the BMP
        'hash#tag.txt',
        '100%.txt',
        'percent%20literal.txt', // must not be URL-decoded into 'percent literal.txt'
        'percent literal.txt',
        'what?.txt',
        'a&b=c.txt',
        '-leading-dash.txt',
      ];
      const base = `${c.dir}/`;
      const objects = new Map(names.map((n, i) => [base + n, Buffer.from(`${i}:${n}`)]));
      for (const [key, data] of objects) await c.backend.write(key, data, { size: data.length, sha256: sha256Hex(data) });
      for (const [key, data] of objects) await expectStored(c, key, data, `key ${JSON.stringify(key)}`);
      expectListing(await listAll(c.backend, base), new Map([...objects].map(([k, d]) => [k, d.length])), 'list of special keys');
      await deleteKeys(c.backend, [...objects.keys()]);
      for (const key of objects.keys()) expect(await c.backend.stat(key), `stat ${JSON.stringify(key)} after delete`).toBeNull();
      expect(await listAll(c.backend, base), 'list after delete').toEqual([]);
    },
  },
  {
    id: 'delete-batch',
    title: "the engine's deleteKeys: 1,100 keys plus missing ones, twice (idempotent), in calls of at most limits.deleteBatch keys, spares other keys",
    timeoutMs: 120_000,
    async run(c) {
      const keys = [...(await c.shared.paging()).keys()];
      const survivor = `${c.root}/paging-survivor`;
      await c.backend.write(survivor, Buffer.from('keep me'), { size: 7 });
      const missing = Array.from({ length: 50 }, (_, i) => `${c.dir}/missing-${i}`);
      const batch = [...keys.slice(0, 500), ...missing, ...keys.slice(500)];
      const calls: number[] = [];
      const counting = countingDeletes(c.backend, calls);
      await deleteKeys(counting, batch);
      const limit = c.backend.limits.deleteBatch;
      await c.note(`${calls.length} delete() calls, limits.deleteBatch ${limit}`);
      expect(Math.max(...calls), 'keys in the biggest delete() call').toBeLessThanOrEqual(limit);
      expect(calls.reduce((a, n) => a + n, 0), 'keys handed to delete() in all').toBe(batch.length);
      expect(calls.length, 'delete() calls').toBe(Math.ceil(batch.length / limit));
      expect(await listAll(c.backend, `${c.root}/paging/`), 'listing after the batch delete').toEqual([]);
      await deleteKeys(c.backend, batch);
      expect(await c.backend.stat(survivor), 'a key outside the batch').not.toBeNull();
      await c.backend.delete([survivor]);
    },
  },
  {
    id: 'delete-missing',
    title: 'delete of a missing key, a repeated key and an empty list is fine',
    async run(c) {
      const sibling = `${c.dir}/sibling`;
      await c.backend.write(sibling, Buffer.from('s'), { size: 1 });
      await c.backend.delete([`${c.dir}/no-such-object`]);
      await c.backend.delete([`${c.dir}/twice`, `${c.dir}/twice`]);
      await c.backend.delete([]);
      const gone = `${c.dir}/gone`;
      await c.backend.write(gone, Buffer.from('g'), { size: 1 });
      await c.backend.delete([gone]);
      await c.backend.delete([gone]);
      expect(await c.backend.stat(gone)).toBeNull();
      expect(await c.backend.stat(sibling), 'an object that was not named').not.toBeNull();
    },
  },
  {
    id: 'overwrite',
    title: 'overwrite replaces content, size, sha256 and metadata',
    async run(c) {
      const key = `${c.dir}/replaced`;
      const v1 = c.shared.slice(41_000_000, 100 * KiB);
      const v2 = Buffer.from('ten bytes!');
      const v3 = c.shared.slice(42_000_000, 200 * KiB);
      await c.backend.write(key, v1, { size: v1.length, sha256: sha256Hex(v1), metadata: { 'only-in-v1': 'yes' } });
      await c.backend.write(key, v2, { size: v2.length, sha256: sha256Hex(v2) });
      await expectStored(c, key, v2, 'shorter overwrite');
      if (c.backend.features.metadata) {
        expect((await c.backend.stat(key))?.metadata?.['only-in-v1'], 'metadata of the replaced object').toBeUndefined();
      }
      await c.backend.write(key, v3, { size: v3.length, sha256: sha256Hex(v3) });
      await expectStored(c, key, v3, 'longer overwrite');
    },
  },
  {
    id: 'conditional-create',
    title: "ifNoneMatch '*' creates a missing key and fails with PRECONDITION_FAILED on an existing one",
    needs: ['conditionalWrite'],
    async run(c) {
      const key = `${c.dir}/create-once`;
      const first = Buffer.from('first writer');
      const second = Buffer.from('second writer, too late');
      const created = await c.backend.write(key, first, { size: first.length, ifNoneMatch: '*' });
      await expectCode(() => c.backend.write(key, second, { size: second.length, ifNoneMatch: '*' }), 'PRECONDITION_FAILED', "ifNoneMatch '*' on an existing key");
      expectSameBytes(await readAll(c.backend, key), first, 'object after the refused write');
      expect((await c.backend.stat(key))?.etag, 'etag after the refused write').toBe(created.etag);
    },
  },
  {
    id: 'conditional-replace',
    title: 'ifMatch with a stale etag fails with PRECONDITION_FAILED; with the current etag it succeeds and changes the etag',
    needs: ['conditionalWrite'],
    async run(c) {
      const key = `${c.dir}/compare-and-swap`;
      const [v1, v2, v3, v4] = ['version 1', 'version 2', 'version 3 (stale)', 'version 4'].map((s) => Buffer.from(s)) as [Buffer, Buffer, Buffer, Buffer];
      const w1 = await c.backend.write(key, v1, { size: v1.length });
      expect(w1.etag, 'write() returns an etag').toBeTruthy();
      expect((await c.backend.stat(key))?.etag, 'stat etag equals the one write() returned').toBe(w1.etag);
      const w2 = await c.backend.write(key, v2, { size: v2.length });
      expect(w2.etag, 'etag after an overwrite').not.toBe(w1.etag);
      await expectCode(() => c.backend.write(key, v3, { size: v3.length, ifMatch: w1.etag! }), 'PRECONDITION_FAILED', 'ifMatch with a stale etag');
      expectSameBytes(await readAll(c.backend, key), v2, 'object after the refused write');
      const w4 = await c.backend.write(key, v4, { size: v4.length, ifMatch: w2.etag! });
      expect(w4.etag, 'etag after the conditional write').not.toBe(w2.etag);
      expect((await c.backend.stat(key))?.etag).toBe(w4.etag);
      expectSameBytes(await readAll(c.backend, key), v4, 'object after the conditional write');
    },
  },
  {
    id: 'digest-mismatch',
    title: 'a write whose transport digest does not match its bytes is refused by the service (CHECKSUM_MISMATCH) and stores nothing',
    needs: ['transportDigest'],
    async run(c) {
      const data = Buffer.from('the real bytes');
      const wrong = wrongDigest(c.backend, data);
      const fresh = `${c.dir}/fresh`;
      await expectCode(() => c.backend.write(fresh, data, { size: data.length, sha256: sha256Hex(data), digest: wrong }), 'CHECKSUM_MISMATCH', 'write with a wrong digest');
      expect(await c.backend.stat(fresh), 'object after the refused write').toBeNull();
      const existing = `${c.dir}/existing`;
      const old = Buffer.from('older content');
      await c.backend.write(existing, old, { size: old.length, sha256: sha256Hex(old), digest: rightDigest(c.backend, old) });
      await expectCode(() => c.backend.write(existing, data, { size: data.length, digest: wrong }), 'CHECKSUM_MISMATCH', 'overwrite with a wrong digest');
      await expectStored(c, existing, old, 'older object after the refused overwrite');
    },
  },
  {
    id: 'multipart-digest-mismatch',
    title: "a multipart upload with a wrong transport digest (a part's, or the object's at complete) is refused with CHECKSUM_MISMATCH",
    needs: ['multipart', 'transportDigest'],
    async run(c) {
      const partSize = smallPartSize(c.backend);
      const data = c.shared.slice(43_000_000, partSize + 1000);
      const key = `${c.dir}/bad-parts`;
      const before = await pendingNow(c);
      const writer = await openWriter(c.backend, key, { size: data.length, sha256: sha256Hex(data), partSize });
      const [p1, p2] = [partOf(data, partSize, 1), partOf(data, partSize, 2)];
      try {
        if ((c.backend.limits.multipart?.digestScope ?? 'part') === 'part') {
          await c.note('digest per part: writePart refuses the bad part');
          await expectCode(() => writer.writePart(1, p1, { digest: wrongDigest(c.backend, p1) }), 'CHECKSUM_MISMATCH', 'writePart with a wrong digest');
        } else {
          await c.note('digest of the whole object: complete() refuses');
          await writer.writePart(1, p1, {});
          await writer.writePart(2, p2, {});
          await expectCode(() => writer.complete({ size: data.length, digest: wrongDigest(c.backend, data) }), 'CHECKSUM_MISMATCH', 'complete() with a wrong digest');
        }
      } finally {
        await writer.abort(); // what the engine does after a failed part or complete()
      }
      expect(await c.backend.stat(key), 'object after the refused upload').toBeNull();
      await expectPendingBack(c, before, 'after abort()');
    },
  },
  {
    id: 'aborted-signal',
    title: 'an already-aborted AbortSignal makes every operation fail with ABORTED',
    async run(c) {
      const existing = `${c.dir}/existing`;
      await c.backend.write(existing, Buffer.from('here'), { size: 4 });
      const controller = new AbortController();
      controller.abort();
      const signal = controller.signal;
      const b = c.backend;
      const fresh = `${c.dir}/never-written`;
      await expectCode(() => b.stat(existing, { signal }), 'ABORTED', 'stat');
      await expectCode(() => readAll(b, existing, { signal }), 'ABORTED', 'read');
      await expectCode(() => b.write(fresh, Buffer.from('no'), { size: 2 }, { signal }), 'ABORTED', 'write');
      await expectCode(async () => {
        for await (const _ of b.list(`${c.dir}/`, { signal })) void _;
      }, 'ABORTED', 'list');
      await expectCode(async () => {
        for await (const _ of b.list(`${c.dir}/empty-folder/`, { signal })) void _;
      }, 'ABORTED', 'list of an empty folder');
      await expectCode(() => b.delete([existing], { signal }), 'ABORTED', 'delete');
      expect(await b.stat(fresh), 'object after an aborted write').toBeNull();
      expect(await b.stat(existing), 'object after an aborted delete').not.toBeNull();
      if (b.features.multipart) {
        await expectCode(() => b.openMultipart!(fresh, { size: 10, partSize: smallPartSize(b) }, { signal }), 'ABORTED', 'openMultipart');
        const writer = await openWriter(b, fresh, { size: 10, partSize: smallPartSize(b) });
        try {
          await expectCode(() => writer.writePart(1, Buffer.alloc(10), partInfo(b, Buffer.alloc(10)), { signal }), 'ABORTED', 'writePart');
          await expectCode(() => writer.complete(completeInfo(b, Buffer.alloc(10)), { signal }), 'ABORTED', 'complete');
        } finally {
          await writer.abort();
        }
        expect(await b.stat(fresh), 'object after an aborted upload').toBeNull();
      }
    },
  },
  {
    id: 'body-reuse',
    title: "a write's body (and a part's) may be reused once the call resolves: the engine recycles its buffers",
    async run(c) {
      // One buffer, as the byte budget hands it from one transfer to the next.
      const buf = Buffer.from(c.shared.slice(47_000_000, 64 * KiB));
      const first = Buffer.from(buf);
      await c.backend.write(`${c.dir}/first`, buf, { size: buf.length, sha256: sha256Hex(buf), ...optionalDigest(c.backend, buf) });
      buf.fill(0x5a);
      await c.backend.write(`${c.dir}/second`, buf, { size: buf.length, sha256: sha256Hex(buf), ...optionalDigest(c.backend, buf) });
      expectSameBytes(await readAll(c.backend, `${c.dir}/first`), first, 'first');
      expectSameBytes(await readAll(c.backend, `${c.dir}/second`), buf, 'second');
      if (!c.backend.features.multipart) return c.note('no multipart: parts not checked');
      const partSize = smallPartSize(c.backend);
      const whole = c.shared.slice(30_000_000, 2 * partSize);
      const writer = await openWriter(c.backend, `${c.dir}/parts`, { size: whole.length, sha256: sha256Hex(whole), partSize });
      const part = Buffer.allocUnsafe(partSize);
      for (const n of [1, 2]) {
        partOf(whole, partSize, n).forEach((b, i) => (part[i] = b));
        await writer.writePart(n, part, partInfo(c.backend, part));
        part.fill(0xa5); // the next holder's bytes
      }
      await writer.complete(completeInfo(c.backend, whole));
      expectSameBytes(await readAll(c.backend, `${c.dir}/parts`), whole, 'parts');
    },
  },
  {
    id: 'concurrent-io',
    title: 'reads and writes in flight together (32 at once) do not disturb each other',
    async run(c) {
      const count = 96;
      const objects = Array.from({ length: 2 * count }, (_, i) => ({ key: `${c.dir}/obj-${i}`, data: c.shared.slice(44_000_000 + i * 997, 16 * KiB + i) }));
      const limit = pLimit(32);
      const write = (o: (typeof objects)[number]) => c.backend.write(o.key, o.data, { size: o.data.length, sha256: sha256Hex(o.data) });
      await limit.map(objects.slice(0, count), write);
      // Reads of the first half interleave with writes of the second half.
      const mixed = objects.flatMap((o, i) => (i < count ? [{ op: 'read' as const, o }, { op: 'write' as const, o: objects[i + count]! }] : []));
      const failures: string[] = [];
      await limit.map(mixed, async ({ op, o }) => {
        if (op === 'write') return void (await write(o));
        const got = await readAll(c.backend, o.key);
        if (digestOf(got).sha256 !== sha256Hex(o.data)) failures.push(o.key);
      });
      expect(failures, 'objects read back with the wrong bytes').toEqual([]);
      await limit.map(objects.slice(count), async (o) => expectSameBytes(await readAll(c.backend, o.key), o.data, o.key));
    },
  },
];

/** A transfer context for uploadStream alone: a 64 MiB budget, progress nobody listens to. */
function streamContext(backend: Backend, partSize?: number): TransferContext {
  return { backend, budget: new ByteBudget(64 * MiB), progress: new Progress(), partConcurrency: 4, ...(partSize ? { partSize } : {}) };
}

/** The transport digest the engine hands a write, when the backend takes one. */
function optionalDigest(backend: Backend, data: Uint8Array): { digest?: Uint8Array } {
  return backend.features.transportDigest ? { digest: rightDigest(backend, data) } : {};
}

function rightDigest(backend: Backend, data: Uint8Array): Uint8Array {
  return createHash(backend.features.transportDigest!).update(data).digest();
}

/** The digest of other bytes: right kind and length, wrong value. */
function wrongDigest(backend: Backend, data: Uint8Array): Uint8Array {
  return rightDigest(backend, Buffer.concat([Buffer.from(data), Buffer.from('!')]));
}

/** `backend` with delete() counting the keys of each call into `calls`. */
function countingDeletes(backend: Backend, calls: number[]): Backend {
  return new Proxy(backend, {
    get(target, prop, receiver) {
      if (prop === 'delete') return (keys: string[], o?: Parameters<Backend['delete']>[1]) => (calls.push(keys.length), target.delete(keys, o));
      return Reflect.get(target, prop, receiver);
    },
  });
}

export const CONFORMANCE_CASES: readonly ConformanceCase[] = [...BASIC_CASES, ...RETRY_CASES];
