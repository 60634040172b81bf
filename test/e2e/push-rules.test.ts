/**
 * Push on real files: a file that changes while it is read is never uploaded under a wrong hash;
 * a damaged remote manifest is replaced, a newer one refused; a failed manifest fetch stops the
 * scan before push rejects; big files go up in parts and come down in ranges (memory backend).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalBackend } from '../../src/backends/local.js';
import { createMemoryBackend } from '../../src/backends/memory.js';
import type { Backend } from '../../src/backends/types.js';
import { isFlowsyncError } from '../../src/errors.js';
import { openRemote, pull, push, verify } from '../../src/index.js';
import { parseManifest } from '../../src/manifest/codec.js';
import { isFile } from '../../src/manifest/types.js';
import type { ProgressEvent } from '../../src/sync/types.js';
import { collect } from '../../src/util/streams.js';
import { compareTrees, excludeFlowsyncState, generateTree, snapshot } from '../helpers/tree.js';
import { progressRecorder, removeDir, tempDir } from './support.js';
import { rejection } from '../helpers/rejection.js';

/**
 * A whole-object body that trickles (64 KiB every 4 ms, far under the engine's one-stream
 * rate): a large download then stops streaming after its first part and takes ranges, which is
 * what these tests look at. A fast memory body would rightly be read as one stream.
 */
function trickle(body: Readable): Readable {
  return Readable.from(
    (async function* () {
      for await (const chunk of body) {
        // The memory backend hands the whole object over as one buffer: cut it into 64 KiB steps.
        for (let i = 0; i < (chunk as Buffer).length; i += 64 * 1024) {
          await new Promise((r) => setTimeout(r, 4));
          yield (chunk as Buffer).subarray(i, i + 64 * 1024);
        }
      }
    })(),
  );
}

let work = '';
let n = 0;
beforeAll(() => {
  work = tempDir('push-rules');
});
afterAll(() => removeDir(work));
const dir = (label: string) => path.join(work, `${label}-${n++}`);


/** Every object the stored manifest names hashes to the manifest's sha256. */
async function storeIsConsistent(storeDir: string): Promise<void> {
  const report = await verify({ remote: storeDir, deep: true });
  expect(report.problems).toEqual([]);
}

describe('a file that changes while push reads it', () => {
  it('is refused (FILE_CHANGED) or re-read, never uploaded with a wrong hash: a writer appending in a loop', async () => {
    const src = dir('growing');
    const storeDir = dir('growing-store');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'stable.txt'), 'stable');
    const log = path.join(src, 'app.log');
    fs.writeFileSync(log, Buffer.alloc(8 * 1024 * 1024, 'a'));
    const writer = spawn(process.execPath, ['-e', "const fs=require('fs');const f=process.argv[1];for(;;){fs.appendFileSync(f,'x'.repeat(4096))}", log], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 100)); // the writer is running
      const outcome = await push({ dir: src, remote: storeDir, cacheDir: false }).then(
        (r) => ({ ok: true as const, r }),
        (err: unknown) => ({ ok: false as const, err }),
      );
      if (outcome.ok) {
        // Read at a moment it stood still: the object must hold exactly what the manifest says.
        await storeIsConsistent(storeDir);
      } else {
        expect(isFlowsyncError(outcome.err, 'FILE_CHANGED')).toBe(true);
        expect((outcome.err as Error).message).toMatch(/app\.log.*(kept changing|changed after it was scanned).*\.prefectignore/);
        expect(fs.existsSync(path.join(storeDir, '.flowsync', 'manifest.json'))).toBe(false);
      }
    } finally {
      writer.kill('SIGKILL');
    }
  });

  it('is refused when it changes between hashing and upload (same size, new bytes)', async () => {
    const src = dir('swap');
    const storeDir = dir('swap-store');
    fs.mkdirSync(src);
    for (const name of ['a.txt', 'b.txt', 'c.txt']) fs.writeFileSync(path.join(src, name), `${name} original`);
    const inner = createLocalBackend({ root: storeDir });
    let writes = 0;
    const backend: Backend = {
      ...inner,
      async write(key, body, info, o) {
        // After the first upload, c.txt is rewritten in place: same size, other bytes.
        if (++writes === 1) fs.writeFileSync(path.join(src, 'c.txt'), 'c.txt ORIGINAL');
        return inner.write(key, body, info, o);
      },
    };
    const err = await rejection(push({ dir: src, remote: storeDir, cacheDir: false, concurrency: 1, remoteOptions: { backend } }));
    expect(isFlowsyncError(err, 'FILE_CHANGED')).toBe(true);
    expect((err as Error).message).toMatch(/^c\.txt changed after it was scanned/);
    expect(fs.existsSync(path.join(storeDir, '.flowsync', 'manifest.json'))).toBe(false);
    expect(fs.existsSync(path.join(storeDir, 'c.txt'))).toBe(false);
    // The next push takes the new content.
    await push({ dir: src, remote: storeDir, cacheDir: false });
    expect(fs.readFileSync(path.join(storeDir, 'c.txt'), 'utf8')).toBe('c.txt ORIGINAL');
    await storeIsConsistent(storeDir);
  });

  it('is refused when a big file changes while its parts go up; the multipart upload is aborted', async () => {
    const src = dir('parts');
    fs.mkdirSync(src);
    const big = path.join(src, 'big.bin');
    fs.writeFileSync(big, Buffer.alloc(20 * 1024 * 1024, 1));
    const memory = createMemoryBackend();
    let parts = 0;
    const backend: Backend = {
      ...memory,
      async openMultipart(key, info, o) {
        const w = await memory.openMultipart!(key, info, o);
        return {
          ...w,
          async writePart(num, data, info, po) {
            await w.writePart(num, data, info, po);
            if (++parts === 1) {
              // Rewrite the last MiB in place, keeping the size.
              const fd = fs.openSync(big, 'r+');
              fs.writeSync(fd, Buffer.alloc(1024 * 1024, 2), 0, 1024 * 1024, 19 * 1024 * 1024);
              fs.closeSync(fd);
            }
          },
          complete: (info, po) => w.complete(info, po),
          abort: () => w.abort(),
        };
      },
    };
    const remote = await openRemote('file:///unused-memory', { backend });
    const err = await rejection(push({ dir: src, remote, cacheDir: false, concurrency: 1 }));
    expect(isFlowsyncError(err, 'FILE_CHANGED')).toBe(true);
    expect(memory.pendingUploads.size).toBe(0);
    expect(memory.objects.size).toBe(0); // no object, no manifest
  });
});

describe('the remote manifest a push builds on', () => {
  it('a damaged one (invalid JSON) is replaced, with a warning; pull works again', async () => {
    const src = dir('damaged');
    const storeDir = dir('damaged-store');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'a.txt'), 'a');
    fs.mkdirSync(path.join(storeDir, '.flowsync'), { recursive: true });
    fs.writeFileSync(path.join(storeDir, '.flowsync', 'manifest.json'), '{"format": "flowsync-manifest", trunc');
    const pullErr = await rejection(pull({ remote: storeDir, dir: dir('damaged-dest') }));
    expect(isFlowsyncError(pullErr, 'BAD_MANIFEST')).toBe(true);
    expect((pullErr as Error).message).toMatch(/Push again from the source folder/);
    // ...and that advice works:
    const r = await push({ dir: src, remote: storeDir, cacheDir: false });
    expect(r.uploaded).toBe(1);
    expect(r.warnings.join('\n')).toMatch(/not valid JSON.*This push replaces it/);
    const dest = dir('damaged-dest');
    await pull({ remote: storeDir, dir: dest });
    expect(fs.readFileSync(path.join(dest, 'a.txt'), 'utf8')).toBe('a');
  });

  it('one from a newer flowsync is refused and left as it was', async () => {
    const src = dir('newer');
    const storeDir = dir('newer-store');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'a.txt'), 'a');
    fs.mkdirSync(path.join(storeDir, '.flowsync'), { recursive: true });
    const text = JSON.stringify({ format: 'flowsync-manifest', version: 3, createdAt: 'x', layout: 'packed', files: [] });
    fs.writeFileSync(path.join(storeDir, '.flowsync', 'manifest.json'), text);
    const err = await rejection(push({ dir: src, remote: storeDir, cacheDir: false }));
    expect(isFlowsyncError(err, 'UNSUPPORTED_VERSION')).toBe(true);
    expect(fs.readFileSync(path.join(storeDir, '.flowsync', 'manifest.json'), 'utf8')).toBe(text);
    expect(fs.readdirSync(storeDir)).toEqual(['.flowsync']);
  });

  it('when fetching it fails, push rejects only after its scan has stopped (no work goes on behind it)', async () => {
    const src = dir('bg');
    await generateTree(src, { files: 1500, seed: 3, ignored: false, links: false });
    const memory = createMemoryBackend();
    memory.objects.set('.flowsync/manifest.json', {
      data: Buffer.from(JSON.stringify({ format: 'flowsync-manifest', version: 9, createdAt: 'x', layout: 'mirror', files: [] })),
      etag: 'e',
      metadata: {},
      lastModified: new Date(),
    });
    const remote = await openRemote('file:///unused-memory', { backend: memory });
    const cacheDir = dir('bg-cache');
    const rec = progressRecorder();
    const err = await rejection(push({ dir: src, remote, cacheDir, onProgress: rec.onProgress }));
    expect(isFlowsyncError(err, 'UNSUPPORTED_VERSION')).toBe(true);
    const seen = rec.events.length;
    await new Promise((r) => setTimeout(r, 1500));
    expect(rec.events.length).toBe(seen); // nothing reported after the rejection
    expect(fs.existsSync(cacheDir) ? fs.readdirSync(cacheDir) : []).toEqual([]); // no stat cache written behind our back
  });
});

describe('a local store inside the folder being pushed', () => {
  it('is refused (it would be pushed into itself), unless the ignore file keeps it out', async () => {
    const src = dir('nest');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'a.txt'), 'a');
    const before = snapshot(src);
    for (const store of [path.join(src, 'store'), path.join(src, 'deep', 'er'), src]) {
      const err = await rejection(push({ dir: src, remote: store, cacheDir: false }));
      expect(isFlowsyncError(err, 'INVALID_INPUT')).toBe(true);
      expect((err as Error).message).toMatch(/is inside the folder being pushed .*Put the store outside that folder/);
    }
    expect(snapshot(src)).toEqual(before);

    fs.writeFileSync(path.join(src, '.prefectignore'), '/store/\n');
    const store = path.join(src, 'store');
    expect(await push({ dir: src, remote: store, cacheDir: false })).toMatchObject({ uploaded: 2 });
    expect(await push({ dir: src, remote: store, cacheDir: false })).toMatchObject({ uploaded: 0, unchanged: 2 });
    expect(fs.readdirSync(store).sort()).toEqual(['.flowsync', '.prefectignore', 'a.txt']);
  });
});

describe('a file that becomes a folder, and back', () => {
  it('round-trips through the local store, which cannot hold "a" and "a/b" at once', async () => {
    const src = dir('shape');
    const storeDir = dir('shape-store');
    const dest = dir('shape-dest');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'a'), 'a file');
    fs.writeFileSync(path.join(src, 'keep.txt'), 'k');
    await push({ dir: src, remote: storeDir, cacheDir: false });
    await pull({ remote: storeDir, dir: dest });

    fs.rmSync(path.join(src, 'a'));
    fs.mkdirSync(path.join(src, 'a', 'deeper'), { recursive: true });
    fs.writeFileSync(path.join(src, 'a', 'deeper', 'b'), 'now a folder');
    expect(await push({ dir: src, remote: storeDir, cacheDir: false })).toMatchObject({ uploaded: 1, deleted: 1 });
    expect(await pull({ remote: storeDir, dir: dest })).toMatchObject({ downloaded: 1, deleted: 1, conflicts: [] });
    expect(compareTrees(src, dest, { excludeActual: excludeFlowsyncState })).toEqual([]);

    fs.rmSync(path.join(src, 'a'), { recursive: true });
    fs.writeFileSync(path.join(src, 'a'), 'a file again');
    expect(await push({ dir: src, remote: storeDir, cacheDir: false })).toMatchObject({ uploaded: 1, deleted: 1 });
    expect(await pull({ remote: storeDir, dir: dest })).toMatchObject({ downloaded: 1, deleted: 1, conflicts: [] });
    expect(compareTrees(src, dest, { excludeActual: excludeFlowsyncState })).toEqual([]);
    await storeIsConsistent(storeDir);
  });
});

describe('big files through the memory backend', () => {
  it('go up in parts and come down as parallel ranges, byte-identical', async () => {
    const src = dir('mem');
    const tree = await generateTree(src, { files: 50, seed: 9, bigFileBytes: 20 * 1024 * 1024, ignored: false });
    const memory = createMemoryBackend();
    const multipart: string[] = [];
    const ranged = new Set<string>();
    const backend: Backend = {
      ...memory,
      openMultipart: (key, info, o) => {
        multipart.push(key);
        return memory.openMultipart!(key, info, o);
      },
      read: async (key, o) => {
        if (o?.range) ranged.add(key);
        const body = await memory.read(key, o);
        return !o?.range && key.endsWith('.bin') ? trickle(body) : body;
      },
    };
    const remote = await openRemote('file:///unused-memory', { backend });
    const r = await push({ dir: src, remote, cacheDir: false });
    expect(r.uploaded).toBe(tree.kept.length - Object.keys(tree.links).length);
    expect(multipart).toEqual(['data/big.bin']); // 20 MB > the memory backend's 8 MB threshold
    expect(memory.pendingUploads.size).toBe(0);
    const m = parseManifest(memory.objects.get('.flowsync/manifest.json')!.data);
    const big = m.files.find((e) => e.path === 'data/big.bin');
    expect(big && isFile(big) && memory.objects.get('data/big.bin')?.metadata.sha256 === big.sha256).toBe(true);

    const dest = dir('mem-dest');
    await pull({ remote, dir: dest });
    expect([...ranged]).toEqual(['data/big.bin']);
    expect(compareTrees(src, dest, { excludeActual: excludeFlowsyncState })).toEqual([]);
  });

  it('a range that breaks mid-stream is fetched again; bytes and progress come out exact', async () => {
    const src = dir('mem-retry');
    const size = 20 * 1024 * 1024 + 12345;
    await generateTree(src, { files: 3, seed: 4, bigFileBytes: size, ignored: false, links: false });
    const memory = createMemoryBackend();
    let broken = 0;
    const backend: Backend = {
      ...memory,
      async read(key, o) {
        const body = await memory.read(key, o);
        // The second range dies after its first bytes, once, as a reset connection would.
        if (o?.range && o.range[0] > 0 && broken++ === 0) {
          const data = await collect(body);
          return Readable.from(
            (async function* () {
              yield data.subarray(0, 1000);
              throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
            })(),
          );
        }
        return !o?.range && key.endsWith('.bin') ? trickle(body) : body;
      },
    };
    const remote = await openRemote('file:///unused-memory', { backend });
    await push({ dir: src, remote, cacheDir: false });
    const dest = dir('mem-retry-dest');
    const events: ProgressEvent[] = [];
    await pull({ remote, dir: dest, onProgress: (e) => events.push({ ...e }) });
    expect(broken).toBeGreaterThan(1);
    expect(compareTrees(src, dest, { excludeActual: excludeFlowsyncState })).toEqual([]);
    const last = events.filter((e) => e.phase === 'download').at(-1)!;
    expect(last.loaded).toBe(last.total);
    expect(events.filter((e) => e.phase === 'download').every((e) => e.loaded <= e.total)).toBe(true);
  });
});
