/**
 * A byte budget shared by every transfer of one operation, so the memory held in buffers stays
 * under a fixed ceiling whatever the file sizes and concurrency (lib-storage keeps memory at
 * part size × concurrency the same way). First come, first served.
 */
import { abortError } from '../errors.js';

const SMALLEST_CLASS = 4096;
/** Buffers up to this size come in size classes (and are worth recycling across files). */
export const SIZE_CLASSES_UP_TO = 1024 * 1024;
const SMALL_SPARES = 8 * 1024 * 1024;

/**
 * Buffers up to 1 MiB come in powers of two (at least 4 KiB), so files of different sizes share
 * spares; bigger ones (parts) are exactly their size, as every part but the last is the same.
 */
export function sizeClass(bytes: number): number {
  if (bytes <= SMALLEST_CLASS) return SMALLEST_CLASS;
  if (bytes > SIZE_CLASSES_UP_TO) return bytes;
  return 2 ** Math.ceil(Math.log2(bytes));
}

interface Waiter {
  bytes: number;
  grant: () => void;
}

export class ByteBudget {
  private used = 0;
  private readonly queue: Waiter[] = [];
  /**
   * Buffers given back by `buffer()` users, by size, kept while in-use bytes + spares fit the
   * limit; those of small classes only up to SMALL_SPARES in all (64 transfers at once would
   * otherwise keep dozens of them per class for the rest of the push).
   */
  private readonly spare = new Map<number, Buffer[]>();
  private spareBytes = 0;
  private smallSpareBytes = 0;

  constructor(readonly limit: number) {}

  /** Wait until `bytes` fit, then hold them; call the returned function to give them back. */
  async acquire(bytes: number, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) throw abortError(signal);
    if (this.queue.length === 0 && this.fits(bytes)) {
      this.used += bytes;
    } else {
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          const i = this.queue.indexOf(waiter);
          if (i >= 0) this.queue.splice(i, 1);
          reject(abortError(signal));
          this.grantWaiting();
        };
        const waiter: Waiter = {
          bytes,
          grant: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        this.queue.push(waiter);
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= bytes;
      this.grantWaiting();
    };
  }

  /**
   * Hold `bytes` and get a buffer of that size to fill, reused from an earlier holder when one
   * was given back: a big upload cycles through a few part buffers, and a push of many small files
   * through a few buffers per size class, instead of leaving each to the garbage collector. Its
   * lag let peak RSS reach twice the budget for parts; for 100k small files V8 let ~64 MB of
   * dead file buffers pile up (its external-memory trigger) plus what malloc kept of them. The
   * buffer must not be touched after `release()`.
   */
  async buffer(bytes: number, signal?: AbortSignal): Promise<{ data: Buffer; release: () => void }> {
    const size = sizeClass(bytes);
    const giveBack = await this.acquire(size, signal);
    const kept = this.takeSpare(size) ?? Buffer.allocUnsafe(size);
    // Held plus spare memory stays within the limit: spares of other sizes make room.
    for (const list of this.spare.values()) {
      while (this.used + this.spareBytes > this.limit && list.length > 0) this.forget(list.pop()!);
    }
    let released = false;
    return {
      data: size === bytes ? kept : kept.subarray(0, bytes),
      release: () => {
        if (released) return;
        released = true;
        // Still counted in `used` here: kept as a spare, the memory total does not change.
        if (this.used + this.spareBytes <= this.limit && (size > SIZE_CLASSES_UP_TO || this.smallSpareBytes + size <= SMALL_SPARES)) {
          const list = this.spare.get(size) ?? [];
          list.push(kept);
          this.spare.set(size, list);
          this.spareBytes += size;
          if (size <= SIZE_CLASSES_UP_TO) this.smallSpareBytes += size;
        }
        giveBack();
      },
    };
  }

  private takeSpare(size: number): Buffer | undefined {
    const b = this.spare.get(size)?.pop();
    if (b) this.forget(b);
    return b;
  }

  /** Accounts for a spare leaving the lists (reused, or left to the garbage collector). */
  private forget(b: Buffer): void {
    this.spareBytes -= b.length;
    if (b.length <= SIZE_CLASSES_UP_TO) this.smallSpareBytes -= b.length;
  }

  // A request larger than the whole budget may run alone, rather than never.
  private fits(bytes: number): boolean {
    return this.used === 0 || this.used + bytes <= this.limit;
  }

  private grantWaiting(): void {
    while (this.queue.length > 0 && this.fits(this.queue[0]!.bytes)) {
      const w = this.queue.shift()!;
      this.used += w.bytes; // reserved here, so a later arrival cannot overtake it
      w.grant();
    }
  }
}
