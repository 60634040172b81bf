/**
 * Who holds something on this machine: a process id plus the host it runs on. A holder on this
 * host whose process is gone is provably dead; one on another host (a shared file system) cannot
 * be checked, so callers fall back to how long ago it last showed signs of life.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { processAlive } from '../util/process-alive.js';

export interface Holder {
  pid: number;
  host: string;
  /** Distinguishes two holders that reuse one pid (a restarted machine, a pid wrap). */
  nonce: string;
  startedAt: string;
}

export function thisHolder(): Holder {
  return { pid: process.pid, host: os.hostname(), nonce: randomBytes(8).toString('hex'), startedAt: new Date().toISOString() };
}

/** True only when the holder is on this host and its process is gone. */
export function provablyDead(h: Pick<Holder, 'pid' | 'host'>): boolean {
  return h.host === os.hostname() && !processAlive(h.pid);
}

export function describeHolder(h: Partial<Holder>): string {
  const where = h.host && h.host !== os.hostname() ? ` on ${h.host}` : '';
  const since = h.startedAt ? `, started ${h.startedAt}` : '';
  return `pid ${h.pid ?? '?'}${where}${since}`;
}
