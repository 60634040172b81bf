/**
 * The machine-wide content cache of the worker side (DESIGN §12): verified file contents named
 * by their sha256, shared by every pull of this user on this machine.
 *
 *   <root>/objects/<first 2 hex>/<sha256>   one file per content, read-only (0444)
 *   <root>/tmp/                              entries being written (renamed into objects/)
 *   <root>/usage.json                        bytes and entries as of the last count (a hint)
 *
 * Concurrency without a global lock: names are content hashes, an entry is written complete
 * under a temporary name and renamed into place (a rename over an existing entry swaps in the
 * same bytes), and a pull that finds an entry gone (evicted meanwhile) simply downloads.
 *
 * When entries are verified: every hit is hashed, always. A size check on the stat rejects a
 * truncated entry for free, but neither size nor mtime can tell a flipped bit or a file edited in
 * place with its mtime restored, and the bytes of a hit are read anyway to make the copy (for
 * small files: read once, hashed, written from the same buffer; for big ones: copied, then the
 * copy is hashed, which also proves the copy). Hashing costs ≈1 ms per MB here, a small price
 * for "a pull places only bytes that match the manifest". An entry that does not hash to its
 * name is deleted and the file is downloaded instead.
 *
 * Least recently used goes first: an entry's mtime is its last use (touched on a hit at most once
 * a minute). When the count passes the bound, the oldest entries are removed until the cache is
 * back under 80 % of it.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { fsError } from '../errors.js';
import { hashFile } from '../hash/hash-file.js';
import { defaultCacheDir } from '../util/cache-dir.js';
import { inFolder } from '../util/fs-path.js';
import { readUsage, trimCache, writeUsage } from './cache-usage.js';
import { EntryWriter } from './entry-writer.js';

export interface ContentCacheOptions {
  /** The cache folder (default `<user cache dir>/content`, see FLOWSYNC_CACHE_DIR). */
  root?: string;
  /** Size bound in bytes (default 10 GiB). */
  maxBytes?: number;
  /**
   * Hard-link hits instead of copying them. The placed files are then read-only and share the
   * cache's inode: a flow that edited one in place would otherwise change the cache's copy.
   * Executable files are still copied (a mode belongs to the inode).
   */
  link?: boolean;
  /** Told when an entry is discarded or the cache cannot be written. */
  onWarn?: (message: string) => void;
}

export interface CacheStats {
  /** Files placed from the cache, and their bytes. */
  hits: number;
  hitBytes: number;
  misses: number;
  /** Entries this pull added, and their bytes. */
  added: number;
  addedBytes: number;
  /** Entries found corrupt (not hashing to their name) and deleted. */
  discarded: number;
}

export const DEFAULT_CACHE_BYTES = 10 * 1024 ** 3;
/** Files up to this size are read into memory, hashed and written with synchronous calls. */
const SMALL_FILE = 1024 * 1024;
/** A hit refreshes the entry's mtime (its last use) when it is older than this. */
const TOUCH_AFTER_MS = 60_000;
const SHA256_HEX = /^[0-9a-f]{64}$/;
/** What a new file gets (0666 less the umask), read once: process.umask() is process-wide anyway. */
const NEW_FILE_MODE = 0o666 & ~process.umask();

const TMP_TAG = randomBytes(6).toString('hex');
let tmpCount = 0;

/** placeSmall is synchronous from its read to its write, so two hits never share this buffer at once. */
let scratch: Buffer | null = null;

export function defaultContentCacheDir(): string {
  return path.join(defaultCacheDir(), 'content');
}

export class ContentCache {
  readonly root: string;
  private readonly objects: string;
  readonly maxBytes: number;
  readonly link: boolean;
  readonly stats: CacheStats = { hits: 0, hitBytes: 0, misses: 0, added: 0, addedBytes: 0, discarded: 0 };
  private readonly onWarn: (message: string) => void;
  private readonly madeDirs = new Set<string>();
  private addsFailed = false;
  /** Bytes the cache holds as far as this process knows (usage hint + its own adds). */
  private estimate: number | null = null;
  private trimming: Promise<void> | null = null;
  /** Entries and bytes added since the last count was written (what usage.json does not know yet). */
  private uncounted = { entries: 0, bytes: 0 };

  constructor(o: ContentCacheOptions = {}) {
    this.root = path.resolve(o.root ?? defaultContentCacheDir());
    this.objects = path.join(this.root, 'objects');
    this.maxBytes = o.maxBytes ?? DEFAULT_CACHE_BYTES;
    this.link = o.link ?? false;
    this.onWarn = o.onWarn ?? (() => {});
  }

  entryPath(sha256: string): string {
    return inFolder(inFolder(this.objects, sha256.slice(0, 2)), sha256);
  }

  /**
   * Whether the cache seems to hold this content (a stat: right name, right size), for planners
   * that batch reads, such as pack reads: they plan only what the cache lacks. `place` still
   * verifies, so a caller must be able to fetch a file this said yes to (an entry found corrupt).
   */
  mayHave(sha256: string, size: number): boolean {
    if (!SHA256_HEX.test(sha256)) return false;
    try {
      const st = fs.statSync(this.entryPath(sha256), { throwIfNoEntry: false });
      return st !== undefined && st.isFile() && st.size === size;
    } catch {
      return false;
    }
  }

  /**
   * Put the content named `sha256` at `dest`, a path that must not exist yet (the caller's
   * temporary name, renamed into place by the caller). Returns false on a miss: nothing is then
   * left at `dest`. Errors writing `dest` are thrown; a cache that cannot be read is a miss.
   */
  async place(sha256: string, size: number, dest: string, mode: number = 0o644): Promise<boolean> {
    if (!SHA256_HEX.test(sha256)) return this.miss();
    const entry = this.entryPath(sha256);
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(entry, { throwIfNoEntry: false }); // a miss is the usual case: no exception for it
    } catch {
      return this.miss();
    }
    if (!st) return this.miss();
    if (!st.isFile() || st.size !== size) return this.discard(entry, sha256, `its size is ${st.size} B, not ${size} B`);
    let served: boolean;
    if (this.link && mode !== 0o755) served = await this.placeLinked(entry, sha256, dest);
    else if (size <= SMALL_FILE) served = this.placeSmall(entry, sha256, size, dest);
    else served = await this.placeLarge(entry, sha256, dest);
    if (!served) return false;
    if (Date.now() - st.mtimeMs > TOUCH_AFTER_MS) {
      const now = new Date();
      try {
        fs.utimesSync(entry, now, now);
      } catch {
        // evicted or not ours: its age only matters to eviction
      }
    }
    this.stats.hits++;
    this.stats.hitBytes += size;
    return true;
  }

  private placeSmall(entry: string, sha256: string, size: number, dest: string): boolean {
    // One reusable buffer: a fresh one per file was most of the garbage of a pull from the cache.
    const data = (scratch ??= Buffer.allocUnsafe(SMALL_FILE)).subarray(0, size);
    try {
      const fd = fs.openSync(entry, 'r');
      try {
        let off = 0;
        for (let n = 1; off < size && n > 0; off += n) n = fs.readSync(fd, data, off, size - off, off);
        if (off !== size) return this.discard(entry, sha256, 'it is shorter than its size');
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      return this.miss();
    }
    if (createHash('sha256').update(data).digest('hex') !== sha256) return this.discard(entry, sha256, 'its content no longer hashes to its name');
    try {
      fs.writeFileSync(dest, data, { flag: 'wx' });
    } catch (err) {
      throw fsError(err, 'write', dest);
    }
    return true;
  }

  /** Copy (a reflink where the file system has one), then hash the copy: that reads it once and proves it. */
  private async placeLarge(entry: string, sha256: string, dest: string): Promise<boolean> {
    try {
      await fsp.copyFile(entry, dest, fs.constants.COPYFILE_EXCL | fs.constants.COPYFILE_FICLONE);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && !fs.existsSync(entry)) return this.miss();
      throw fsError(err, 'write', dest);
    }
    // A copy takes the entry's read-only mode: give it a new file's mode instead.
    await fsp.chmod(dest, NEW_FILE_MODE);
    const { sha256: got } = await hashFile(dest);
    if (got !== sha256) {
      fs.rmSync(dest, { force: true });
      return this.discard(entry, sha256, 'its content no longer hashes to its name');
    }
    return true;
  }

  private async placeLinked(entry: string, sha256: string, dest: string): Promise<boolean> {
    const { sha256: got } = await hashFile(entry).catch(() => ({ sha256: null }));
    if (got === null) return this.miss();
    if (got !== sha256) return this.discard(entry, sha256, 'its content no longer hashes to its name');
    try {
      fs.linkSync(entry, dest);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && !fs.existsSync(entry)) return this.miss();
      // EXDEV (the cache is on another file system) and the like: copy instead.
      if (code === 'EXDEV' || code === 'EMLINK' || code === 'EPERM') {
        await fsp.copyFile(entry, dest, fs.constants.COPYFILE_EXCL | fs.constants.COPYFILE_FICLONE).catch((e) => {
          throw fsError(e, 'write', dest);
        });
        await fsp.chmod(dest, NEW_FILE_MODE);
        return true;
      }
      throw fsError(err, 'write', dest);
    }
    return true;
  }

  private miss(): false {
    this.stats.misses++;
    return false;
  }

  private discard(entry: string, sha256: string, why: string): false {
    fs.rmSync(entry, { force: true });
    this.stats.discarded++;
    this.onWarn(`content cache entry ${sha256.slice(0, 16)} was discarded (${why}); downloading that file instead.`);
    return this.miss();
  }

  /** Add verified bytes (the engine hashed them against the manifest). Best effort: a cache that cannot be written is skipped. */
  addData(sha256: string, data: Uint8Array): void {
    if (!this.accepts(sha256, data.length)) return;
    const entry = this.entryPath(sha256);
    if (this.alreadyHeld(entry)) return;
    const tmp = this.tmpName();
    try {
      this.ensureDir(path.dirname(tmp));
      fs.writeFileSync(tmp, data, { mode: 0o444 });
      this.commit(tmp, entry, data.length);
    } catch (err) {
      this.addFailed(tmp, err);
    }
  }

  /** Add a verified file's content by copying it (a reflink where possible). */
  async addFile(sha256: string, file: string, size: number): Promise<void> {
    if (!this.accepts(sha256, size)) return;
    const entry = this.entryPath(sha256);
    if (this.alreadyHeld(entry)) return;
    const tmp = this.tmpName();
    try {
      this.ensureDir(path.dirname(tmp));
      if (size <= SMALL_FILE) fs.copyFileSync(file, tmp, fs.constants.COPYFILE_FICLONE);
      else await fsp.copyFile(file, tmp, fs.constants.COPYFILE_FICLONE);
      fs.chmodSync(tmp, 0o444);
      this.commit(tmp, entry, size);
    } catch (err) {
      this.addFailed(tmp, err);
    }
  }

  /**
   * An entry for bytes still coming (a download hands them over as they arrive), or null when
   * the cache takes no entry of this content. endEntry() then commits or drops it.
   */
  beginEntry(sha256: string, size: number): EntryWriter | null {
    if (!this.accepts(sha256, size)) return null;
    const tmp = this.tmpName();
    try {
      this.ensureDir(path.dirname(tmp));
      return new EntryWriter(sha256, size, tmp, fs.openSync(tmp, 'wx', 0o444));
    } catch (err) {
      this.addFailed(tmp, err);
      return null;
    }
  }

  /**
   * After the download: with `verified` (its bytes matched the manifest) and every byte written,
   * the entry goes into the cache. True when the cache now holds the content; false when the
   * entry was dropped (unverified, or incomplete: a download that went on in ranges, which the
   * entry cannot follow; the caller may then add the file with addFile).
   */
  async endEntry(w: EntryWriter, verified: boolean): Promise<boolean> {
    if (!verified) {
      await w.abandon();
      fs.rmSync(w.tmp, { force: true });
      return false;
    }
    const complete = await w.finish();
    if (w.failure !== null) {
      this.addFailed(w.tmp, w.failure);
      return false;
    }
    if (!complete) {
      fs.rmSync(w.tmp, { force: true });
      return false;
    }
    const entry = this.entryPath(w.sha256);
    if (this.alreadyHeld(entry)) {
      fs.rmSync(w.tmp, { force: true });
      return true;
    }
    try {
      this.commit(w.tmp, entry, w.size);
      return true;
    } catch (err) {
      this.addFailed(w.tmp, err);
      return false;
    }
  }

  private accepts(sha256: string, size: number): boolean {
    // A file bigger than the whole bound would only evict everything else, then itself.
    return !this.addsFailed && SHA256_HEX.test(sha256) && size <= this.maxBytes;
  }

  /** Another pull may have added it meanwhile: then only its last use is refreshed. */
  private alreadyHeld(entry: string): boolean {
    // A stat first: usually the entry is new, and a failed utimes costs an exception per file.
    try {
      if (!fs.statSync(entry, { throwIfNoEntry: false })) return false;
      const now = new Date();
      fs.utimesSync(entry, now, now);
      return true;
    } catch {
      return false;
    }
  }

  /** Unique per process (pid, a random tag, a counter): random bytes per name cost more than the name. */
  private tmpName(): string {
    return path.join(this.root, 'tmp', `${process.pid}-${TMP_TAG}-${(tmpCount++).toString(36)}`);
  }

  private ensureDir(dir: string): void {
    if (this.madeDirs.has(dir)) return;
    fs.mkdirSync(dir, { recursive: true });
    this.madeDirs.add(dir);
  }

  private commit(tmp: string, entry: string, size: number): void {
    this.ensureDir(path.dirname(entry));
    fs.renameSync(tmp, entry);
    this.stats.added++;
    this.stats.addedBytes += size;
    this.uncounted.entries++;
    this.uncounted.bytes += size;
    this.estimate = (this.estimate ?? readUsage(this.root)?.bytes ?? 0) + size;
    if (this.estimate > this.maxBytes && this.trimming === null) {
      // Trim while the pull goes on, so a pull bigger than the bound never holds much more than it.
      this.uncounted = { entries: 0, bytes: 0 };
      this.trimming = trimCache(this.root, this.maxBytes)
        .then((u) => {
          this.estimate = u.bytes;
        })
        .catch((err) => this.onWarn(`content cache at ${this.root} could not be trimmed: ${(err as Error).message}`))
        .finally(() => {
          this.trimming = null;
        });
    }
  }

  private addFailed(tmp: string, err: unknown): void {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // its folder could not be made: nothing was written
    }
    this.addsFailed = true;
    this.onWarn(`content cache at ${this.root} cannot be written (${(err as Error).message}); this pull goes on without adding to it.`);
  }

  /** At the end of a pull: wait for a trim in flight, record the new size, trim when over the bound. */
  async settle(): Promise<void> {
    if (this.trimming) await this.trimming;
    if (this.uncounted.entries === 0) return;
    try {
      const usage = readUsage(this.root);
      const bytes = (usage?.bytes ?? 0) + this.uncounted.bytes;
      if (usage === null || bytes > this.maxBytes || usage.stale) await trimCache(this.root, this.maxBytes);
      else writeUsage(this.root, { bytes, entries: usage.entries + this.uncounted.entries, countedAt: usage.countedAt });
      this.uncounted = { entries: 0, bytes: 0 };
    } catch (err) {
      this.onWarn(`content cache at ${this.root} could not be trimmed: ${(err as Error).message}`);
    }
  }
}
