/**
 * A content cache entry written while its download comes in. The downloader hands over each
 * chunk it has hashed and written to the destination; this writes the same chunks, batched, on
 * libuv's thread pool, so the cache's copy overlaps the download instead of following it (a
 * copy afterwards reads the whole file back and waits for it). Measured, 1 GiB from s3rver on
 * the 2-core bench machine, three runs each: download then copyFile 5.9-7.6 s, with the entry
 * written alongside 3.4-4.9 s, the download alone 2.9-4.5 s.
 *
 * A small entry (≤ 1 MiB, its bytes in memory in one or a few chunks) is written at once with
 * synchronous calls instead: a hop to the pool per file would cost more than the write, and it
 * saves the copy afterwards (open the file again, copy, chmod) that small files had before:
 * a 5,000-file packed pull into an empty cache spent more CPU on those copies than on anything.
 *
 * Memory: chunks are held only until written, at most one batch on the pool and one filling;
 * past that, write() returns a promise the downloader waits on (a disk slower than the network
 * slows the download rather than piling up buffers). Best effort: a failed write stops the copy,
 * never the download; the cache then reports itself unwritable (ContentCache.endEntry).
 */
import fs from 'node:fs';
import { writeAt } from '../util/atomic-write.js';

const BATCH_BYTES = 1024 * 1024;
/** Entries up to this size are written synchronously, chunk by chunk, as they come. */
const WRITE_AT_ONCE = 1024 * 1024;

export class EntryWriter {
  /** Why the copy stopped, when a write failed. */
  failure: unknown = null;
  private batch: Uint8Array[] = [];
  private batchBytes = 0;
  private received = 0;
  private position = 0;
  private writing: Promise<void> | null = null;
  private open = true;

  constructor(
    readonly sha256: string,
    readonly size: number,
    readonly tmp: string,
    private readonly fd: number,
  ) {}

  /** The content's next bytes, in order from the first. A promise when the download should wait for the disk. */
  write(chunk: Uint8Array): Promise<void> | undefined {
    if (this.failure !== null || !this.open || chunk.length === 0) return undefined;
    this.received += chunk.length;
    if (this.size <= WRITE_AT_ONCE) {
      try {
        writeAt(this.fd, chunk, this.position);
        this.position += chunk.length;
      } catch (err) {
        this.failure = err;
      }
      return undefined;
    }
    this.batch.push(chunk);
    this.batchBytes += chunk.length;
    if (this.batchBytes < BATCH_BYTES) return undefined;
    if (this.writing === null) {
      this.flush();
      return undefined;
    }
    // The caller awaits this before its next chunk, so only one waiter flushes.
    return this.writing.then(() => this.flush());
  }

  /** Write what is left and close; true when exactly the entry's size went to disk. */
  async finish(): Promise<boolean> {
    if (!this.open) return false;
    if (this.writing) await this.writing;
    if (this.batchBytes > 0) this.flush();
    if (this.writing) await this.writing;
    this.close();
    return this.failure === null && this.received === this.size && this.position === this.size;
  }

  /** Stop without finishing (the download failed): waits for a write in flight, then closes. */
  async abandon(): Promise<void> {
    if (this.writing) await this.writing;
    this.close();
  }

  private flush(): void {
    if (this.failure !== null || this.batchBytes === 0) return;
    const chunks = this.batch;
    const at = this.position;
    this.position += this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
    this.writing = writeAll(this.fd, chunks, at).then(
      () => {
        this.writing = null;
      },
      (err: unknown) => {
        this.failure = err;
        this.writing = null;
      },
    );
  }

  private close(): void {
    if (!this.open) return;
    this.open = false;
    this.batch = [];
    try {
      fs.closeSync(this.fd);
    } catch (err) {
      this.failure ??= err;
    }
  }
}

/** One writev of `chunks` at `position`, continued where a short write stopped. */
async function writeAll(fd: number, chunks: Uint8Array[], position: number): Promise<void> {
  let rest = chunks;
  let at = position;
  while (rest.length > 0) {
    const n = await new Promise<number>((resolve, reject) => fs.writev(fd, rest, at, (err, written) => (err ? reject(err) : resolve(written))));
    if (n === 0) throw new Error('the disk took no bytes');
    at += n;
    rest = dropBytes(rest, n);
  }
}

function dropBytes(chunks: Uint8Array[], n: number): Uint8Array[] {
  let i = 0;
  let left = n;
  while (i < chunks.length && left >= chunks[i]!.length) left -= chunks[i++]!.length;
  const rest = chunks.slice(i);
  if (left > 0 && rest.length > 0) rest[0] = rest[0]!.subarray(left);
  return rest;
}
