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
import os from 'node:os';
import path from 'node:path';
import { sameIdentity, type StatIdentity } from './identity.js';
import { hashFile } from './hash-file.js';

const FORMAT = 'flowsync-statcache-2';
/** Linux file times come from a coarse kernel clock (a few ms); stay well above it. */
const FINE_TICK_MS = 50;
/** Filesystems that store whole seconds (FAT, old HFS+) need a whole tick of margin. */
const COARSE_TICK_MS = 2000;

type Row = [path: string, size: number, mtimeMs: number, ctimeMs: number, ino: number, sha256: string];
/** A row as held in memory: [6] marks it as seen in this run (kept by the next save). */
type LiveRow = [...Row, seen?: 1];

interface Entry extends StatIdentity {
  sha256: string;
}

export function defaultCacheDir(): string {
  if (process.env.FLOWSYNC_CACHE_DIR) return process.env.FLOWSYNC_CACHE_DIR;
  const home = os.homedir();
  if (process.platform === 'win32') return path.join(process.env.LOCALAPPDATA ?? path.join(home, 'AppData', 'Local'), 'flowsync', 'Cache');
  if (process.platform === 'darwin') return path.join(home, 'Library', 'Caches', 'flowsync');
  return path.join(process.env.XDG_CACHE_HOME || path.join(home, '.cache'), 'flowsync');
}

function tickOf(mtimeMs: number): number {
  return mtimeMs % 1000 === 0 ? COARSE_TICK_MS : FINE_TICK_MS;
}

// Rows stay the arrays JSON.parse made: for 100k files, one object per entry more (and a second
// map of the entries seen) cost more in garbage collection than the lookups themselves.
export class StatCache {
  private readonly added = new Map<string, Entry>();
  private readonly racy = new Map<string, { source: string; entry: Entry }>();
  private seen = 0;

  private constructor(
    private readonly file: string | null,
    private readonly root: string,
    private readonly previous: Map<string, LiveRow>,
  ) {}

  /** A cache that remembers nothing (cacheDir: false). */
  static disabled(): StatCache {
    return new StatCache(null, '', new Map());
  }

  /** Load the cache for the tree at `root`. A missing or damaged cache file is an empty cache. */
  static async load(root: string, cacheDir: string): Promise<StatCache> {
    const real = await fsp.realpath(root).catch(() => path.resolve(root));
    const id = createHash('sha256').update(real).digest('hex').slice(0, 32);
    const file = path.join(cacheDir, `statcache-${id}.json`);
    const previous = new Map<string, LiveRow>();
    try {
      const parsed = JSON.parse(await fsp.readFile(file, 'utf8')) as { format?: string; root?: string; rows?: LiveRow[] };
      if (parsed.format === FORMAT && parsed.root === real && Array.isArray(parsed.rows)) {
        for (const row of parsed.rows) previous.set(row[0], row);
      }
    } catch {
      // No cache yet, or unreadable: every file is hashed once and the cache is rebuilt.
    }
    return new StatCache(file, real, previous);
  }

  /** The cached sha256 if the file's stat has not moved since it was hashed. */
  lookup(relPath: string, id: StatIdentity): string | null {
    const r = this.previous.get(relPath);
    if (!r || r[1] !== id.size || r[2] !== id.mtimeMs || r[3] !== id.ctimeMs || r[4] !== id.ino) return null;
    if (r[6] === undefined) {
      r[6] = 1;
      this.seen++;
    }
    return r[5];
  }

  /** Record a hash computed now; `hashStartedMs` is the wall clock when the read began. */
  record(relPath: string, source: string, id: StatIdentity, sha256: string, hashStartedMs: number): void {
    const entry: Entry = { size: id.size, mtimeMs: id.mtimeMs, ctimeMs: id.ctimeMs, ino: id.ino, sha256 };
    if (id.mtimeMs + tickOf(id.mtimeMs) >= hashStartedMs) this.racy.set(relPath, { source, entry });
    else this.added.set(relPath, entry);
  }

  /** Write the cache (if anything changed), first confirming racy entries. */
  async save(): Promise<void> {
    if (this.file === null) return;
    if (this.racy.size > 0) await this.confirmRacy();
    if (this.added.size === 0 && this.seen === this.previous.size) return;
    const rows: Row[] = [];
    for (const r of this.previous.values()) if (r[6] !== undefined && !this.added.has(r[0])) rows.push([r[0], r[1], r[2], r[3], r[4], r[5]]);
    for (const [p, e] of this.added) rows.push([p, e.size, e.mtimeMs, e.ctimeMs, e.ino, e.sha256]);
    const body = JSON.stringify({ format: FORMAT, root: this.root, rows });
    try {
      await fsp.mkdir(path.dirname(this.file), { recursive: true });
      const tmp = `${this.file}.${process.pid}.tmp`;
      await fsp.writeFile(tmp, body);
      await fsp.rename(tmp, this.file);
    } catch {
      // The cache only saves time; failing to write it must not fail a push.
    }
  }

  private async confirmRacy(): Promise<void> {
    let latest = 0;
    for (const { entry } of this.racy.values()) latest = Math.max(latest, entry.mtimeMs + tickOf(entry.mtimeMs));
    const waitMs = Math.ceil(latest - Date.now()) + 1;
    if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
    for (const [relPath, { source, entry }] of this.racy) {
      try {
        const again = await hashFile(source);
        if (again.sha256 === entry.sha256 && sameIdentity(again, entry)) this.added.set(relPath, entry);
      } catch {
        // Gone or unreadable now: leave it out; the next run hashes it.
      }
    }
    this.racy.clear();
  }
}


