/**
 * Deterministic randomness for the data generator: the same seed gives the same tree, byte for
 * byte, on any machine. Choices come from a small PRNG (sfc32); file bytes come from an
 * AES-128-CTR keystream, which is deterministic and far faster than a JS loop for big files.
 */
import { createCipheriv, createHash } from 'node:crypto';

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: string) {
    const h = createHash('sha256').update(`flowsync-bench-rng:${seed}`).digest();
    this.a = h.readUInt32LE(0);
    this.b = h.readUInt32LE(4);
    this.c = h.readUInt32LE(8);
    this.d = h.readUInt32LE(12);
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    // sfc32
    this.a >>>= 0;
    this.b >>>= 0;
    this.c >>>= 0;
    this.d >>>= 0;
    let t = (this.a + this.b) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.d = (this.d + 1) | 0;
    t = (t + this.d) | 0;
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** `count` distinct items, in the order drawn (partial Fisher-Yates on a copy). */
  sample<T>(items: readonly T[], count: number): T[] {
    const copy = items.slice();
    const n = Math.min(count, copy.length);
    for (let i = 0; i < n; i++) {
      const j = i + Math.floor(this.next() * (copy.length - i));
      [copy[i], copy[j]] = [copy[j]!, copy[i]!];
    }
    return copy.slice(0, n);
  }
}

/** A keystream for one file version: same (seed, path, generation) → same bytes. */
export class ByteStream {
  private readonly cipher;

  constructor(seed: string, path: string, generation: number) {
    const key = createHash('sha256').update(`flowsync-bench-key:${seed}`).digest().subarray(0, 16);
    const iv = createHash('sha256').update(`${path}\0${generation}`).digest().subarray(0, 16);
    this.cipher = createCipheriv('aes-128-ctr', key, iv);
  }

  /** The next `size` bytes of keystream (random-looking binary). */
  binary(size: number): Buffer {
    return this.cipher.update(Buffer.alloc(size));
  }

  /** The next `size` bytes as source-like text: printable ASCII in lines of varying length. */
  text(size: number): Buffer {
    const buf = this.binary(size);
    let col = 0;
    for (let i = 0; i < buf.length; i++) {
      const b = buf[i]!;
      // End a line after 20-100 columns; otherwise map to a letter, digit or a little punctuation.
      if (col > 20 && (b < 6 || col >= 100)) {
        buf[i] = 0x0a;
        col = 0;
      } else {
        buf[i] = TEXT_ALPHABET[b % TEXT_ALPHABET.length]!;
        col++;
      }
    }
    return buf;
  }
}

const TEXT_ALPHABET = Buffer.from('abcdefghijklmnopqrstuvwxyz    ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.,:()[]=+-"\'#');
