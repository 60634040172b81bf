/**
 * The local filesystem store: a folder that plays the part of a bucket. Writes are atomic
 * (temporary file in the same folder, then rename), so a reader never sees half an object.
 */
import { promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { FlowsyncError, fsError, throwIfAborted } from '../errors.js';
import { ensureFolder, placeTemp, removeEmptyParents, TEMP_MARKER, tempNameFor, tempWriterGone } from '../util/atomic-write.js';
import type { Backend, MultipartWriter, ObjectInfo, Op, ReadOptions, WriteInfo } from './types.js';

/** Keys per delete() call: a loop of unlinks, so any number; this bounds one call's work. */
const DELETE_BATCH = 1000;
/** The read size for a large object (fs streams default to the same). */
const READ_CHUNK = 64 * 1024;

export { TEMP_MARKER };

export interface LocalBackendOptions {
  /** Absolute folder that holds the objects. Created on first write. */
  root: string;
}

/** A lock older than this was left by a killed writer (holding it takes microseconds). */
const STALE_LOCK_MS = 10_000;
const LOCK_WAIT_MS = 30_000;

/** Run `fn` holding an exclusive lock file beside `file` (named as a temporary file, so listings skip it). */
async function withFileLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const lock = path.join(path.dirname(file), `${TEMP_MARKER}lock-${path.basename(file)}`.slice(0, 255));
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      await (await fsp.open(lock, 'wx')).close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(err, 'lock', file);
      const st = await fsp.stat(lock).catch(() => null);
      if (st && Date.now() - st.mtimeMs > STALE_LOCK_MS) {
        await fsp.rm(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new FlowsyncError('TRANSIENT', `${file} stayed locked by another writer for ${LOCK_WAIT_MS / 1000} s; try again.`);
      await new Promise((r) => setTimeout(r, 2 + Math.random() * 10));
    }
  }
  try {
    return await fn();
  } finally {
    await fsp.rm(lock, { force: true });
  }
}

/**
 * A listing (gc's, verify's) removes the temporary files killed writers left: at once when the
 * writer was a process of this host that no longer runs; otherwise (another host writing to a
 * shared folder) when untouched for a day, since a live writer touches its file as it writes
 * (a multipart upload with every part).
 */
const ABANDONED_TEMP_MS = 24 * 60 * 60 * 1000;

async function sweepIfAbandoned(file: string): Promise<void> {
  if (tempWriterGone(path.basename(file))) return fsp.rm(file, { force: true });
  const st = await fsp.stat(file).catch(() => null);
  if (st && Date.now() - st.mtimeMs > ABANDONED_TEMP_MS) await fsp.rm(file, { force: true });
}

function etagOf(st: Stats): string {
  return `${st.size.toString(16)}-${Math.round(st.mtimeMs * 1000).toString(16)}-${st.ino.toString(16)}`;
}

export function createLocalBackend(opts: LocalBackendOptions): Backend {
  const root = path.resolve(opts.root);

  const fileOf = (key: string): string => {
    // Keys reach here already checked by keys.ts; this guard keeps the backend safe on its own.
    const full = path.resolve(root, key);
    if (!full.startsWith(root + path.sep) || key.includes('\0')) {
      throw new FlowsyncError('UNSAFE_PATH', `Key ${JSON.stringify(key)} leaves the store folder ${root}.`);
    }
    return full;
  };

  const infoOf = (key: string, st: Stats): ObjectInfo => ({ key, size: st.size, etag: etagOf(st), lastModified: st.mtime });

  async function checkRoot(): Promise<void> {
    try {
      const st = await fsp.stat(root);
      if (!st.isDirectory()) {
        throw new FlowsyncError('INVALID_INPUT', `The local store ${root} is a file, not a folder. Give a folder path.`);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(err, 'open the store', root);
    }
  }

  /** Move a finished temp file into place, honouring the write's preconditions. */
  async function commit(tmp: string, file: string, key: string, w: WriteInfo): Promise<ObjectInfo> {
    const label = `${key} in the store`;
    if (w.ifMatch !== undefined && w.ifNoneMatch !== '*') {
      // Check and replace under a lock: two writers holding the same tag must not both win.
      await withFileLock(file, async () => {
        const current = await fsp.stat(file).catch(() => null);
        if (!current || etagOf(current) !== w.ifMatch) {
          await fsp.rm(tmp, { force: true });
          throw new FlowsyncError('PRECONDITION_FAILED', `${key} changed in the store since it was read; another writer got there first.`);
        }
        await placeTemp(tmp, file, { label });
      });
    } else await placeTemp(tmp, file, { exclusive: w.ifNoneMatch === '*', label });
    return infoOf(key, await fsp.stat(file));
  }

  async function prepare(key: string): Promise<{ file: string; tmp: string }> {
    await checkRoot();
    const file = fileOf(key);
    await ensureFolder(path.dirname(file));
    return { file, tmp: tempNameFor(file) };
  }

  async function* walk(dir: string, relDir: string, prefix: string, signal?: AbortSignal): AsyncGenerator<ObjectInfo> {
    throwIfAborted(signal); // also when the folder is empty or missing
    let entries;
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw fsError(err, 'list', dir);
    }
    for (const d of entries) {
      throwIfAborted(signal);
      if (d.name.startsWith(TEMP_MARKER)) {
        if (d.isFile()) await sweepIfAbandoned(path.join(dir, d.name));
        continue;
      }
      const key = relDir ? `${relDir}/${d.name}` : d.name;
      if (d.isDirectory()) {
        // Descend only where keys can still match the prefix.
        if (key.startsWith(prefix) || prefix.startsWith(key + '/')) yield* walk(path.join(dir, d.name), key, prefix, signal);
      } else if (d.isFile() && key.startsWith(prefix)) {
        const st = await fsp.stat(path.join(dir, d.name)).catch(() => null);
        if (st) yield infoOf(key, st);
      }
    }
  }

  return {
    name: 'local',
    // No transport: nothing to check on the way (the engine's sha256 check stands).
    features: { multipart: true, conditionalWrite: true, rangeRead: true, metadata: false, transportDigest: null },
    limits: { deleteBatch: DELETE_BATCH, multipart: { minPartSize: 1, maxPartSize: 2 ** 40, maxParts: 10_000 } },
    tuning: { concurrency: 8, multipartThreshold: 64 * 1024 * 1024, partSize: 16 * 1024 * 1024 },

    async stat(key, o?: Op) {
      throwIfAborted(o?.signal);
      try {
        const st = await fsp.stat(fileOf(key));
        return st.isFile() ? infoOf(key, st) : null;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return null;
        throw fsError(err, 'stat', fileOf(key));
      }
    },

    async *list(prefix, o?: Op) {
      await checkRoot();
      // Start at the deepest folder the prefix names, not at the root.
      const slash = prefix.lastIndexOf('/');
      const relDir = slash === -1 ? '' : prefix.slice(0, slash);
      yield* walk(relDir ? fileOf(relDir) : root, relDir, prefix, o?.signal);
    },

    async read(key, o?: ReadOptions): Promise<Readable> {
      throwIfAborted(o?.signal);
      const file = fileOf(key);
      let handle;
      let size: number;
      try {
        handle = await fsp.open(file, 'r');
        const st = await handle.stat();
        if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
        size = st.size;
      } catch (err) {
        await handle?.close();
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') {
          throw new FlowsyncError('NOT_FOUND', `No object at ${key} in the store ${root}.`, { cause: err });
        }
        throw fsError(err, 'read', file);
      }
      const range = o?.range;
      // The stream owns the FileHandle and closes it once. (A stream over the bare fd number
      // plus a second handle.close() closed the fd twice, and under concurrency the second
      // close hit whatever file had just been given the same number.)
      // Read buffers no larger than what is read: a stream allocates its whole high-water mark
      // per read, so 64 KiB for every small file, and those buffers are what V8 counts as
      // external memory (100,000 small files made one full collection per ~1,000 files).
      const length = range ? Math.min(range[1], size) - range[0] : size;
      return handle.createReadStream({
        autoClose: true,
        highWaterMark: Math.min(READ_CHUNK, Math.max(1, length)),
        ...(range ? { start: range[0], end: range[1] - 1 } : {}),
        ...(o?.signal ? { signal: o.signal } : {}),
      });
    },

    async write(key, body, w, o?: Op) {
      throwIfAborted(o?.signal);
      const { file, tmp } = await prepare(key);
      try {
        await fsp.writeFile(tmp, body, o?.signal ? { signal: o.signal } : {});
      } catch (err) {
        await fsp.rm(tmp, { force: true });
        throwIfAborted(o?.signal);
        throw fsError(err, 'write', file);
      }
      return commit(tmp, file, key, w);
    },

    async delete(keys, o?: Op) {
      for (const key of keys) {
        throwIfAborted(o?.signal);
        const file = fileOf(key);
        try {
          await fsp.unlink(file);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT' || code === 'ENOTDIR') continue;
          throw fsError(err, 'delete', file);
        }
        await removeEmptyParents(file, root);
      }
    },

    async openMultipart(key, w, o?: Op): Promise<MultipartWriter> {
      throwIfAborted(o?.signal);
      const { file, tmp } = await prepare(key);
      const handle = await fsp.open(tmp, 'w').catch((err) => {
        throw fsError(err, 'write', tmp);
      });
      const written = new Set<number>();
      let closed = false;
      const close = async () => {
        if (!closed) {
          closed = true;
          await handle.close().catch(() => {});
        }
      };
      return {
        async writePart(n, data, _info, po) {
          throwIfAborted(po?.signal);
          if (closed) throw new FlowsyncError('NOT_FOUND', `Upload of ${key} was aborted.`);
          // Parts land at their own offset, so they may arrive in any order. A positional write
          // may write less than asked (very large parts), hence the loop.
          for (let done = 0; done < data.length; ) {
            const { bytesWritten } = await handle.write(data, done, data.length - done, (n - 1) * w.partSize + done);
            done += bytesWritten;
          }
          written.add(n);
        },
        async complete(done, po) {
          throwIfAborted(po?.signal);
          if (closed) throw new FlowsyncError('NOT_FOUND', `Upload of ${key} was aborted.`);
          const size = (await handle.stat()).size;
          await close();
          const expectedParts = Math.max(1, Math.ceil(done.size / w.partSize));
          if (size !== done.size || written.size !== expectedParts) {
            await fsp.rm(tmp, { force: true });
            throw new FlowsyncError('INTERNAL', `${key}: parts add up to ${size} bytes in ${written.size} parts, expected ${done.size} bytes in ${expectedParts}.`);
          }
          return commit(tmp, file, key, { ...w, size: done.size });
        },
        async abort() {
          await close();
          await fsp.rm(tmp, { force: true });
        },
      };
    },
  };
}
