/**
 * A byte budget shared by every transfer of one operation, so the memory held in buffers stays
 * under a fixed ceiling whatever the file sizes and concurrency (lib-storage keeps memory at
 * part size × concurrency the same way). First come, first served.
 */
import { abortError } from '../errors.js';

interface Waiter {
  bytes: number;
  grant: () => void;
}

export class ByteBudget {
  private used = 0;
  private readonly queue: Waiter[] = [];
  /** Buffers given back by `buffer()` users, by size, kept while in-use bytes + spares fit the limit. */
  private readonly spare = new Map<number, Buffer[]>();
  private spareBytes = 0;

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
   * was given back: a big upload cycles through a few part buffers instead of leaving each to the
   * garbage collector, whose lag let peak RSS reach twice the budget. The buffer must not be
   * touched after `release()`.
   */
  async buffer(bytes: number, signal?: AbortSignal): Promise<{ data: Buffer; release: () => void }> {
    const giveBack = await this.acquire(bytes, signal);
    let data = this.spare.get(bytes)?.pop();
    if (data) this.spareBytes -= bytes;
    else data = Buffer.allocUnsafe(bytes);
    // Held plus spare memory stays within the limit: spares of other sizes make room.
    for (const list of this.spare.values()) {
      while (this.used + this.spareBytes > this.limit && list.length > 0) this.spareBytes -= list.pop()!.length;
    }
    let released = false;
    return {
      data,
      release: () => {
        if (released) return;
        released = true;
        // Still counted in `used` here: kept as a spare, the memory total does not change.
        if (this.used + this.spareBytes <= this.limit) {
          const list = this.spare.get(bytes) ?? [];
          list.push(data);
          this.spare.set(bytes, list);
          this.spareBytes += bytes;
        }
        giveBack();
      },
    };
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
