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
