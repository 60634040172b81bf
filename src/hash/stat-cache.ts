/**
 * The stat cache: like git's index, it remembers (size, mtime ns, ctime ns, inode) → sha256 per
 * file, so a file whose stat has not moved is never read again. It lives in the user's cache
 * folder, never inside the pushed tree.
 *
 * Racy entries: a file written in the same timestamp tick as it was hashed could change again
 * without its mtime moving. Such entries are hashed once more when the cache is saved, after the
 * tick has passed; only then are they trusted (git solves the same problem the same way).
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { sameIdentity, type StatIdentity } from './identity.js';
import { hashFile } from './hash-file.js';
import { compareUtf8 } from '../manifest/paths.js';

const FORMAT = 'flowsync-statcache-3';
/** Linux file times come from a coarse kernel clock (a few ms); stay well above it. */
const FINE_TICK_MS = 50;
/** Filesystems that store whole seconds (FAT, old HFS+) need a whole tick of margin. */
const COARSE_TICK_MS = 2000;
/** Numbers kept per row: size, mtimeMs, ctimeMs, ino. */
const NUMS = 4;
const SHA_BYTES = 32;

interface Entry extends StatIdentity {
  sha256: string;
}

function tickOf(mtimeMs: number): number {
  return mtimeMs % 1000 === 0 ? COARSE_TICK_MS : FINE_TICK_MS;
}

/**
 * The rows of a saved cache, in columns: paths sorted in manifest order (UTF-8 bytes), their
 * stat numbers in one Float64Array and their hashes as raw bytes. The file is those columns
 * as they are (a JSON header line, the numbers, the hashes, the '\n'-joined paths), so loading
 * 100k rows is a read, a copy and one split: no per-row objects for the garbage collector.
 * Paths never contain '\n' (the walker refuses control characters in names).
 */
interface Columns {
  paths: string[];
  nums: Float64Array;
  shas: Buffer;
}

const EMPTY: Columns = { paths: [], nums: new Float64Array(0), shas: Buffer.alloc(0) };

function decode(buf: Buffer, root: string): Columns {
  const eol = buf.indexOf(10);
  if (eol < 0) return EMPTY;
  const head = JSON.parse(buf.toString('utf8', 0, eol)) as { format?: string; root?: string; count?: number };
  const count = head.count;
  if (head.format !== FORMAT || head.root !== root || !Number.isSafeInteger(count) || count! < 0) return EMPTY;
  const n = count!;
  const numsAt = eol + 1;
  const shasAt = numsAt + n * NUMS * 8;
  const pathsAt = shasAt + n * SHA_BYTES;
  if (n === 0 || buf.length < pathsAt) return EMPTY;
  const paths = buf.toString('utf8', pathsAt).split('\n');
  if (paths.length !== n) return EMPTY;
  // Copied into a fresh array: a Float64Array view needs an 8-byte aligned offset.
  const nums = new Float64Array(n * NUMS);
  Buffer.from(nums.buffer).set(buf.subarray(numsAt, shasAt));
  // The hashes copied too: a view would keep the whole file's buffer (paths included, ~17 MB at 100k) alive.
  return { paths, nums, shas: Buffer.from(buf.subarray(shasAt, pathsAt)) };
}

/** Only at or above U+D800 can UTF-16 order (`<`) differ from UTF-8 byte order. */
const ABOVE_D800 = /[\uD800-\uFFFF]/;

function header(root: string, count: number): Buffer {
  return Buffer.from(JSON.stringify({ format: FORMAT, root, count }) + '\n');
}

/**
 * Hashes computed in this run, in columns as the saved rows are (a Map of row objects was ~200
 * bytes a file at 100k). The sha256 strings are the manifest entries' own, so they cost a slot.
 */
class AddedRows {
  readonly paths: string[] = [];
  /** size, mtimeMs, ctimeMs, ino per row: a plain array of doubles is stored unboxed. */
  readonly nums: number[] = [];
  readonly shas: string[] = [];

  add(relPath: string, e: Entry): void {
    this.paths.push(relPath);
    this.nums.push(e.size, e.mtimeMs, e.ctimeMs, e.ino);
    this.shas.push(e.sha256);
  }

  get size(): number {
    return this.paths.length;
  }

  /** Row numbers in path order (hashes finish in any order). */
  sortedRows(): number[] {
    const rows = this.paths.map((_, i) => i);
    let sorted = true;
    for (let i = 1; i < rows.length && sorted; i++) sorted = this.paths[i - 1]! < this.paths[i]!;
    return sorted && !this.paths.some((p) => ABOVE_D800.test(p)) ? rows : rows.sort((a, b) => compareUtf8(this.paths[a]!, this.paths[b]!));
  }
}

export class StatCache {
  private readonly added = new AddedRows();
  private readonly racy = new Map<string, { source: string; entry: Entry }>();
  /** Rows of the saved cache confirmed by this run (kept by the next save). */
  private readonly seenRows: Uint8Array;
  private seen = 0;
  /** Where the next lookup is expected: the walk asks in the order the rows are stored. */
  private cursor = 0;

  private constructor(
    private readonly file: string | null,
    private readonly root: string,
    private readonly previous: Columns,
  ) {
    this.seenRows = new Uint8Array(previous.paths.length);
  }

  /** A cache that remembers nothing (cacheDir: false). */
  static disabled(): StatCache {
    return new StatCache(null, '', EMPTY);
  }

  /** Load the cache for the tree at `root`. A missing or damaged cache file is an empty cache. */
  static async load(root: string, cacheDir: string): Promise<StatCache> {
    const real = await fsp.realpath(root).catch(() => path.resolve(root));
    const id = createHash('sha256').update(real).digest('hex').slice(0, 32);
    const file = path.join(cacheDir, `statcache-${id}.bin`);
    let previous = EMPTY;
    try {
      previous = decode(await fsp.readFile(file), real);
    } catch {
      // No cache yet, or unreadable: every file is hashed once and the cache is rebuilt.
    }
    return new StatCache(file, real, previous);
  }

  /** The cached sha256 if the file's stat has not moved since it was hashed. */
  lookup(relPath: string, id: StatIdentity): string | null {
    const i = this.rowOf(relPath);
    if (i < 0) return null;
    const n = this.previous.nums;
    const k = i * NUMS;
    if (n[k] !== id.size || n[k + 1] !== id.mtimeMs || n[k + 2] !== id.ctimeMs || n[k + 3] !== id.ino) return null;
    if (this.seenRows[i] === 0) {
      this.seenRows[i] = 1;
      this.seen++;
    }
    return this.previous.shas.toString('hex', i * SHA_BYTES, (i + 1) * SHA_BYTES);
  }

  /** The row of `relPath`, or -1: the cursor answers a walk in order, a binary search anything else. */
  private rowOf(relPath: string): number {
    const paths = this.previous.paths;
    let i = this.cursor;
    if (paths[i] !== relPath) {
      let lo = 0;
      let hi = paths.length - 1;
      i = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        const c = compareUtf8(paths[mid]!, relPath);
        if (c === 0) {
          i = mid;
          break;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
      }
      if (i < 0) return -1;
    }
    this.cursor = i + 1;
    return i;
  }

  /** Record a hash computed now; `hashStartedMs` is the wall clock when the read began. */
  record(relPath: string, source: string, id: StatIdentity, sha256: string, hashStartedMs: number): void {
    if (relPath.includes('\n')) return; // cannot be stored in the '\n'-joined column
    const entry: Entry = { size: id.size, mtimeMs: id.mtimeMs, ctimeMs: id.ctimeMs, ino: id.ino, sha256 };
    if (id.mtimeMs + tickOf(id.mtimeMs) >= hashStartedMs) this.racy.set(relPath, { source, entry });
    else this.added.add(relPath, entry);
  }

  /** Write the cache (if anything changed), first confirming racy entries. */
  async save(): Promise<void> {
    if (this.file === null) return;
    if (this.racy.size > 0) await this.confirmRacy();
    if (this.added.size === 0 && this.seen === this.previous.paths.length) return;
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      await fsp.mkdir(path.dirname(this.file), { recursive: true });
      const fh = await fsp.open(tmp, 'w');
      try {
        // The columns go out as they are: no concatenated copy of the whole file.
        const { count, nums, shas, paths } = this.merged();
        const parts = [header(this.root, count), Buffer.from(nums.buffer, nums.byteOffset, nums.byteLength), shas, paths];
        const { bytesWritten } = await fh.writev(parts);
        if (bytesWritten !== parts.reduce((n, b) => n + b.length, 0)) throw new Error('short write'); // disk full: no cache this time
      } finally {
        await fh.close();
      }
      await fsp.rename(tmp, this.file);
    } catch {
      // The cache only saves time; failing to write it must not fail a push.
      await fsp.rm(tmp, { force: true }).catch(() => {});
    }
  }

  /**
   * The rows to save, in path order: saved rows seen in this run, and the new hashes (a path
   * in both keeps its new hash). Both lists are sorted, so one merge writes the columns.
   */
  private merged(): { count: number; nums: Float64Array; shas: Buffer; paths: Buffer } {
    const prev = this.previous;
    const add = this.added;
    const order = add.sortedRows();
    const count = this.seen + order.length;
    const nums = new Float64Array(count * NUMS);
    const shas = Buffer.alloc(count * SHA_BYTES);
    const names: string[] = [];
    let i = 0;
    let j = 0;
    const nextSeen = () => {
      while (i < prev.paths.length && this.seenRows[i] === 0) i++;
      return i < prev.paths.length ? i : -1;
    };
    for (let at = nextSeen(); at >= 0 || j < order.length; at = nextSeen()) {
      const c = at < 0 ? 1 : j >= order.length ? -1 : compareUtf8(prev.paths[at]!, add.paths[order[j]!]!);
      let row = names.length;
      if (c < 0) {
        names.push(prev.paths[at]!);
        nums.set(prev.nums.subarray(at * NUMS, (at + 1) * NUMS), row * NUMS);
        prev.shas.copy(shas, row * SHA_BYTES, at * SHA_BYTES, (at + 1) * SHA_BYTES);
      } else {
        const r = order[j++]!;
        if (names.at(-1) === add.paths[r]) row--; // recorded twice: the later hash wins
        else names.push(add.paths[r]!);
        for (let k = 0; k < NUMS; k++) nums[row * NUMS + k] = add.nums[r * NUMS + k]!;
        shas.write(add.shas[r]!, row * SHA_BYTES, SHA_BYTES, 'hex');
      }
      if (c <= 0) i++;
    }
    return { count: names.length, nums: nums.subarray(0, names.length * NUMS), shas: shas.subarray(0, names.length * SHA_BYTES), paths: Buffer.from(names.join('\n')) };
  }

  private async confirmRacy(): Promise<void> {
    let latest = 0;
    for (const { entry } of this.racy.values()) latest = Math.max(latest, entry.mtimeMs + tickOf(entry.mtimeMs));
    const waitMs = Math.ceil(latest - Date.now()) + 1;
    if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
    for (const [relPath, { source, entry }] of this.racy) {
      try {
        const again = await hashFile(source);
        if (again.sha256 === entry.sha256 && sameIdentity(again, entry)) this.added.add(relPath, entry);
      } catch {
        // Gone or unreadable now: leave it out; the next run hashes it.
      }
    }
    this.racy.clear();
  }
}
