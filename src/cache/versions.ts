/**
 * Version folders and the symlink swap of `pull --switch` (git-sync's model):
 *
 *   <dir>                      a symlink → <base>.versions/<name> (relative, so the pair can move)
 *   <dir>.versions/<name>/     one complete tree per version; name = UTC time + manifest id
 *   <dir>.versions/.partial-…  a version being materialised (never linked, removed if abandoned)
 *   <dir>.versions/original-…  what <dir> held when the first --switch found a plain folder
 *   <dir>.versions/.lock       one pull --switch at a time for this destination
 *
 * A new version is pulled complete into a partial folder, renamed to its final name, and the link
 * is replaced in one rename(2): a reader that resolves the link sees the old tree or the new one,
 * whole. The newest `keep` versions stay; older ones go only when nobody holds them
 * (version-holds.ts). The `original-…` folder is never removed by flowsync.
 */
import { randomBytes } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { FlowsyncError, fsError } from '../errors.js';
import { holdersOf, processCwds } from './version-holds.js';

export const VERSIONS_SUFFIX = '.versions';
export const DEFAULT_KEEP = 3;
const PARTIAL = '.partial-';
const REMOVING = '.removing-';
const ORIGINAL = 'original-';

export function versionsRoot(dir: string): string {
  return `${dir}${VERSIONS_SUFFIX}`;
}

export function switchLockFile(dir: string): string {
  return path.join(versionsRoot(dir), '.lock');
}

export type Destination =
  | { kind: 'missing' }
  | { kind: 'plain' }
  /** A link made by pull --switch; `current` is the version folder it points to (absolute). */
  | { kind: 'switched'; current: string; name: string }
  | { kind: 'other-link'; target: string }
  | { kind: 'not-a-folder' };

export async function destinationKind(dir: string): Promise<Destination> {
  let st: fs.Stats;
  try {
    st = await fsp.lstat(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    throw fsError(err, 'inspect', dir);
  }
  if (st.isDirectory()) return { kind: 'plain' };
  if (!st.isSymbolicLink()) return { kind: 'not-a-folder' };
  const target = await fsp.readlink(dir);
  const resolved = path.resolve(path.dirname(dir), target);
  if (path.dirname(resolved) === versionsRoot(dir)) return { kind: 'switched', current: resolved, name: path.basename(resolved) };
  return { kind: 'other-link', target };
}

/** `20261201T203000123Z-<12 hex of the manifest id>`: names sort by creation time. */
export function versionName(manifestId: string | null, now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:.]/g, '');
  return `${stamp}-${manifestId ? manifestId.slice(0, 12) : 'nomanifest'}`;
}

/** Create the folder a new version is pulled into (its final name waits for the manifest id). */
export async function prepareVersion(dir: string): Promise<string> {
  const partial = path.join(versionsRoot(dir), `${PARTIAL}${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await fsp.mkdir(partial, { recursive: true });
  } catch (err) {
    throw fsError(err, 'create the version folder', partial);
  }
  return partial;
}

/** Give the finished version its name; returns its folder. */
export async function commitVersion(dir: string, partial: string, manifestId: string | null): Promise<string> {
  const root = versionsRoot(dir);
  let name = versionName(manifestId);
  if (fs.existsSync(path.join(root, name))) name = `${name}-${randomBytes(2).toString('hex')}`;
  const final = path.join(root, name);
  try {
    await fsp.rename(partial, final);
  } catch (err) {
    throw fsError(err, 'finish the version folder', final);
  }
  return final;
}

/** Point `dir` at `versionFolder` in one rename: readers see the old target or the new one. */
export async function switchLink(dir: string, versionFolder: string): Promise<void> {
  const target = path.relative(path.dirname(dir), versionFolder);
  const tmp = path.join(path.dirname(dir), `.${path.basename(dir)}.flowsync-link-${randomBytes(4).toString('hex')}`);
  try {
    await fsp.symlink(target, tmp);
    await fsp.rename(tmp, dir);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST') {
      throw new FlowsyncError('CONFLICT', `Cannot switch ${dir} to ${versionFolder}: a folder appeared at ${dir} meanwhile (another pull without --switch?). The new version is complete in ${versionFolder}; move ${dir} away and pull --switch again.`, { cause: err });
    }
    throw fsError(err, 'switch', dir);
  }
}

/**
 * The first --switch into a plain folder: move the folder, untouched, to
 * `<dir>.versions/original-<time>` (kept until the user removes it). Returns where it went.
 */
export async function adoptPlainFolder(dir: string): Promise<string> {
  const dest = path.join(versionsRoot(dir), `${ORIGINAL}${new Date().toISOString().replace(/[-:.]/g, '')}`);
  try {
    await fsp.mkdir(versionsRoot(dir), { recursive: true });
    await fsp.rename(dir, dest);
  } catch (err) {
    throw fsError(err, 'move the plain folder aside', dir);
  }
  return dest;
}

export interface PruneResult {
  removed: string[];
  /** Versions beyond `keep` that stay because something holds them. */
  held: { path: string; by: string[] }[];
}

/**
 * Keep the newest `keep` versions and the current one; remove older ones nobody holds, and
 * partial folders of pulls that stopped (the caller holds the switch lock, so no partial but its
 * own is being written).
 */
export async function pruneVersions(dir: string, keep: number, current: string, ownPartial?: string): Promise<PruneResult> {
  const root = versionsRoot(dir);
  const result: PruneResult = { removed: [], held: [] };
  let names: string[];
  try {
    names = (await fsp.readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return result;
    throw fsError(err, 'list', root);
  }
  const abandoned = names.filter((n) => (n.startsWith(PARTIAL) || n.startsWith(REMOVING)) && path.join(root, n) !== ownPartial);
  const versions = names.filter((n) => !n.startsWith('.') && !n.startsWith(ORIGINAL)).sort();
  const old = versions.slice(0, Math.max(0, versions.length - Math.max(1, keep))).filter((n) => path.join(root, n) !== current);
  const cwds = old.length > 0 ? processCwds() : new Map<number, string>();
  for (const n of old) {
    const folder = path.join(root, n);
    const by = holdersOf(folder, cwds);
    if (by.length > 0) {
      result.held.push({ path: folder, by });
      continue;
    }
    await removeFolder(root, n);
    result.removed.push(folder);
  }
  for (const n of abandoned) await removeFolder(root, n);
  return result;
}

/** Renamed first, so a half-removed tree never passes for a version. */
async function removeFolder(root: string, name: string): Promise<void> {
  let doomed = path.join(root, name);
  if (!name.startsWith(REMOVING) && !name.startsWith(PARTIAL)) {
    const aside = path.join(root, `${REMOVING}${name}`);
    try {
      await fsp.rename(doomed, aside);
      doomed = aside;
    } catch (err) {
      throw fsError(err, 'remove the old version', doomed);
    }
  }
  await fsp.rm(doomed, { recursive: true, force: true }).catch((err) => {
    throw fsError(err, 'remove the old version', doomed);
  });
}
