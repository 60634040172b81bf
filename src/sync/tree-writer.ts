/**
 * Writes into a pull's destination folder through the atomic-write code the local store uses
 * (temporary file beside the target, then rename; empty parent folders pruned after deletes),
 * keeping the record of placed files current as it goes. It decides nothing: the plan did. Every
 * folder it writes into, and every link it creates, is checked against the real file system: a
 * link already in the destination must not lead a write, a delete or a new link outside it.
 */
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { FlowsyncError, fsError } from '../errors.js';
import { identityOf } from '../hash/identity.js';
import { RESERVED_DIR } from '../manifest/paths.js';
import type { LinkEntry } from '../manifest/types.js';
import type { PullFile } from '../plan/pull-plan.js';
import type { ByteCopy } from '../transfer/download.js';
import { placeTempSync, removeEmptyParents, symlinkAtomic, tempNameFor } from '../util/atomic-write.js';
import { underFolder } from '../util/fs-path.js';
import type { PlacedFile } from './pull-state.js';

/**
 * Writes a file's bytes to `tmp` (verified) and returns its sha256 when one was checked. A
 * fetch that downloads may hand the bytes to `copy` too (the content cache's entry).
 */
export type FetchInto = (tmp: string, signal: AbortSignal, copy?: ByteCopy) => Promise<string | undefined>;

/** Add x wherever r is set, as git does, so the umask still decides who may run it. */
const withExec = (mode: number) => mode | ((mode & 0o444) >> 2);

export class TreeWriter {
  private readonly checkedDirs = new Set<string>();

  /** Bytes of downloads finished, for the free space a disk-full error names. */
  private downloaded = 0;

  constructor(
    private readonly dir: string,
    private readonly realDir: string,
    private readonly placed: Map<string, PlacedFile>,
    /** Bytes this pull downloads in all. */
    private readonly totalBytes = 0,
    /** Files may be hard links into the content cache (pull --link): never change one's inode in place. */
    private readonly linkedFromCache = false,
  ) {}

  private bytesLeft(): number {
    return Math.max(0, this.totalBytes - this.downloaded);
  }

  /**
   * Where the link's target leads on the real file system, segment by segment: a link already in
   * the destination ("u" -> a folder elsewhere) makes "u/.." leave it, although the manifest alone
   * says it stays inside. Segments that do not exist (yet) are resolved by name.
   */
  private async checkLinkTarget(l: LinkEntry, folder: string): Promise<void> {
    let at = await fsp.realpath(folder);
    const segments = l.link.split('/').filter((s) => s !== '' && s !== '.');
    for (const [i, seg] of segments.entries()) {
      if (seg === '..') {
        at = path.dirname(at);
        continue;
      }
      const next = path.join(at, seg);
      const st = await fsp.lstat(next).catch(() => null);
      if (st?.isSymbolicLink()) {
        const real = await fsp.realpath(next).catch(() => null);
        if (real === null) {
          throw new FlowsyncError('UNSAFE_PATH', `Refusing to create link ${l.path} -> ${l.link}: it passes through ${path.join(this.dir, segments.slice(0, i + 1).join('/'))}, a link that leads nowhere. Remove that link, then pull again.`);
        }
        at = real;
      } else at = next;
    }
    if (at !== this.realDir && !at.startsWith(this.realDir + path.sep)) {
      throw new FlowsyncError('UNSAFE_PATH', `Refusing to create link ${l.path} -> ${l.link}: on this file system it resolves to ${at}, outside ${this.dir} (through a link already in the destination). Remove the link in the way, then pull again.`);
    }
  }

  /**
   * Create the folders of `rel` and make sure they resolve inside the destination. Synchronous,
   * like the per-file calls below: one mkdir and one realpath per folder take microseconds, and
   * through the thread pool they were a visible share of a fresh pull from the content cache.
   */
  private async prepareParent(rel: string, action = 'write'): Promise<string> {
    const full = underFolder(this.dir, rel);
    const parent = path.dirname(full);
    if (!this.checkedDirs.has(parent)) {
      try {
        fs.mkdirSync(parent, { recursive: true });
      } catch (err) {
        throw fsError(err, 'create folder', parent);
      }
      this.checkInside(rel, parent, action);
    }
    return full;
  }

  /** A folder reached through a link the user put in the destination may lie outside it: never touch files there. */
  private checkInside(rel: string, parent: string, action: string): void {
    const real = fs.realpathSync.native(parent);
    if (real !== this.realDir && !real.startsWith(this.realDir + path.sep)) {
      throw new FlowsyncError('UNSAFE_PATH', `Refusing to ${action} ${rel}: its folder resolves to ${real}, outside ${this.dir} (a link in the way?). Replace that link with a folder, then pull again.`);
    }
    this.checkedDirs.add(parent);
  }

  // The per-file metadata calls below are synchronous on purpose: each takes microseconds, and
  // the promise API's overhead per call was several times that on pulls of many small files.
  record(rel: string, entry: Pick<PlacedFile, 'sha256' | 'link' | 'etag'>): void {
    const st = fs.lstatSync(underFolder(this.dir, rel));
    // One shape for every row (absent fields undefined): spreads of entries that differ in their
    // fields gave 100k rows 100k hidden classes.
    this.placed.set(rel, { sha256: entry.sha256, link: entry.link, etag: entry.etag, id: identityOf(st) });
  }

  async download(t: PullFile, fetchInto: FetchInto, signal: AbortSignal): Promise<void> {
    const full = await this.prepareParent(t.path);
    const tmp = tempNameFor(full);
    let sha256: string | undefined;
    try {
      sha256 = await fetchInto(tmp, signal);
      if (t.mode === 0o755) fs.chmodSync(tmp, withExec(fs.statSync(tmp).mode));
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      if (errnoOf(err) === 'ENOSPC') throw diskFull(full, t.size, this.bytesLeft());
      throw fsError(err, 'write', full);
    }
    placeTempSync(tmp, full);
    this.downloaded += t.size;
    this.record(t.path, { ...(sha256 ? { sha256 } : {}), ...(t.etag ? { etag: t.etag } : {}) });
  }

  async chmod(t: PullFile): Promise<void> {
    const full = await this.prepareParent(t.path, 'change the mode of');
    let { mode, nlink } = await fsp.stat(full);
    if (this.linkedFromCache && nlink > 1) {
      // A mode belongs to the inode, which the cache shares: give the file its own first.
      const tmp = tempNameFor(full);
      await fsp.copyFile(full, tmp);
      await fsp.chmod(tmp, (mode = 0o644));
      placeTempSync(tmp, full);
    }
    await fsp.chmod(full, t.mode === 0o755 ? withExec(mode) : mode & ~0o111);
    const prev = this.placed.get(t.path);
    this.record(t.path, { ...(t.sha256 ? { sha256: t.sha256 } : {}), ...(prev?.etag ? { etag: prev.etag } : {}) });
  }

  async link(l: LinkEntry): Promise<void> {
    const full = await this.prepareParent(l.path);
    await this.checkLinkTarget(l, path.dirname(full));
    await symlinkAtomic(l.link, full);
    this.record(l.path, { link: l.link });
  }

  /** Delete placed files, then the folders that became empty (never the destination or .flowsync). */
  async remove(paths: readonly string[]): Promise<void> {
    for (const rel of paths) {
      const full = path.join(this.dir, rel);
      const parent = path.dirname(full);
      if (!this.checkedDirs.has(parent)) {
        const exists = await fsp.stat(parent).then(() => true, () => false);
        if (exists) this.checkInside(rel, parent, 'delete');
      }
      try {
        await fsp.unlink(full);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR') throw fsError(err, 'delete', full);
      }
      this.placed.delete(rel);
      const removed = await removeEmptyParents(full, this.dir, (d) => path.basename(d) === RESERVED_DIR);
      for (const d of removed) this.checkedDirs.delete(d);
    }
  }
}

function errnoOf(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const code = typeof e?.code === 'string' && e.code !== 'IO' ? e.code : e?.cause?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Disk full names the file being written and the space the pull still needs, not the temp file. */
function diskFull(file: string, size: number, left: number): FlowsyncError {
  let free = '';
  try {
    const st = fs.statfsSync(path.dirname(file));
    free = `; ${st.bavail * st.bsize} B are free there`;
  } catch {
    // the folder is gone: nothing to add
  }
  return new FlowsyncError(
    'IO',
    `No space left on the device to write ${file} (${size} B${free}). This pull still needs about ${left} B: free at least that much and pull again (nothing half-written was left).`,
  );
}
