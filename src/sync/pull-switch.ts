/**
 * `pull --switch` (DESIGN §12): the version is pulled complete into a folder of its own beside
 * the destination, then the destination — a symlink — is swapped to it in one rename. A run that
 * started on the old version keeps its files: old versions beyond `keep` are removed only when
 * nothing holds them (cache/version-holds.ts).
 *
 * Steps, under the destination's switch lock:
 * 1. the current version already holds what the remote lists (a dry run against it says so):
 *    nothing is written;
 * 2. otherwise a fresh pull into `<dir>.versions/.partial-…` (hits from the content cache are
 *    copied, misses downloaded), renamed to its final name;
 * 3. the first time, a plain folder at `<dir>` is moved, untouched, to `<dir>.versions/original-…`;
 * 4. `<dir>` is pointed at the new version; versions beyond `keep` that nobody holds are removed.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { acquireLock } from '../cache/dest-lock.js';
import { adoptPlainFolder, commitVersion, DEFAULT_KEEP, destinationKind, prepareVersion, pruneVersions, switchLink, switchLockFile } from '../cache/versions.js';
import { FlowsyncError } from '../errors.js';
import { RESERVED_DIR } from '../manifest/paths.js';
import { guardDestination, plainLockFile } from './pull-guard.js';
import type { PullResult } from './pull.js';
import type { PullOptions } from './types.js';

export type PullInPlace = (o: PullOptions) => Promise<PullResult>;

export async function pullSwitched(o: PullOptions, pullInPlace: PullInPlace): Promise<PullResult> {
  const started = Date.now();
  const dir = path.resolve(o.dir);
  const keep = o.keep ?? DEFAULT_KEEP;
  if (!Number.isInteger(keep) || keep < 1) throw new FlowsyncError('INVALID_INPUT', `keep must be a whole number of at least 1 (the current version); got ${keep}.`);
  const inPlace: PullOptions = { ...o, switch: false, force: false, delete: true };
  let dest = await refuseForeign(dir);
  if (o.dryRun) return pullInPlace({ ...inPlace, dir: dest.kind === 'switched' ? dest.current : dir });

  const lock = await acquireLock(switchLockFile(dir), {
    what: dir,
    ...(o.lockWaitMs !== undefined ? { waitMs: o.lockWaitMs } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
    onWait: (m) => o.log?.info(m),
  });
  try {
    dest = await refuseForeign(dir); // what it is now that this pull holds the lock
    if (dest.kind === 'switched') {
      const check = await pullInPlace({ ...inPlace, dir: dest.current, dryRun: true });
      const changes = check.changes;
      if (changes && changes.download.length === 0 && changes.delete.length === 0 && changes.update.length === 0 && check.conflicts.length === 0) {
        const warnings = [...check.warnings, ...(await prune(dir, keep, dest.current, o))];
        const { changes: _unused, ...rest } = check;
        return { ...rest, dryRun: false, warnings, directory: dest.current, fromCache: 0, cacheBytes: 0, durationMs: Date.now() - started };
      }
    }

    const partial = await prepareVersion(dir);
    let result: PullResult;
    let final: string;
    try {
      result = await pullInPlace({ ...inPlace, dir: partial });
      final = await commitVersion(dir, partial, result.manifest);
    } catch (err) {
      await fsp.rm(partial, { recursive: true, force: true }).catch(() => {});
      throw err;
    }
    const warnings = [...result.warnings];
    if (dest.kind === 'plain') {
      const message = await adopt(dir, o);
      if (message) warnings.push(message);
    }
    await switchLink(dir, final);
    warnings.push(...(await prune(dir, keep, final, o)));
    return { ...result, warnings, directory: final, durationMs: Date.now() - started };
  } finally {
    await lock.release();
  }
}

async function refuseForeign(dir: string) {
  const dest = await destinationKind(dir);
  if (dest.kind === 'not-a-folder') throw new FlowsyncError('INVALID_INPUT', `${dir} is a file. Pull into a folder.`);
  if (dest.kind === 'other-link') {
    throw new FlowsyncError(
      'CONFLICT',
      `${dir} is a link to ${dest.target}, not a version link made by pull --switch. Nothing was changed; remove the link (its target stays) or pull into another folder.`,
    );
  }
  return dest;
}

/** The first --switch into a plain folder: it goes aside whole, after any plain pull into it ends. */
async function adopt(dir: string, o: PullOptions): Promise<string | null> {
  const guard = await guardDestination(dir, o);
  let moved: string;
  try {
    // An empty folder (say, made for the steps to run in) has nothing to keep: it simply goes.
    if ((await fsp.readdir(dir)).every((n) => n === RESERVED_DIR) && (await fsp.readdir(path.join(dir, RESERVED_DIR)).catch(() => [])).every((n) => n === 'pull.lock')) {
      await fsp.rm(dir, { recursive: true, force: true }); // the lock inside goes with it
      await guard.release();
      return null;
    }
    moved = await adoptPlainFolder(dir);
  } catch (err) {
    await guard.release();
    throw err;
  }
  // The lock travelled with the folder: it is ours, and nothing waits on it there.
  await fsp.rm(plainLockFile(moved), { force: true });
  await guard.release();
  const message = `${dir} was a plain folder: moved it, unchanged, to ${moved} (flowsync never removes that folder; delete it once nothing needs it) and made ${dir} a link to the new version.`;
  o.log?.warn(message);
  return message;
}

async function prune(dir: string, keep: number, current: string, o: PullOptions): Promise<string[]> {
  const r = await pruneVersions(dir, keep, current);
  for (const p of r.removed) o.log?.info(`removed old version ${p}`);
  for (const h of r.held) o.log?.info(`kept old version ${h.path} beyond --keep ${keep}: held by ${h.by.join(', ')} (a later pull removes it once released)`);
  return [];
}
