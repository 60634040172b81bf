/**
 * sha256 of a file, with a guard against a file that changes while it is read: the file is
 * fstat'ed before and after, and if size, mtime or ctime moved it is read again (a few times),
 * then refused. A hash is never paired with bytes it was not computed from.
 */
import { createHash } from 'node:crypto';
import { promises as fsp, type BigIntStats } from 'node:fs';
import { FlowsyncError, fsError, throwIfAborted } from '../errors.js';
import { identityOf, type StatIdentity } from '../walk/walk.js';

export interface HashResult extends StatIdentity {
  sha256: string;
  /** The content, when the caller asked to keep files up to this size in memory. */
  data?: Buffer;
}

const READ_CHUNK = 1024 * 1024;
const ATTEMPTS = 3;

function sameIdentity(a: BigIntStats, b: BigIntStats): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino;
}

export async function hashFile(file: string, options: { signal?: AbortSignal; keepUpTo?: number; label?: string } = {}): Promise<HashResult> {
  const label = options.label ?? file;
  for (let attempt = 1; ; attempt++) {
    throwIfAborted(options.signal);
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(file, 'r');
    } catch (err) {
      throw fsError(err, 'read', label);
    }
    try {
      const before = await handle.stat({ bigint: true });
      const size = Number(before.size);
      const hash = createHash('sha256');
      let data: Buffer | undefined;
      if (size <= (options.keepUpTo ?? -1)) {
        data = Buffer.allocUnsafe(size);
        let off = 0;
        while (off < size) {
          const { bytesRead } = await handle.read(data, off, size - off, off);
          if (bytesRead === 0) break;
          off += bytesRead;
        }
        data = data.subarray(0, off);
        hash.update(data);
      } else {
        const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(size, 1)));
        for (let pos = 0; ; ) {
          throwIfAborted(options.signal);
          const { bytesRead } = await handle.read(buf, 0, buf.length, pos);
          if (bytesRead === 0) break;
          hash.update(buf.subarray(0, bytesRead));
          pos += bytesRead;
        }
      }
      const after = await handle.stat({ bigint: true });
      if (sameIdentity(before, after)) {
        return { ...identityOf(after), sha256: hash.digest('hex'), ...(data ? { data } : {}) };
      }
    } catch (err) {
      throw fsError(err, 'read', label);
    } finally {
      await handle.close().catch(() => {});
    }
    if (attempt >= ATTEMPTS) {
      throw new FlowsyncError(
        'FILE_CHANGED',
        `${label} kept changing while it was read (${ATTEMPTS} attempts). Stop the process writing to it, or add it to .prefectignore, then push again.`,
      );
    }
    await new Promise((r) => setTimeout(r, 50 * attempt));
  }
}
