/**
 * A file's stat identity: size, mtime, ctime and inode, as git's index keeps them. Equal
 * identities mean the file has not been written since (barring a write in the same clock tick,
 * which the stat cache handles as "racy"). Times are Node's double milliseconds, which keep
 * sub-microsecond precision for current dates.
 */
import type { FileMode } from '../manifest/types.js';

export interface StatIdentity {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
}

export function identityOf(st: StatIdentity): StatIdentity {
  return { size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino };
}

export function sameIdentity(a: StatIdentity, b: StatIdentity): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino;
}

const S_IXUSR = 0o100;

/** Only the owner's exec bit is carried, as git does. */
export function modeOf(st: { mode: number }): FileMode {
  return (st.mode & S_IXUSR) !== 0 ? 0o755 : 0o644;
}
