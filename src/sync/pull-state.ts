/**
 * The record of what pulls placed in a folder, kept at `<dir>/.flowsync/state.json`. It is how
 * pull knows which local files are its own to replace or delete, and (through each file's stat
 * identity) which of them are untouched without reading them again.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { fsError } from '../errors.js';
import { RESERVED_DIR } from '../manifest/paths.js';
import type { Placed } from '../plan/pull-plan.js';
import type { StatIdentity } from '../hash/identity.js';
import { ensureFolder, writeFileAtomic } from '../util/atomic-write.js';

const FORMAT = 'flowsync-pull-state';

export interface PlacedFile extends Placed {
  /** Stat identity right after placing; a match means the file is untouched since. */
  id?: StatIdentity;
}

interface StoredRow {
  pending?: string;
  sha256?: string;
  link?: string;
  etag?: string;
  size?: number;
  mtimeMs?: number;
  ctimeMs?: number;
  ino?: number;
}

export function stateFile(dir: string): string {
  return path.join(dir, RESERVED_DIR, 'state.json');
}

export interface PullState {
  placed: Map<string, PlacedFile>;
  /** The last pull stopped without cleaning up (killed): temporary files may be left. */
  interrupted: boolean;
}

export async function loadPullState(dir: string): Promise<PullState> {
  const state: PullState = { placed: new Map(), interrupted: false };
  const { placed } = state;
  let text: string;
  try {
    text = await fsp.readFile(stateFile(dir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return state;
    throw fsError(err, 'read', stateFile(dir));
  }
  try {
    const parsed = JSON.parse(text) as { format?: string; inProgress?: boolean; files?: Record<string, StoredRow> };
    if (parsed.format !== FORMAT || typeof parsed.files !== 'object' || parsed.files === null) return state;
    state.interrupted = parsed.inProgress === true;
    for (const [p, r] of Object.entries(parsed.files)) {
      const entry: PlacedFile = {};
      if (r.sha256) entry.sha256 = r.sha256;
      if (r.link) entry.link = r.link;
      if (r.etag) entry.etag = r.etag;
      if (r.pending) entry.pending = r.pending;
      if (r.size !== undefined && r.mtimeMs !== undefined && r.ctimeMs !== undefined && r.ino !== undefined) {
        entry.id = { size: r.size, mtimeMs: r.mtimeMs, ctimeMs: r.ctimeMs, ino: r.ino };
      }
      placed.set(p, entry);
    }
  } catch {
    // A damaged record only costs re-reading files: treat it as empty (nothing counts as ours).
  }
  return state;
}

/** `inProgress`: written before the first change and cleared at the end, so a kill is noticed. */
export async function savePullState(
  dir: string,
  placed: Map<string, PlacedFile>,
  about: { remote: string; manifest: string | null; inProgress: boolean },
): Promise<void> {
  const files: Record<string, StoredRow> = {};
  for (const [p, e] of [...placed].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const row: StoredRow = {};
    if (e.sha256) row.sha256 = e.sha256;
    if (e.link) row.link = e.link;
    if (e.etag) row.etag = e.etag;
    if (e.pending) row.pending = e.pending;
    if (e.id) Object.assign(row, { size: e.id.size, mtimeMs: e.id.mtimeMs, ctimeMs: e.id.ctimeMs, ino: e.id.ino });
    files[p] = row;
  }
  const file = stateFile(dir);
  const text = JSON.stringify({ format: FORMAT, version: 1, remote: about.remote, manifest: about.manifest, ...(about.inProgress ? { inProgress: true } : {}), files }) + '\n';
  await ensureFolder(path.dirname(file));
  await writeFileAtomic(file, Buffer.from(text));
}
