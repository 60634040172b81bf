/**
 * One pull at a time per destination. The lock is a small JSON file (holder pid, host, nonce,
 * start) created atomically: written complete under a temporary name, then hard-linked to the
 * lock's name, which fails when a lock already exists — so no reader ever sees a half-written
 * lock. The holder touches the file every few seconds (a heartbeat).
 *
 * A second pull waits (bounded) for the first. A lock whose holder is provably dead (this host,
 * process gone) or whose heartbeat stopped is taken over: renamed aside, checked to be the very
 * lock judged stale (its nonce), then removed. Releasing removes the lock only if it is still ours.
 */
import { randomBytes } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { abortError, FlowsyncError, fsError } from '../errors.js';
import { describeHolder, provablyDead, thisHolder, type Holder } from './holder.js';

export interface LockOptions {
  /** How long to wait for another pull into the same folder (default 10 minutes). */
  waitMs?: number;
  signal?: AbortSignal;
  /** Told once when this pull starts waiting. */
  onWait?: (message: string) => void;
  /** What is locked, for messages (the destination folder). */
  what: string;
}

export interface HeldLock {
  readonly file: string;
  release(): Promise<void>;
}

export const DEFAULT_LOCK_WAIT_MS = 10 * 60_000;
const HEARTBEAT_MS = 10_000;
/** A lock not touched for this long belongs to a holder that stopped (another host, or a frozen one). */
export const STALE_AFTER_MS = 2 * 60_000;
const POLL_MIN_MS = 50;
const POLL_MAX_MS = 500;

interface Found {
  holder: Partial<Holder> | null;
  mtimeMs: number;
}

async function readLock(file: string): Promise<Found | null> {
  try {
    const [text, st] = await Promise.all([fsp.readFile(file, 'utf8'), fsp.stat(file)]);
    let holder: Partial<Holder> | null = null;
    try {
      const parsed = JSON.parse(text) as unknown;
      if (parsed && typeof parsed === 'object') holder = parsed as Partial<Holder>;
    } catch {
      // unreadable content: judged by its age alone
    }
    return { holder, mtimeMs: st.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fsError(err, 'read the lock', file);
  }
}

function isStale(found: Found, now: number): boolean {
  const h = found.holder;
  if (h && typeof h.pid === 'number' && typeof h.host === 'string' && provablyDead({ pid: h.pid, host: h.host })) return true;
  return now - found.mtimeMs > STALE_AFTER_MS;
}

async function tryCreate(file: string, holder: Holder): Promise<boolean> {
  const tmp = `${file}.${holder.pid}-${randomBytes(4).toString('hex')}.tmp`;
  // The folder may have gone meanwhile (the destination was moved or removed by its holder).
  await fsp.mkdir(path.dirname(file), { recursive: true });
  await fsp.writeFile(tmp, JSON.stringify(holder) + '\n');
  try {
    await fsp.link(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await fsp.rm(tmp, { force: true });
  }
}

/** Move a stale lock out of the way, making sure it is the one judged stale and not a new holder's. */
async function takeOver(file: string, stale: Found): Promise<void> {
  const aside = `${file}.stale-${randomBytes(4).toString('hex')}`;
  try {
    await fsp.rename(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // someone else moved it
    throw err;
  }
  const moved = await readLock(aside);
  const same = moved !== null && moved.holder?.nonce === stale.holder?.nonce && moved.mtimeMs === stale.mtimeMs;
  if (same) {
    await fsp.rm(aside, { force: true });
    return;
  }
  // A new holder took it between our look and the rename: put its lock back.
  await fsp.link(aside, file).catch(() => {});
  await fsp.rm(aside, { force: true });
}

export async function acquireLock(file: string, o: LockOptions): Promise<HeldLock> {
  const holder = thisHolder();
  const deadline = Date.now() + (o.waitMs ?? DEFAULT_LOCK_WAIT_MS);
  let told = false;
  let delay = POLL_MIN_MS;
  for (;;) {
    if (o.signal?.aborted) throw abortError(o.signal);
    let created: boolean;
    try {
      created = await tryCreate(file, holder);
    } catch (err) {
      throw fsError(err, 'create the lock', file);
    }
    if (created) return held(file, holder);
    const found = await readLock(file);
    if (found === null) continue; // released meanwhile
    if (isStale(found, Date.now())) {
      await takeOver(file, found).catch((err) => {
        throw fsError(err, 'take over the stale lock', file);
      });
      continue;
    }
    const who = describeHolder(found.holder ?? {});
    if (Date.now() >= deadline) {
      throw new FlowsyncError(
        'CONFLICT',
        `Another pull (${who}) is writing into ${o.what} and did not finish within ${Math.round((o.waitMs ?? DEFAULT_LOCK_WAIT_MS) / 1000)} s. ` +
          `Wait for it and re-run, or stop it (a lock left by a process that died is taken over automatically; its lock file is ${file}).`,
      );
    }
    if (!told) {
      o.onWait?.(`waiting for another pull into ${o.what} (${who}) to finish`);
      told = true;
    }
    await sleep(Math.min(delay, Math.max(0, deadline - Date.now())), o.signal);
    delay = Math.min(POLL_MAX_MS, delay * 2);
  }
}

function held(file: string, holder: Holder): HeldLock {
  const beat = setInterval(() => {
    const now = new Date();
    fs.utimes(file, now, now, () => {});
  }, HEARTBEAT_MS);
  beat.unref();
  let released = false;
  return {
    file,
    async release() {
      if (released) return;
      released = true;
      clearInterval(beat);
      const found = await readLock(file).catch(() => null);
      if (found?.holder?.nonce === holder.nonce) await fsp.rm(file, { force: true });
    },
  };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(signal));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
