/**
 * sha256 of a file, with a guard against a file that changes while it is read: the file is
 * fstat'ed before and after, and if size, mtime or ctime moved it is read again (a few times),
 * then refused. A hash is never paired with bytes it was not computed from.
 */
import { createHash } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';
import { FlowsyncError, fsError, throwIfAborted } from '../errors.js';
import { hashOnThread } from './hash-threads.js';
import { identityOf, sameIdentity, type StatIdentity } from './identity.js';

export interface HashResult extends StatIdentity {
  sha256: string;
  /** The content, when the caller asked to keep files up to this size in memory. */
  data?: Buffer;
}

interface Options {
  signal?: AbortSignal;
  /** Return the content of files up to this size. */
  keepUpTo?: number;
  /**
   * Return the content of a file that fits, read into this buffer (the data is a view of it):
   * a caller that recycles its buffers allocates none per file. Wins over `keepUpTo`.
   */
  into?: Buffer;
  /** How to name the file in messages. */
  label?: string;
}

/**
 * Files up to this size are read with synchronous calls: for a small file the promise API's
 * per-call overhead is several times the read itself (here: 28 µs a file sync, 107 µs async).
 */
const SMALL_FILE = 1024 * 1024;
const READ_CHUNK = 1024 * 1024;
const ATTEMPTS = 3;

/** One read of the whole file: its hash, or null when it changed while being read. */
type Attempt = HashResult | null;

export async function hashFile(file: string, options: Options = {}): Promise<HashResult> {
  const label = options.label ?? file;
  for (let attempt = 1; ; attempt++) {
    throwIfAborted(options.signal);
    let result: Attempt;
    try {
      const small = readSmall(file, options);
      result = typeof small === 'number' ? await readLarge(file, small, options) : small;
    } catch (err) {
      throw fsError(err, 'read', label);
    }
    if (result) return result;
    if (attempt >= ATTEMPTS) {
      throw new FlowsyncError(
        'FILE_CHANGED',
        `${label} kept changing while it was read (${ATTEMPTS} attempts). Stop the process writing to it, or add it to .prefectignore, then push again.`,
      );
    }
    await new Promise((r) => setTimeout(r, 50 * attempt));
  }
}

/**
 * The buffer small reads use when the content is not kept: one allocation instead of one per
 * file, which for 100k files is a large share of the garbage and of the peak RSS. readSmall is
 * synchronous, so two reads never share it at once.
 */
let scratch: Buffer | null = null;

/** The buffer a file of `size` bytes is kept in, or null when the options do not keep it. */
function keepBuffer(size: number, options: Options): Buffer | null {
  if (options.into) return size <= options.into.length ? options.into.subarray(0, size) : null;
  return size <= (options.keepUpTo ?? -1) ? Buffer.allocUnsafe(size) : null;
}

/** The file's hash; or, for a file too big to read this way, its size as the fstat saw it. */
function readSmall(file: string, options: Options): Attempt | number {
  const fd = fs.openSync(file, 'r');
  try {
    const before = fs.fstatSync(fd);
    if (before.size > SMALL_FILE) return before.size;
    const kept = keepBuffer(before.size, options);
    const data = kept ?? (scratch ??= Buffer.allocUnsafe(SMALL_FILE)).subarray(0, before.size);
    let off = 0;
    while (off < data.length) {
      const n = fs.readSync(fd, data, off, data.length - off, off);
      if (n === 0) break;
      off += n;
    }
    const after = fs.fstatSync(fd);
    if (!sameIdentity(identityOf(before), identityOf(after)) || off !== before.size) return null;
    return { ...identityOf(after), sha256: createHash('sha256').update(data).digest('hex'), ...(kept ? { data } : {}) };
  } finally {
    fs.closeSync(fd);
  }
}

async function readLarge(file: string, size: number, options: Options): Promise<Attempt> {
  // A large file whose bytes nobody keeps is hashed on a worker thread (hash-threads.ts), when there is one.
  const mayKeep = (options.into ? options.into.length : (options.keepUpTo ?? 0)) > SMALL_FILE;
  if (!mayKeep) {
    const t = await hashOnThread(file, size, options.signal);
    if (t) return !sameIdentity(t.before, t.after) || t.bytesRead !== t.before.size ? null : { ...t.after, sha256: t.sha256 };
  }
  const handle = await fsp.open(file, 'r');
  try {
    const before = await handle.stat();
    const hash = createHash('sha256');
    const keep = keepBuffer(before.size, options);
    const buf = keep ?? Buffer.allocUnsafe(READ_CHUNK);
    let pos = 0;
    for (;;) {
      throwIfAborted(options.signal);
      const { bytesRead } = keep ? await handle.read(keep, pos, keep.length - pos, pos) : await handle.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      hash.update((keep ?? buf).subarray(keep ? pos : 0, keep ? pos + bytesRead : bytesRead));
      pos += bytesRead;
      if (keep && pos === keep.length) break;
    }
    const after = await handle.stat();
    if (!sameIdentity(identityOf(before), identityOf(after)) || pos !== before.size) return null;
    return { ...identityOf(after), sha256: hash.digest('hex'), ...(keep ? { data: keep } : {}) };
  } finally {
    await handle.close().catch(() => {});
  }
}
