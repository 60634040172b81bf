/**
 * Atomic file placement, shared by the local store and the pull's tree writer: bytes go to a
 * temporary file beside the target, which is then renamed over it (or hard-linked, for a
 * create-if-absent), so a reader never sees half a file. No fsync: a crash may lose the last
 * writes but never shows a torn file, and the next run re-checks content by hash anyway.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FlowsyncError, fsError } from '../errors.js';
import { inFolder } from './fs-path.js';
import { processAlive } from './process-alive.js';

/** Temporary files carry this marker so listings skip them and a later run can sweep them. */
export const TEMP_MARKER = '.flowsync-tmp-';

/**
 * Names this host, so a sweep can tell a temporary file whose writer died here (its pid is gone)
 * from one another host writes to a shared folder (which only its age can condemn).
 */
const HOST_TAG = createHash('sha256').update(os.hostname()).digest('hex').slice(0, 8);

/**
 * Host and pid (for the sweep), random (two processes that share a pid: containers on one
 * volume, a pid wrap) and a counter per call: drawing random bytes for every file was ≈15 µs a
 * call, 4 % of a fresh 5,000-file pull from the content cache.
 */
const TEMP_PREFIX = `${HOST_TAG}-${process.pid}-${randomBytes(4).toString('hex')}`;
let tempCounter = 0;

/** A temporary name in the same folder as `file` (same filesystem, so the rename is atomic). */
export function tempNameFor(file: string): string {
  return inFolder(path.dirname(file), `${TEMP_MARKER}${TEMP_PREFIX}${(tempCounter++).toString(36)}-${path.basename(file)}`.slice(0, 255));
}

/** What tempNameFor's names begin with: the marker, the host tag, the pid. */
const TEMP_WRITER = new RegExp(`^${TEMP_MARKER.replace(/[.]/g, '\\.')}([0-9a-f]{8})-(\\d+)-`);

/** True when the temporary file `name` was written by a process of this host that no longer runs. */
export function tempWriterGone(name: string): boolean {
  const m = TEMP_WRITER.exec(name);
  return m !== null && m[1] === HOST_TAG && !processAlive(Number(m[2]));
}

export async function ensureFolder(folder: string): Promise<void> {
  await fsp.mkdir(folder, { recursive: true }).catch((err) => {
    throw fsError(err, 'create folder', folder);
  });
}

/**
 * Move a finished temporary file to `file`. `exclusive`: fail with PRECONDITION_FAILED when
 * `file` exists (link() refuses to replace: an atomic create-if-absent). The temporary file is
 * gone afterwards, whether this succeeds or not.
 */
export async function placeTemp(tmp: string, file: string, o: { exclusive?: boolean; label?: string } = {}): Promise<void> {
  if (o.exclusive) {
    try {
      await fsp.link(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new FlowsyncError('PRECONDITION_FAILED', `${o.label ?? file} already exists; another writer got there first.`, { cause: err });
      }
      throw fsError(err, 'write', file);
    } finally {
      await fsp.rm(tmp, { force: true });
    }
    return;
  }
  try {
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw fsError(err, 'write', file);
  }
}

/**
 * `placeTemp` without `exclusive`, synchronously: for pulls of many small files, where the
 * promise API's cost per call is several times the rename itself.
 */
export function placeTempSync(tmp: string, file: string): void {
  try {
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw fsError(err, 'write', file);
  }
}

/**
 * Write `body` to `file` through a temporary file (the folder must exist). A body given as
 * pieces (an iterable of strings) is written piece by piece, never held whole.
 */
export async function writeFileAtomic(file: string, body: Uint8Array | Iterable<string>, o: { signal?: AbortSignal } = {}): Promise<void> {
  const tmp = tempNameFor(file);
  try {
    await fsp.writeFile(tmp, body, o.signal ? { signal: o.signal } : {});
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw fsError(err, 'write', file);
  }
  await placeTemp(tmp, file);
}

/** Create (or replace) a symbolic link at `file` pointing to `target`, atomically. */
export async function symlinkAtomic(target: string, file: string): Promise<void> {
  const tmp = tempNameFor(file);
  try {
    await fsp.symlink(target, tmp);
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw fsError(err, 'create link', file);
  }
}

/**
 * Remove the folders above `file` that became empty, up to (never including) `root`; stops at
 * the first folder that is not empty, or where `keep(folder)` says so. Returns the removed ones.
 */
export async function removeEmptyParents(file: string, root: string, keep?: (folder: string) => boolean): Promise<string[]> {
  const removed: string[] = [];
  for (let dir = path.dirname(file); dir.startsWith(root + path.sep) && !keep?.(dir); dir = path.dirname(dir)) {
    try {
      await fsp.rmdir(dir);
      removed.push(dir);
    } catch {
      break; // not empty (or gone): its parents are not empty either
    }
  }
  return removed;
}

/** Remove every temporary file a killed writer left in these folders. */
export async function sweepTempFiles(folders: Iterable<string>): Promise<void> {
  for (const folder of folders) {
    const names = await fsp.readdir(folder).catch(() => [] as string[]);
    for (const name of names) if (name.startsWith(TEMP_MARKER)) await fsp.rm(path.join(folder, name), { force: true });
  }
}

/**
 * Write all of `chunk` at `position` (continuing a short write), synchronously on purpose: a
 * chunk (64 KiB from a socket) goes to the page cache in microseconds, while a hop to libuv's
 * thread pool and back per chunk cost four times the system time (1 GiB in 64 KiB writes on the 2-core bench machine: 0.25 s
 * synchronous, 1.7 s through fs.promises).
 */
export function writeAt(fd: number, chunk: Uint8Array, position: number): void {
  for (let off = 0; off < chunk.length; ) off += fs.writeSync(fd, chunk, off, chunk.length - off, position + off);
}
