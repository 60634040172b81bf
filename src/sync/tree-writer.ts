/**
 * Writes into a pull's destination folder through the atomic-write code the local store uses
 * (temporary file beside the target, then rename; empty parent folders pruned after deletes),
 * keeping the record of placed files current as it goes. It decides nothing: the plan did.
 */
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { FlowsyncError, fsError } from '../errors.js';
import { identityOf } from '../hash/identity.js';
import { RESERVED_DIR } from '../manifest/paths.js';
import type { LinkEntry } from '../manifest/types.js';
import type { PullFile } from '../plan/pull-plan.js';
import { ensureFolder, placeTempSync, removeEmptyParents, symlinkAtomic, tempNameFor } from '../util/atomic-write.js';
import type { PlacedFile } from './pull-state.js';

/** Writes a file's bytes to `tmp` (verified) and returns its sha256 when one was checked. */
export type FetchInto = (tmp: string, signal: AbortSignal) => Promise<string | undefined>;

/** Add x wherever r is set, as git does, so the umask still decides who may run it. */
const withExec = (mode: number) => mode | ((mode & 0o444) >> 2);

export class TreeWriter {
  private readonly checkedDirs = new Set<string>();
  private readonly preparing = new Map<string, Promise<void>>();

  constructor(
    private readonly dir: string,
    private readonly realDir: string,
    private readonly placed: Map<string, PlacedFile>,
  ) {}

  /** Create the folders of `rel` and make sure they resolve inside the destination. */
  private async prepareParent(rel: string, action = 'write'): Promise<string> {
    const full = path.join(this.dir, rel);
    const parent = path.dirname(full);
    if (!this.checkedDirs.has(parent)) {
      // Downloads into one new folder run side by side: the first prepares it, the others wait.
      let ready = this.preparing.get(parent);
      if (!ready) {
        ready = (async () => {
          await ensureFolder(parent);
          await this.checkInside(rel, parent, action);
        })().finally(() => this.preparing.delete(parent));
        this.preparing.set(parent, ready);
      }
      await ready;
    }
    return full;
  }

  /** A folder reached through a link the user put in the destination may lie outside it: never touch files there. */
  private async checkInside(rel: string, parent: string, action: string): Promise<void> {
    const real = await fsp.realpath(parent);
    if (real !== this.realDir && !real.startsWith(this.realDir + path.sep)) {
      throw new FlowsyncError('UNSAFE_PATH', `Refusing to ${action} ${rel}: its folder resolves to ${real}, outside ${this.dir} (a link in the way?). Replace that link with a folder, then pull again.`);
    }
    this.checkedDirs.add(parent);
  }

  // The per-file metadata calls below are synchronous on purpose: each takes microseconds, and
  // the promise API's overhead per call was several times that on pulls of many small files.
  record(rel: string, entry: Omit<PlacedFile, 'id'>): void {
    const st = fs.lstatSync(path.join(this.dir, rel));
    this.placed.set(rel, { ...entry, id: identityOf(st) });
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
      throw fsError(err, 'write', full);
    }
    placeTempSync(tmp, full);
    this.record(t.path, { ...(sha256 ? { sha256 } : {}), ...(t.etag ? { etag: t.etag } : {}) });
  }

  async chmod(t: PullFile): Promise<void> {
    const full = await this.prepareParent(t.path, 'change the mode of');
    const { mode } = await fsp.stat(full);
    await fsp.chmod(full, t.mode === 0o755 ? withExec(mode) : mode & ~0o111);
    const prev = this.placed.get(t.path);
    this.record(t.path, { ...(t.sha256 ? { sha256: t.sha256 } : {}), ...(prev?.etag ? { etag: prev.etag } : {}) });
  }

  async link(l: LinkEntry): Promise<void> {
    await symlinkAtomic(l.link, await this.prepareParent(l.path));
    this.record(l.path, { link: l.link });
  }

  /** Delete placed files, then the folders that became empty (never the destination or .flowsync). */
  async remove(paths: readonly string[]): Promise<void> {
    for (const rel of paths) {
      const full = path.join(this.dir, rel);
      const parent = path.dirname(full);
      if (!this.checkedDirs.has(parent)) {
        const exists = await fsp.stat(parent).then(() => true, () => false);
        if (exists) await this.checkInside(rel, parent, 'delete');
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
