/**
 * Counting and trimming the content cache. The exact size comes from a scan of objects/ (one
 * readdir per prefix folder, one stat per entry: ≈2 µs an entry here); `usage.json` keeps the
 * last count plus what pulls added since, so most pulls never scan. Concurrent pulls may lose
 * each other's increments: the hint is recounted when it is an hour old, and any trim recounts.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { inFolder } from '../util/fs-path.js';

export interface Usage {
  bytes: number;
  entries: number;
  countedAt: string;
  /** The count is old enough to be redone. */
  stale: boolean;
}

export interface CacheEntry {
  file: string;
  sha256: string;
  size: number;
  /** Last use (the entry's mtime). */
  mtimeMs: number;
}

export interface TrimResult {
  bytes: number;
  entries: number;
  removed: number;
  removedBytes: number;
  /** Temporary files left by killed pulls, removed. */
  tempRemoved: number;
}

const RECOUNT_AFTER_MS = 60 * 60_000;
/** A trim brings the cache down to this share of its bound, so the next pulls do not trim again at once. */
const LOW_WATER = 0.8;
/** Temporary files older than this belong to a pull that was killed. */
const TEMP_STALE_MS = 60 * 60_000;

function usageFile(root: string): string {
  return path.join(root, 'usage.json');
}

export function readUsage(root: string): Usage | null {
  try {
    const u = JSON.parse(fs.readFileSync(usageFile(root), 'utf8')) as Partial<Usage>;
    if (typeof u.bytes !== 'number' || typeof u.entries !== 'number' || typeof u.countedAt !== 'string') return null;
    const at = Date.parse(u.countedAt);
    return { bytes: u.bytes, entries: u.entries, countedAt: u.countedAt, stale: !(Date.now() - at < RECOUNT_AFTER_MS) };
  } catch {
    return null;
  }
}

export function writeUsage(root: string, u: Omit<Usage, 'stale'>): void {
  const file = usageFile(root);
  const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  fs.mkdirSync(root, { recursive: true });
  fs.writeFileSync(tmp, JSON.stringify({ bytes: u.bytes, entries: u.entries, countedAt: u.countedAt }) + '\n');
  fs.renameSync(tmp, file);
}

/** Every entry of the cache (an entry evicted during the scan is simply not listed). */
export function listEntries(root: string): CacheEntry[] {
  const objects = path.join(root, 'objects');
  const out: CacheEntry[] = [];
  let prefixes: string[];
  try {
    prefixes = fs.readdirSync(objects);
  } catch {
    return out;
  }
  for (const prefix of prefixes) {
    const dir = path.join(objects, prefix);
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      const file = inFolder(dir, name);
      try {
        const st = fs.statSync(file);
        if (st.isFile()) out.push({ file, sha256: name, size: st.size, mtimeMs: st.mtimeMs });
      } catch {
        // evicted meanwhile
      }
    }
  }
  return out;
}

function removeStaleTemps(root: string): number {
  const dir = path.join(root, 'tmp');
  let removed = 0;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const file = path.join(dir, name);
    try {
      if (Date.now() - fs.statSync(file).mtimeMs > TEMP_STALE_MS) {
        fs.rmSync(file, { force: true });
        removed++;
      }
    } catch {
      // gone meanwhile
    }
  }
  return removed;
}

/**
 * Count the cache; when it holds more than `maxBytes`, remove the least recently used entries
 * until it holds at most `target` (default: 80 % of the bound). Writes the new count.
 */
export async function trimCache(root: string, maxBytes: number, target: number = Math.floor(maxBytes * LOW_WATER)): Promise<TrimResult> {
  const entries = listEntries(root);
  let bytes = entries.reduce((n, e) => n + e.size, 0);
  let count = entries.length;
  let removed = 0;
  let removedBytes = 0;
  if (bytes > maxBytes) {
    entries.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const e of entries) {
      if (bytes <= target) break;
      try {
        fs.unlinkSync(e.file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      bytes -= e.size;
      count--;
      removed++;
      removedBytes += e.size;
    }
  }
  const tempRemoved = removeStaleTemps(root);
  if (fs.existsSync(root)) writeUsage(root, { bytes, entries: count, countedAt: new Date().toISOString() });
  return { bytes, entries: count, removed, removedBytes, tempRemoved };
}
