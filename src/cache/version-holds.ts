/**
 * Holding a version folder, so `pull --switch` never removes a tree a flow run still uses.
 * A version is held while any of these is true:
 * - a hold file exists in `<version>/.flowsync/holds/`, named `<pid>` (a process on this host) or
 *   `<pid>@<host>` (another host sharing the file system), and that process is alive — on this
 *   host checked with kill(pid, 0); a hold from another host counts until it is removed;
 * - (Linux) a process of this user has its working directory inside the version folder, seen in
 *   /proc/<pid>/cwd — a flow run started in the folder holds it without doing anything.
 * From a shell: `touch "$(readlink -f /srv/flows)/.flowsync/holds/$$"` and remove it when done.
 */
import fs, { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fsError } from '../errors.js';
import { processAlive } from '../util/process-alive.js';

export const HOLDS_DIR = path.join('.flowsync', 'holds');

export interface VersionHold {
  /** The version folder held (a real path: resolve files through it, not through the link). */
  readonly path: string;
  release(): Promise<void>;
}

/**
 * Hold the version `dirOrVersion` is (or points to) for as long as this process needs it.
 * Returns the real path of the version folder: read the tree through that path.
 */
export async function holdVersion(dirOrVersion: string): Promise<VersionHold> {
  let real: string;
  try {
    real = await fsp.realpath(dirOrVersion);
  } catch (err) {
    throw fsError(err, 'hold', dirOrVersion);
  }
  const file = path.join(real, HOLDS_DIR, String(process.pid));
  try {
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await fsp.writeFile(file, JSON.stringify({ pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString() }) + '\n');
  } catch (err) {
    throw fsError(err, 'hold', real);
  }
  return {
    path: real,
    release: () => fsp.rm(file, { force: true }),
  };
}

/** Who holds this version folder now (descriptions for messages); empty: nobody. */
export function holdersOf(versionFolder: string, cwds: ReadonlyMap<number, string> = processCwds()): string[] {
  const out: string[] = [];
  const holdsDir = path.join(versionFolder, HOLDS_DIR);
  let names: string[] = [];
  try {
    names = fs.readdirSync(holdsDir);
  } catch {
    // no holds folder: nobody holds it by file
  }
  for (const name of names) {
    const m = /^(\d+)(?:@(.+))?$/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    const host = m[2];
    if (host !== undefined && host !== os.hostname()) out.push(`hold file of pid ${pid} on ${host}`);
    else if (processAlive(pid)) out.push(`pid ${pid} (hold file)`);
    else fs.rmSync(path.join(holdsDir, name), { force: true }); // its process is gone
  }
  const inside = versionFolder + path.sep;
  for (const [pid, cwd] of cwds) {
    if (pid !== process.pid && (cwd === versionFolder || cwd.startsWith(inside))) out.push(`pid ${pid} (working directory)`);
  }
  return out;
}

/** The working directory of every process of this user that /proc shows (Linux; elsewhere none). */
export function processCwds(): Map<number, string> {
  const out = new Map<number, string>();
  if (process.platform !== 'linux') return out;
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc');
  } catch {
    return out;
  }
  for (const name of pids) {
    if (!/^\d+$/.test(name)) continue;
    try {
      out.set(Number(name), fs.readlinkSync(`/proc/${name}/cwd`));
    } catch {
      // another user's process, or gone
    }
  }
  return out;
}
