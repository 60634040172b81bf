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
import type { StatIdentity } from '../walk/walk.js';
import { hashFile } from './hash-file.js';

const FORMAT = 'flowsync-statcache-1';
/** Linux file times come from a coarse kernel clock (a few ms); stay well above it. */
const FINE_TICK_NS = 50_000_000n;
/** Filesystems that store whole seconds (FAT, old HFS+) need a whole tick of margin. */
const COARSE_TICK_NS = 2_000_000_000n;

type Row = [path: string, size: number, mtimeNs: string, ctimeNs: string, ino: string, sha256: string];

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

function tickOf(mtimeNs: bigint): bigint {
  return mtimeNs % 1_000_000_000n === 0n ? COARSE_TICK_NS : FINE_TICK_NS;
}

function sameIdentity(a: StatIdentity, b: StatIdentity): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino;
}

export class StatCache {
  private readonly previous: Map<string, Entry>;
  private readonly next = new Map<string, Entry>();
  private readonly racy = new Map<string, { source: string; entry: Entry }>();
  private dirty = false;

  private constructor(
    private readonly file: string | null,
    private readonly root: string,
    previous: Map<string, Entry>,
  ) {
    this.previous = previous;
  }

  /** A cache that remembers nothing (cacheDir: false). */
  static disabled(): StatCache {
    return new StatCache(null, '', new Map());
  }

  /** Load the cache for the tree at `root`. A missing or damaged cache file is an empty cache. */
  static async load(root: string, cacheDir: string): Promise<StatCache> {
    const real = await fsp.realpath(root).catch(() => path.resolve(root));
    const id = createHash('sha256').update(real).digest('hex').slice(0, 32);
    const file = path.join(cacheDir, `statcache-${id}.json`);
    const previous = new Map<string, Entry>();
    try {
      const parsed = JSON.parse(await fsp.readFile(file, 'utf8')) as { format?: string; root?: string; rows?: Row[] };
      if (parsed.format === FORMAT && parsed.root === real && Array.isArray(parsed.rows)) {
        for (const [p, size, m, c, ino, sha256] of parsed.rows) {
          previous.set(p, { size, mtimeNs: BigInt(m), ctimeNs: BigInt(c), ino: BigInt(ino), sha256 });
        }
      }
    } catch {
      // No cache yet, or unreadable: every file is hashed once and the cache is rebuilt.
    }
    return new StatCache(file, real, previous);
  }

  /** The cached sha256 if the file's stat has not moved since it was hashed. */
  lookup(relPath: string, id: StatIdentity): string | null {
    const e = this.previous.get(relPath);
    if (!e || !sameIdentity(e, id)) return null;
    this.next.set(relPath, e);
    return e.sha256;
  }

  /** Record a hash computed now; `hashStartedNs` is the wall clock when the read began. */
  record(relPath: string, source: string, id: StatIdentity, sha256: string, hashStartedNs: bigint): void {
    const entry: Entry = { ...id, sha256 };
    this.dirty = true;
    if (id.mtimeNs + tickOf(id.mtimeNs) >= hashStartedNs) this.racy.set(relPath, { source, entry });
    else this.next.set(relPath, entry);
  }

  /** Write the cache (if anything changed), first confirming racy entries. */
  async save(): Promise<void> {
    if (this.file === null) return;
    if (this.racy.size > 0) await this.confirmRacy();
    if (!this.dirty && this.next.size === this.previous.size) return;
    const rows: Row[] = [];
    for (const [p, e] of this.next) rows.push([p, e.size, e.mtimeNs.toString(), e.ctimeNs.toString(), e.ino.toString(), e.sha256]);
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
    let latest = 0n;
    for (const { entry } of this.racy.values()) {
      const until = entry.mtimeNs + tickOf(entry.mtimeNs);
      if (until > latest) latest = until;
    }
    const waitMs = Number((latest - nowNs()) / 1_000_000n) + 1;
    if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
    for (const [relPath, { source, entry }] of this.racy) {
      try {
        const again = await hashFile(source);
        if (again.sha256 === entry.sha256 && sameIdentity(again, entry)) this.next.set(relPath, entry);
      } catch {
        // Gone or unreadable now: leave it out; the next run hashes it.
      }
    }
    this.racy.clear();
  }
}

export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

