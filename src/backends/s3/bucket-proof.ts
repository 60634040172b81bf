/**
 * Whether the bucket is known to exist. HEAD answers carry no error body, so a 404 may mean "no
 * such key" or "no bucket" until some request on the bucket has succeeded. A 404 that comes
 * while other requests are in flight waits for them before anyone spends a round trip on a
 * probe: a push asks for its lease and its manifest at once, and the manifest's answer usually
 * proves the bucket a moment later, for free.
 */
export class BucketProof {
  seen = false;
  private inFlight = 0;
  private waiting: (() => void)[] = [];

  /** Run a request counted as in flight: its success proves the bucket, and so does an error `provedBy` accepts. */
  async track<T>(request: () => Promise<T>, provedBy?: (err: unknown) => boolean): Promise<T> {
    this.inFlight++;
    try {
      const out = await request();
      this.seen = true;
      return out;
    } catch (err) {
      if (provedBy?.(err)) this.seen = true;
      throw err;
    } finally {
      this.inFlight--;
      const waiting = this.waiting;
      this.waiting = [];
      for (const wake of waiting) wake();
    }
  }

  /** Wait until the bucket is proven or nothing is in flight (or `signal` aborts); whether it is proven. */
  async settle(signal?: AbortSignal): Promise<boolean> {
    while (!this.seen && this.inFlight > 0 && !signal?.aborted) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal?.removeEventListener('abort', wake);
          resolve();
        };
        signal?.addEventListener('abort', wake, { once: true });
        this.waiting.push(wake);
      });
    }
    return this.seen;
  }
}
