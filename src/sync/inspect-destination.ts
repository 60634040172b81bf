/**
 * The facts a pull plans from, gathered before planning as plain data: the state of every path
 * the pull may touch (a file is read only when the record of placed files cannot vouch for it),
 * of every folder above a target, and the files inside a folder that stands where a file must go.
 */
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { RESERVED_DIR } from '../manifest/paths.js';
import { fsError } from '../errors.js';
import { hashFile } from '../hash/hash-file.js';
import { identityOf, modeOf, sameIdentity } from '../hash/identity.js';
import type { LocalState, PullTarget } from '../plan/pull-plan.js';
import { runPool } from '../util/pool.js';
import type { PlacedFile } from './pull-state.js';

const INSPECT_CONCURRENCY = 8;
/** A folder in the way holding more than this is not looked through: it stays a conflict. */
const MAX_FOLDER_FILES = 10_000;

export interface DestinationFacts {
  /** Target paths, placed paths and the folders above targets; absent means missing. */
  local: Map<string, LocalState>;
  /** For each folder standing at a target's path: the files in it, or null when too many. */
  folderFiles: Map<string, string[] | null>;
}

export async function inspectDestination(
  dir: string,
  targets: Map<string, PullTarget>,
  placed: Map<string, PlacedFile>,
  signal?: AbortSignal,
): Promise<DestinationFacts> {
  const local = new Map<string, LocalState>();
  // A new or empty destination (nothing but flowsync's own folder): every path is missing, and
  // looking at each one (a failing lstat apiece) was a third of a fresh pull from the content cache.
  const names = await fsp.readdir(dir).catch(() => null);
  if (names === null || names.every((n) => n === RESERVED_DIR)) return { local, folderFiles: new Map() };
  const paths = [...new Set([...targets.keys(), ...placed.keys()])];
  await runPool(paths, INSPECT_CONCURRENCY, async (rel) => {
    const state = await inspectPath(dir, rel, targets.get(rel), placed.get(rel), signal);
    if (state) local.set(rel, state);
  }, signal);
  await inspectFolders(dir, [...targets.keys()], local);
  const folderFiles = new Map<string, string[] | null>();
  for (const rel of targets.keys()) {
    if (local.get(rel)?.kind === 'dir') folderFiles.set(rel, await filesInside(path.join(dir, rel), rel));
  }
  return { local, folderFiles };
}

async function inspectPath(dir: string, rel: string, t: PullTarget | undefined, p: PlacedFile | undefined, signal?: AbortSignal): Promise<LocalState | null> {
  const full = path.join(dir, rel);
  let st: fs.Stats;
  try {
    st = await fsp.lstat(full);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw fsError(err, 'inspect', full);
  }
  if (st.isDirectory()) return { kind: 'dir' };
  if (st.isSymbolicLink()) return { kind: 'link', target: await fsp.readlink(full) };
  if (!st.isFile()) return { kind: 'other' };
  const id = identityOf(st);
  let sha256: string | null = null;
  if (p?.id && p.sha256 && sameIdentity(p.id, id)) sha256 = p.sha256;
  else if ((t && !('link' in t) && t.size === id.size) || (p && (!p.id || p.id.size === id.size))) {
    sha256 = (await hashFile(full, { signal, label: rel })).sha256;
  }
  return { kind: 'file', sha256, mode: modeOf(st) };
}

/** The folders above every target, top down; nothing below a missing folder or a file is looked at. */
async function inspectFolders(dir: string, targetPaths: string[], local: Map<string, LocalState>): Promise<void> {
  const folders = new Set<string>();
  for (const p of targetPaths) for (let i = p.indexOf('/'); i !== -1; i = p.indexOf('/', i + 1)) folders.add(p.slice(0, i));
  const byDepth = [...folders].sort((a, b) => a.split('/').length - b.split('/').length);
  for (const folder of byDepth) {
    if (local.has(folder)) continue;
    const parent = path.posix.dirname(folder);
    const parentKind = parent === '.' ? 'dir' : local.get(parent)?.kind ?? 'missing';
    if (parentKind !== 'dir') continue; // absent below a missing folder or a file
    const st = await fsp.lstat(path.join(dir, folder)).catch(() => null);
    if (!st) continue;
    local.set(folder, st.isDirectory() ? { kind: 'dir' } : st.isSymbolicLink() ? { kind: 'link', target: '' } : { kind: 'other' });
  }
}

/** Every non-folder entry under `full`, as paths from the destination; null past MAX_FOLDER_FILES. */
async function filesInside(full: string, rel: string, found: string[] = []): Promise<string[] | null> {
  for (const d of await fsp.readdir(full, { withFileTypes: true })) {
    const r = `${rel}/${d.name}`;
    if (d.isDirectory()) {
      if ((await filesInside(path.join(full, d.name), r, found)) === null) return null;
    } else {
      found.push(r);
      if (found.length > MAX_FOLDER_FILES) return null;
    }
  }
  return found;
}
